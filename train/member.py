"""A shipped member's int8 probabilities, through the runtime's own code (``stream.models``).

Calibration scores a member exactly as a user's pipeline would run it; distillation asks a
shipped member (``[distill] teacher = "models/<name>"``) for its view of every training face.
A member in ``models/`` is committed, so it survives the machine that trained it, where a run
folder under ``~/emostream-runs`` may not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stream.models import MANIFEST, Manifest, load_models
from train.scores import tempered


def is_member(folder: Path) -> bool:
    return (folder / MANIFEST).is_file()


def crop_probs(
    model_dir: Path, faces: np.ndarray, flip: bool | None = None, batch: int = 256
) -> list[np.ndarray]:
    """The int8 head's probabilities at temperature 1 for each crop: the face, and its mirror
    where ``flip`` (by default, where the member itself averages it)."""
    models = load_models(model_dir)
    models.head.temperature = 1.0
    flip = models.manifest.flip_average if flip is None else flip
    views = [faces, faces[:, :, ::-1]] if flip else [faces]
    out = []
    for view in views:
        parts = [
            models.head.probs(models.encoder.encode(np.ascontiguousarray(view[i : i + batch])))
            for i in range(0, len(view), batch)
        ]
        out.append(np.concatenate(parts))
    return out


def teacher_probs(model_dir: Path, faces: np.ndarray) -> np.ndarray:
    """What a member teaches: face and mirror averaged whatever its own runtime setting (a
    teacher runs once, offline, so the better view is worth its cost), at its fitted
    temperature, so the targets carry calibrated rather than over-confident shares."""
    temperature = Manifest.load(model_dir).temperature
    return tempered(crop_probs(model_dir, faces, flip=True), temperature).astype(np.float32)
