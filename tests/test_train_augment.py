"""Random erasing: one noise rectangle per chosen face, and a reconstruction target left whole."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("keras")

import keras

from train.augment import erase_batch
from train.config import AugmentConfig, FinetuneConfig, TrainConfig
from train.data import FaceSet
from train.fit import FaceBatches


def _erased(probability: float, max_area: float = 0.25, n: int = 400) -> np.ndarray:
    """Which pixels of ``n`` black faces were erased (noise is almost surely non-zero)."""
    seed = keras.random.SeedGenerator(7)
    faces = np.zeros([n, 48, 48, 1], np.float32)
    erased = erase_batch(seed, faces, probability, max_area)
    return keras.ops.convert_to_numpy(erased)[..., 0] != 0


def test_erasing_covers_one_rectangle_within_the_area_bounds() -> None:
    erased = _erased(1.0)
    for mask in erased:
        rows, cols = np.nonzero(mask)
        box = mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        assert box.all(), "the erased pixels form one solid rectangle"
        assert 0.01 <= mask.mean() <= 0.25 + 0.05


def test_erasing_probability_decides_how_many_faces_change() -> None:
    assert not _erased(0.0).any()
    share = _erased(0.5).any(axis=(1, 2)).mean()
    assert 0.4 < share < 0.6


def test_joint_batches_erase_the_input_but_not_the_reconstruction_target() -> None:
    no_augment = AugmentConfig(
        flip=False, shift=0.0, rotation_deg=0.0, zoom=0.0, brightness=0.0, contrast=0.0
    )
    cfg = TrainConfig(
        augment=no_augment,
        finetune=dataclasses.replace(FinetuneConfig(), erase_probability=1.0),
    )
    rng = np.random.default_rng(0)
    faces = FaceSet(rng.integers(0, 256, (16, 48, 48), dtype=np.uint8), np.arange(16) % 7)

    shown, targets, _ = FaceBatches(faces, cfg, 16, "joint")[0]

    whole = faces.images.astype(np.float32) / 255.0
    targets = keras.ops.convert_to_numpy(targets["reconstruction"])[..., 0]
    for face, target in zip(keras.ops.convert_to_numpy(shown)[..., 0], targets, strict=True):
        assert np.abs(whole - target).max(axis=(1, 2)).min() < 1e-6, "target is a whole face"
        assert (face != target).any(), "the input is erased"


def test_camera_degradations_change_the_face_only_where_asked() -> None:
    from train.augment import degrade_batch

    rng = np.random.default_rng(1)
    faces = rng.random((64, 48, 48, 1), dtype=np.float32)
    off = AugmentConfig()
    np.testing.assert_array_equal(degrade_batch(np.random.default_rng(0), faces, off), faces)
    for setting in ({"gamma": 0.5}, {"low_res": 1.0}, {"noise": 0.1}, {"jpeg": 1.0}):
        cfg = dataclasses.replace(off, **setting)
        out = degrade_batch(np.random.default_rng(0), faces, cfg)
        assert out.shape == faces.shape and out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 1.0
        assert np.abs(out - faces).mean() > 0.005, setting
    blurred = degrade_batch(np.random.default_rng(0), faces, dataclasses.replace(off, low_res=1.0))
    detail = lambda x: np.abs(np.diff(x, axis=2)).mean()  # noqa: E731
    assert detail(blurred) < 0.6 * detail(faces)  # a low resolution loses fine detail


def test_joint_batches_degrade_the_input_but_not_the_reconstruction_target() -> None:
    cfg = TrainConfig(
        augment=AugmentConfig(
            flip=False, shift=0.0, rotation_deg=0.0, zoom=0.0, brightness=0.0, contrast=0.0,
            noise=0.2,
        )
    )  # fmt: skip
    rng = np.random.default_rng(0)
    faces = FaceSet(rng.integers(0, 256, (16, 48, 48), dtype=np.uint8), np.arange(16) % 7)
    shown, targets, _ = FaceBatches(faces, cfg, 16, "joint")[0]
    target = keras.ops.convert_to_numpy(targets["reconstruction"])
    whole = np.sort(faces.images.astype(np.float32) / 255.0, axis=0)
    assert np.allclose(np.sort(target[..., 0], axis=0), whole, atol=1e-6)  # plain faces
    assert np.abs(keras.ops.convert_to_numpy(shown) - target).mean() > 0.01  # noisy input
