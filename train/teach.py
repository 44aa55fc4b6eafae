"""``python -m train teach``: a finished run's probabilities for every training face, as a CSV.

The file is what ``[distill] teacher = "….csv"`` reads (:mod:`train.teacher`), in the format of
``../shared/datasets/fer2013/teacher.csv``: so a teacher trained once on a lent GPU teaches every
member afterwards on a CPU, and the project's teacher can be made again and improved. Each face's
probabilities are the float model's, averaged over the face and its mirror image.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import keras
import numpy as np

from train.config import TrainConfig
from train.data import load_faces
from train.fit import RunDir, float_probs
from train.labels import LABELS

log = logging.getLogger(__name__)

DECIMALS = 4


def write_teacher_csv(cfg: TrainConfig, run_dir: str | Path, out: str | Path) -> Path:
    """Every face in ``cfg.data.train``, through the run's final encoder and head, into ``out``."""
    run = RunDir(run_dir)
    if not run.model("encoder").exists():
        raise FileNotFoundError(f"{run.root} holds no finished run: fit it first")
    encoder = keras.models.load_model(run.model("encoder"))
    head = keras.models.load_model(run.model("head"))
    faces = load_faces(cfg.data.train, cfg.data.image_size, cfg.data.skip_bad)
    probs = np.concatenate(
        [
            float_probs(encoder, head, faces.images[i : i + 1024], flip=True)
            for i in range(0, len(faces), 1024)
        ]
    )
    probs = probs / probs.sum(axis=1, keepdims=True)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", *LABELS])
        for name, row in zip(faces.names(cfg.data.train), probs, strict=True):
            writer.writerow([name, *(f"{p:.{DECIMALS}f}" for p in row)])
    log.info("wrote %d faces' teacher probabilities to %s", len(faces), out)
    return out
