"""How good and how honest a member's probabilities are: FER+ majority accuracy, calibration.

Accuracy is reported against both label sets: FER2013's folder labels (one annotator) and the
FER+ crowd's majority (see :func:`train.votes.majority`), on all of ``val`` and on the ``val``
faces whose pixels never occur in ``train``. The expected calibration error bins faces by their
top probability (15 equal-width bins) and averages the gap between confidence and accuracy,
weighted by each bin's share: 0.03 means the stated confidence is off by 3 points on average.

The temperature is fitted on the holdout split of ``train`` exactly as the runtime applies it
(each crop's probabilities raised to 1/T and renormalised, then the mirror average), by
minimising the negative log-likelihood of the majority label.
"""

from __future__ import annotations

import numpy as np

from stream.accuracy import balanced_accuracy

ECE_BINS = 15
OBJECTIVE = (
    "the mean of plain accuracy and balanced accuracy (mean recall over the classes present)"
)
"""What every choice made on the holdout maximises, in words for the model card."""


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float | None:
    """Share of faces with a label (>= 0) whose top probability is that label."""
    scored = labels >= 0
    if not scored.any():
        return None
    return float(np.mean(probs[scored].argmax(axis=1) == labels[scored]))


def holdout_objective(probs: np.ndarray, labels: np.ndarray) -> float:
    """The one figure every choice made on the holdout maximises: :data:`OBJECTIVE`.

    Plain accuracy alone rewards calling mild faces neutral, a third of FER+, and picked
    checkpoints and class weights that left anger unseen on posed faces; balanced accuracy
    alone would trade any amount of the common classes for a rare one. Their mean counts both.
    Faces without a label (-1) are not scored.
    """
    scored = labels >= 0
    classes = probs.shape[1]
    confusion = np.zeros((classes, classes), np.int64)
    np.add.at(confusion, (labels[scored], probs[scored].argmax(axis=1)), 1)
    return objective_of(confusion)


def objective_of(confusion: np.ndarray) -> float:
    """:data:`OBJECTIVE` from a confusion matrix (rows true, columns predicted)."""
    total = int(confusion.sum())
    if not total:
        return 0.0
    return (float(np.trace(confusion)) / total + balanced_accuracy(confusion)) / 2


def expected_calibration_error(
    probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> float:
    scored = labels >= 0
    probs, labels = probs[scored], labels[scored]
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            error += members.mean() * abs(confidence[members].mean() - correct[members].mean())
    return float(error)


def val_scores(
    probs: np.ndarray, folder_labels: np.ndarray, crowd: np.ndarray | None, unseen: np.ndarray
) -> dict[str, float | None]:
    """Val against both label sets: FER2013's folder labels and, where the votes are known
    (``crowd``, -1 where a face has no majority), the FER+ majority on all faces and on the
    ``unseen`` ones; the calibration error is against the crowd where known."""
    out: dict[str, float | None] = {"fer2013_val": accuracy(probs, folder_labels)}
    if crowd is None:
        return out | {"ece": expected_calibration_error(probs, folder_labels)}
    return out | {
        "ferplus_val": accuracy(probs, crowd),
        "ferplus_val_unseen": accuracy(probs, np.where(unseen, crowd, -1)),
        "ferplus_val_faces": int((crowd >= 0).sum()),
        "ferplus_val_unseen_faces": int(((crowd >= 0) & unseen).sum()),
        "ece": expected_calibration_error(probs, crowd),
    }


def tempered(crop_probs: list[np.ndarray], temperature: float) -> np.ndarray:
    """The runtime's probabilities at ``temperature``: per crop, then averaged over the crops."""
    out = []
    for probs in crop_probs:
        scaled = np.maximum(probs, 1e-6) ** (1.0 / temperature)
        out.append(scaled / scaled.sum(axis=1, keepdims=True))
    return np.mean(out, axis=0)


def fit_temperature(crop_probs: list[np.ndarray], labels: np.ndarray) -> float:
    """The T in [0.25, 8] with the lowest NLL of ``labels`` (>= 0), by golden-section search."""
    scored = labels >= 0
    crops = [p[scored] for p in crop_probs]
    target = labels[scored]

    def nll(log_t: float) -> float:
        probs = tempered(crops, float(np.exp(log_t)))
        return float(-np.mean(np.log(np.maximum(probs[np.arange(len(target)), target], 1e-9))))

    low, high = np.log(0.25), np.log(8.0)
    ratio = (np.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = nll(a), nll(b)
    for _ in range(60):
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = nll(a)
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = nll(b)
    return round(float(np.exp((low + high) / 2)), 4)
