"""Fit a member's temperature on the holdout and score it on ``val`` against both label sets.

Runs on the exported int8 files through the runtime's own code (``stream.models``), so the
figures are the ones a user gets. It needs the manifest ``evaluate`` writes; ``report`` keeps
what it adds and shows it in the member's card. Writes into the member's ``manifest.json``:
``inference.temperature``, and under ``accuracy`` ``ferplus_val``, ``ferplus_val_unseen`` (val
without the faces whose pixels are also in train), ``fer2013_val`` and ``ece`` (before and after
the temperature, on val, against the FER+ majority).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from stream.models import MANIFEST
from train.config import TrainConfig
from train.data import DataError, FaceSet
from train.fit import load_splits
from train.member import crop_probs
from train.scores import fit_temperature, tempered, val_scores
from train.votes import Votes, load_votes, majority, read_file_list

log = logging.getLogger(__name__)


def scores(
    crops: list[np.ndarray], temperature: float, val: FaceSet, unseen: np.ndarray
) -> dict[str, Any]:
    """Val figures at ``temperature``; the FER+ ones where the votes are known."""
    crowd = None if val.votes is None else majority(val.votes)
    figures = val_scores(tempered(crops, temperature), val.labels, crowd, unseen)
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}


def _votes(cfg: TrainConfig) -> dict[str, Votes] | None:
    """The FER+ votes for these folders, or None (logged) where the file does not cover them."""
    folders = {"train": Path(cfg.data.train), "val": Path(cfg.data.val)}
    try:
        return load_votes(cfg.data.votes, folders)
    except DataError as exc:
        if cfg.data.labels == "ferplus":
            raise
        log.warning("no FER+ figures: %s", exc)
        return None


def calibrate_member(cfg: TrainConfig, model_dir: str | Path) -> dict[str, Any]:
    """Fit the temperature against the labels the member learnt from (the FER+ majority, or
    the folder labels); score val against both label sets where the votes are known."""
    model_dir = Path(model_dir)
    splits = load_splits(cfg)
    if splits.val is None:
        raise DataError("calibration needs [data] val")
    train_dir, val_dir = Path(cfg.data.train), Path(cfg.data.val)
    votes = _votes(cfg)
    val = splits.val
    holdout_target = splits.holdout.labels
    unseen = np.ones(len(val), bool)
    if votes is not None:
        if cfg.data.labels == "ferplus":
            holdout_target = majority(votes["train"].for_files(splits.holdout.names(train_dir)))
        if val.votes is None:
            val.votes = votes["val"].for_files(val.names(val_dir))
        seen = read_file_list(cfg.data.val_duplicates)
        unseen = np.asarray([name not in seen for name in val.names(val_dir)])

    temperature = fit_temperature(crop_probs(model_dir, splits.holdout.images), holdout_target)
    val_crops = crop_probs(model_dir, val.images)
    before, after = scores(val_crops, 1.0, val, unseen), scores(val_crops, temperature, val, unseen)
    log.info(
        "temperature %.3f: ECE on val %.4f -> %.4f; %s",
        temperature,
        before["ece"],
        after["ece"],
        ", ".join(f"{k} {v}" for k, v in after.items() if k != "ece"),
    )
    path = model_dir / MANIFEST
    manifest = json.loads(path.read_text())
    manifest["inference"]["temperature"] = temperature
    manifest["inference"]["temperature_text"] = (
        "each crop's probabilities are raised to 1/temperature and renormalised (softmax of the "
        "logits / temperature), fitted on the holdout split of train against the labels the "
        "member learnt from"
    )
    manifest["accuracy"].update(
        {key: after[key] for key in after if key != "ece"}
        | {
            "ece": {
                "bins": 15,
                "against": "ferplus" if votes else "fer2013",
                "before": before["ece"],
                "after": after["ece"],
            }
        }
    )
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return {"temperature": temperature, "before": before, "after": after}
