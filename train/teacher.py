"""A teacher's probabilities read from a CSV file, for distilling (``[distill] teacher = "….csv"``).

A strong teacher trained on a GPU (``../shared/datasets/fer2013/teacher.csv``, or one the project
makes itself) hands its view of every training face to a small member as a file, so the member
can learn from it on a CPU with no teacher network in memory. Columns: ``file`` (relative to the
training folder, as in ``ferplus.csv``) and the seven classes in :data:`~train.labels.LABELS`
order; each row sums to 1. Every error names the file and the line.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from train.data import DataError
from train.labels import LABELS

SUM_TOLERANCE = 1e-3
"""How far a row may sum from 1: four printed decimals over seven classes drift by up to 4e-4."""


@dataclass(frozen=True)
class TeacherProbs:
    """Probabilities (N, 7) in :data:`LABELS` order, one row per file of the training folder."""

    path: Path
    files: tuple[str, ...]
    probs: np.ndarray

    def for_files(self, files: list[str]) -> np.ndarray:
        """Rows in the order of ``files``; a file the teacher has no row for is an error."""
        row = {name: i for i, name in enumerate(self.files)}
        missing = [name for name in files if name not in row]
        if missing:
            raise DataError(
                f"{self.path} has no row for {missing[0]}"
                + (
                    f" (nor for {len(missing) - 1} other training faces)"
                    if len(missing) > 1
                    else ""
                )
            )
        return self.probs[[row[name] for name in files]]


def is_teacher_csv(teacher: str) -> bool:
    return teacher.lower().endswith(".csv")


def load_teacher_csv(path: str | Path, folder: Path) -> TeacherProbs:
    """Read and check ``path``; every row's file must be in ``folder`` (the training faces)."""
    path = Path(path)
    try:
        handle = path.open(newline="")
    except OSError as exc:
        raise DataError(f"cannot read teacher file {path}: {exc.strerror}") from None
    header = ["file", *LABELS]
    files: list[str] = []
    rows: list[list[float]] = []
    seen: set[str] = set()
    with handle:
        reader = csv.reader(handle)
        if next(reader, None) != header:
            raise DataError(f"{path}:1: header must be {','.join(header)}")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if len(row) != len(header):
                raise DataError(f"{where}: {len(row)} columns, expected {len(header)}")
            name, *values = row
            try:
                probs = [float(v) for v in values]
            except ValueError:
                raise DataError(f"{where}: probabilities must be numbers") from None
            if not all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in probs):
                raise DataError(f"{where}: probabilities must be between 0 and 1")
            if abs(sum(probs) - 1.0) > SUM_TOLERANCE:
                raise DataError(f"{where}: the probabilities sum to {sum(probs):.4f}, not 1")
            if name in seen:
                raise DataError(f"{where}: a second row for {name}")
            if not (folder / name).is_file():
                raise DataError(f"{where}: {name} is not in {folder}")
            seen.add(name)
            files.append(name)
            rows.append(probs)
    if not rows:
        raise DataError(f"{path} has no rows")
    probs_array = np.asarray(rows, np.float32)
    return TeacherProbs(path, tuple(files), probs_array / probs_array.sum(axis=1, keepdims=True))
