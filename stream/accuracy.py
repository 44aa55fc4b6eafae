"""Accuracy that counts every expression: each class's recall, and their mean.

Kept apart from :mod:`stream.evaluate` (which runs the models) so that training, on a machine with
no LiteRT or MediaPipe, scores its choices by the same definitions as the runtime's reports.
"""

from __future__ import annotations

import numpy as np


def class_recall(confusion: np.ndarray) -> list[float | None]:
    """Each true class's recall (rows true, columns predicted); None for a class with no faces."""
    totals = confusion.sum(axis=1)
    return [float(confusion[i, i] / totals[i]) if totals[i] else None for i in range(len(totals))]


def balanced_accuracy(confusion: np.ndarray) -> float:
    """The mean recall over the classes that have faces.

    Plain accuracy rewards calling every mild face neutral, the commonest class of FER+; the
    mean recall counts each expression once, so a member blind to anger cannot hide. A class
    absent from the set (CK+ has no neutral) is left out rather than scored 0.
    """
    present = [r for r in class_recall(confusion) if r is not None]
    return float(np.mean(present)) if present else 0.0
