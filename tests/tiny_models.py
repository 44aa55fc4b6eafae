"""Train and export a tiny model set from astronaut faces, for tests that need models of their own.

The faces are jittered crops of scikit-image's astronaut photo, so the detector finds them (the
crop calibration and the detection-path evaluation need real faces) and no data set is needed.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import skimage.data

from train.labels import LABELS

TINY_CONFIG = """
seed = 7
precision = "mixed_bfloat16"
[data]
train = "{root}/train"
val = "{root}/val"
holdout_fraction = 0.2
[model]
filters = [4, 8]
convs_per_block = [1, 1]
code_size = 8
head_units = 8
decoder_filters = [8, 4]
[pretrain]
epochs = 1
batch_size = 16
[head]
epochs = 1
batch_size = 16
[finetune]
epochs = 1
batch_size = 16
erase_probability = 0.5
self_distill = 0.5
warmup_epochs = 0
[export]
calibration_samples = 16
"""


def astronaut_faces(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    gray = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2GRAY)
    faces = []
    for _ in range(n):
        dx, dy = rng.integers(-6, 7, 2)
        side = int(rng.integers(118, 134))
        crop = gray[40 + dy : 40 + dy + side, 160 + dx : 160 + dx + side]
        face = cv2.resize(crop, (48, 48), interpolation=cv2.INTER_AREA).astype(np.float32)
        faces.append(np.clip(face * rng.uniform(0.8, 1.2), 0, 255).astype(np.uint8))
    return faces


def write_tiny_dataset(root: Path) -> Path:
    """``root/train`` and ``root/val`` folder layouts and ``root/tiny.toml``; returns the config."""
    rng = np.random.default_rng(0)
    for split, per_label in (("train", 10), ("val", 3)):
        for label in LABELS:
            folder = root / split / label
            folder.mkdir(parents=True)
            for i, face in enumerate(astronaut_faces(per_label, rng)):
                cv2.imwrite(str(folder / f"{i}.png"), face)
    config = root / "tiny.toml"
    config.write_text(TINY_CONFIG.format(root=root))
    return config


def build_tiny_models(root: Path) -> Path:
    """Run ``python -m train all`` on the tiny data set; returns the model folder."""
    from train.__main__ import main as train_main

    config = write_tiny_dataset(root)
    argv = ["all", "--config", str(config), "--run-dir", str(root / "run"), "--out"]
    if train_main([*argv, str(root / "models")]) != 0:
        raise RuntimeError("tiny training run failed")
    return root / "models"
