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
