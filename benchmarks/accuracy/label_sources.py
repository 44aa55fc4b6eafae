"""Benchmark: what each source of training targets teaches, on one member's frozen int8 codes.

The crowd's FER+ vote shares, the GPU teacher's probabilities (``teacher.csv``) and FER2013's
own folder labels disagree most on mild and posed anger, fear and sadness, which the crowd
calls neutral. Retraining a member per source takes an hour each on two cores; a linear softmax
head on the member's fixed codes takes seconds, so this fits one per blend of the three and
scores it where the choice is made (the holdout objective, ``train.scores.OBJECTIVE``, against
the crowd's labels on the tenth of ``train`` the member's own training held out, so its encoder
never saw those faces) and where it is reported (FER+ val by the
crowd majority, and the posed CK+ faces). Every head has class weights (inverse frequency)^0.5.
The codes were learnt from the member's own targets, so this shows the direction a source
pulls in, not what a member retrained on it would reach.

``python -m benchmarks.accuracy.label_sources [--member nano]``
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from benchmarks.common import standalone
from benchmarks.common.context import FAMILY
from benchmarks.common.report import Table
from stream.accuracy import balanced_accuracy, class_recall
from stream.evaluate import load_labelled_images, read_image, to_face
from stream.models import Models, load_models
from train.data import class_weights, load_folder, stratified_split
from train.labels import LABEL_INDEX, LABELS
from train.scores import objective_of
from train.teacher import load_teacher_csv
from train.votes import distributions, load_votes, majority, usable

log = logging.getLogger(__name__)

NAME = "label-sources"
TITLE = "What each source of training targets teaches: linear heads on a member's int8 codes"
SOURCES = (
    # name, then the shares of vote shares, teacher probabilities and folder labels
    ("crowd votes", 1.0, 0.0, 0.0),
    ("votes + teacher, half each", 0.5, 0.5, 0.0),
    ("… with 0.25 folder labels", 0.375, 0.375, 0.25),
    ("… with 0.5 folder labels", 0.25, 0.25, 0.5),
    ("… with 0.75 folder labels", 0.125, 0.125, 0.75),
    ("folder labels", 0.0, 0.0, 1.0),
)
CLASS_WEIGHT_POWER = 0.5
L2 = 1e-3
HOLDOUT = 0.1
"""Every FER+ config's ``[data] holdout_fraction``."""
WATCHED = ("angry", "disgust", "fear", "sad")


def _codes(models: Models, faces: np.ndarray) -> np.ndarray:
    """float codes, averaged with the mirror image's where the member averages its probabilities."""
    out = []
    for i in range(0, len(faces), 256):
        batch = faces[i : i + 256]
        codes = models.encoder.encode(batch).astype(np.float32)
        if models.manifest.flip_average:
            codes = (codes + models.encoder.encode(batch[:, :, ::-1]).astype(np.float32)) / 2
        out.append(codes)
    return np.concatenate(out)


def _training_holdout(
    counts: np.ndarray, folder: np.ndarray, learnt_from: str, fraction: float, seed: int
) -> np.ndarray:
    """Which train faces the member's training held out, split as ``train.fit.load_splits`` does.

    A member that learnt from the FER+ votes kept the faces with a usable vote, labelled each by
    its largest vote share and held out a stratified ``fraction`` of those; one that learnt from
    the folder labels (``base``) split all of train by them. The same call with the manifest's
    seed finds the same faces.
    """
    if learnt_from == "ferplus":
        rows = np.flatnonzero(usable(counts))
        labels = distributions(counts[rows]).argmax(axis=1)
    else:
        rows, labels = np.arange(len(folder)), folder
    _, held = stratified_split(labels, fraction, seed)
    mask = np.zeros(len(counts), bool)
    mask[rows[held]] = True
    return mask


def _fit(codes: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Softmax regression on soft targets (weights (d + 1, 7), bias last), L-BFGS."""
    top = targets.argmax(axis=1)
    weight = class_weights(top, CLASS_WEIGHT_POWER)[top][:, None]
    dims = codes.shape[1]

    def loss(flat: np.ndarray) -> tuple[float, np.ndarray]:
        w = flat.reshape(dims, len(LABELS))
        logits = codes @ w
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        value = -(weight * targets * np.log(probs + 1e-9)).sum() / len(codes)
        grad = codes.T @ (weight * (probs - targets)) / len(codes)
        value += L2 * float((w[:-1] ** 2).sum())
        grad[:-1] += 2 * L2 * w[:-1]
        return value, grad.ravel()

    start = np.zeros(dims * len(LABELS))
    found = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 300})
    return found.x.reshape(dims, len(LABELS))


def _confusion(w: np.ndarray, codes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    scored = labels >= 0
    confusion = np.zeros((len(LABELS), len(LABELS)), np.int64)
    np.add.at(confusion, (labels[scored], (codes[scored] @ w).argmax(axis=1)), 1)
    return confusion


def _both(confusion: np.ndarray) -> str:
    """Plain and balanced accuracy, as the table shows them."""
    plain = np.trace(confusion) / confusion.sum()
    return f"{100 * plain:.1f} % / {balanced_accuracy(confusion):.3f}"


def _fraction(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def measure(shared: Path, member: str) -> tuple[list[Table], list[str]]:
    fer = shared / "datasets" / "fer2013"
    ckplus = shared / "datasets" / "ckplus"
    needed = [fer / "train", fer / "val", fer / "ferplus.csv", fer / "teacher.csv", ckplus]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        return [], [f"Skipped: {', '.join(missing)} missing."]
    models = load_models(FAMILY / member, threads=2)
    train, val = load_folder(fer / "train"), load_folder(fer / "val")
    names = train.names(fer / "train")
    votes = load_votes(fer / "ferplus.csv", {"train": fer / "train", "val": fer / "val"})
    counts = votes["train"].for_files(names)
    keep = usable(counts)
    sources = {
        "votes": distributions(counts),
        "teacher": load_teacher_csv(fer / "teacher.csv", fer / "train").for_files(names),
        "folder": np.eye(len(LABELS), dtype=np.float32)[train.labels],
    }
    crowd = majority(counts)
    training = json.loads((FAMILY / member / "manifest.json").read_text())["training"]
    learnt_from = training.get("labels", "ferplus")
    held = _training_holdout(counts, train.labels, learnt_from, HOLDOUT, training["seed"])
    ck_paths, ck_labels = load_labelled_images(ckplus, LABELS)
    ck_faces = np.stack(
        [to_face(read_image(path), models.manifest.input_size) for path in ck_paths]
    )
    log.info("encoding %d train, %d val and %d CK+ faces", len(train), len(val), len(ck_faces))
    raw = {
        "train": _codes(models, train.images),
        "val": _codes(models, val.images),
        "ck": _codes(models, ck_faces),
    }
    mean, std = raw["train"].mean(axis=0), raw["train"].std(axis=0) + 1e-6
    codes = {
        part: np.hstack([(values - mean) / std, np.ones((len(values), 1), np.float32)])
        for part, values in raw.items()
    }
    val_crowd = majority(votes["val"].for_files(val.names(fer / "val")))
    table = Table(
        f"`{member}`'s codes; accuracy / balanced accuracy, and CK+ recall of the classes the "
        "crowd calls neutral most",
        ["targets", "holdout objective", "holdout", "FER+ val", "CK+",
         *(f"CK+ {name}" for name in WATCHED)],
    )  # fmt: skip
    fit_rows = keep & ~held
    for name, v, t, f in SOURCES:
        targets = v * sources["votes"] + t * sources["teacher"] + f * sources["folder"]
        w = _fit(codes["train"][fit_rows], targets[fit_rows])
        holdout = _confusion(w, codes["train"][held], np.where(keep[held], crowd[held], -1))
        on_val = _confusion(w, codes["val"], val_crowd)
        on_ck = _confusion(w, codes["ck"], ck_labels)
        recall = class_recall(on_ck)

        table.add(
            name, f"{objective_of(holdout):.3f}", _both(holdout), _both(on_val), _both(on_ck),
            *(_fraction(recall[LABEL_INDEX[c]]) for c in WATCHED),
        )  # fmt: skip
    notes = [
        f"{int(fit_rows.sum())} training faces with a usable FER+ vote fit each head; the "
        f"holdout is {int((keep & held).sum())} of them with a crowd majority, scored by "
        "`train.scores.objective_of` as every training choice is. FER+ val: the crowd majority "
        "on val; CK+: 927 posed faces, no neutral class. The holdout is the one the member's "
        "training held out (same seed and split), so its encoder never saw those faces.",
        "Shares are of each target: `… with 0.25 folder labels` is 0.375 vote shares, 0.375 "
        "teacher and 0.25 folder label, as `[data] folder_weights` blends them after the "
        "teacher.",
    ]
    return [table], notes


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--member", default="nano", help="model folder under models/")


def main(argv: list[str] | None = None) -> int:
    return standalone.main(
        "benchmarks.accuracy.label_sources", NAME, TITLE, measure, argv, _options
    )


if __name__ == "__main__":
    raise SystemExit(main())
