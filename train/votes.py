"""FER+ crowd votes: ten taggers per FER2013 face, read from ``ferplus.csv``.

FER2013's folder labels come from one annotator per face and disagree with the crowd's majority on
about a third of ``val``. The votes give a distribution per face, which is both a better training
target (the FER+ paper's "probability" scheme) and a better yardstick (majority accuracy).

The file's columns are ``split, file`` and the ten vote counts in :data:`VOTE_COLUMNS` order;
``file`` is relative to the split's folder (``angry/Training_10118481.jpg``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from train.data import DataError
from train.labels import LABELS

VOTE_COLUMNS: tuple[str, ...] = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
    "unknown",
    "NF",
)
SPLITS: tuple[str, ...] = ("train", "val")
FER_PLUS_TO_LABEL: dict[str, str] = {
    "neutral": "neutral",
    "happiness": "happy",
    "surprise": "surprise",
    "sadness": "sad",
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
}
"""FER+'s names for our seven classes; contempt, unknown and NF have no class of ours."""
SEVEN = np.asarray([VOTE_COLUMNS.index(n) for n in FER_PLUS_TO_LABEL], np.int64)
SEVEN_ORDER = np.asarray([LABELS.index(FER_PLUS_TO_LABEL[n]) for n in FER_PLUS_TO_LABEL], np.int64)
UNUSABLE = np.asarray([VOTE_COLUMNS.index("unknown"), VOTE_COLUMNS.index("NF")], np.int64)


@dataclass(frozen=True)
class Votes:
    """Vote counts (N, 10) in :data:`VOTE_COLUMNS` order for the files of one split."""

    files: tuple[str, ...]
    counts: np.ndarray

    def for_files(self, files: list[str]) -> np.ndarray:
        """Counts in the order of ``files``; a face without votes gets zeros (left out later)."""
        row = {name: i for i, name in enumerate(self.files)}
        out = np.zeros((len(files), len(VOTE_COLUMNS)), np.int64)
        for i, name in enumerate(files):
            if name in row:
                out[i] = self.counts[row[name]]
        return out


def load_votes(path: str | Path, folders: dict[str, Path]) -> dict[str, Votes]:
    """Votes per split; every row's file must exist in that split's folder.

    ``folders`` maps the splits in use (``train``, ``val``) to their image folders; rows of a known
    split without a folder here are read but not checked. Errors name the file and the line.
    """
    path = Path(path)
    try:
        handle = path.open(newline="")
    except OSError as exc:
        raise DataError(f"cannot read votes file {path}: {exc.strerror}") from exc
    files: dict[str, list[str]] = {split: [] for split in SPLITS}
    counts: dict[str, list[list[int]]] = {split: [] for split in SPLITS}
    header = ["split", "file", *VOTE_COLUMNS]
    with handle:
        reader = csv.reader(handle)
        first = next(reader, None)
        if first != header:
            raise DataError(f"{path}:1: header must be {','.join(header)}")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if len(row) != len(header):
                raise DataError(f"{where}: {len(row)} columns, expected {len(header)}")
            split, name, *values = row
            if split not in files:
                raise DataError(f"{where}: unknown split {split!r} (expected train or val)")
            try:
                votes = [int(v) for v in values]
            except ValueError:
                raise DataError(f"{where}: vote counts must be whole numbers") from None
            if min(votes) < 0:
                raise DataError(f"{where}: vote counts must not be negative")
            folder = folders.get(split)
            if folder is not None and not (folder / name).is_file():
                raise DataError(f"{where}: {name} is not in {folder}")
            files[split].append(name)
            counts[split].append(votes)
    if not any(files.values()):
        raise DataError(f"{path} has no vote rows")
    return {
        split: Votes(tuple(files[split]), np.asarray(counts[split], np.int64).reshape(-1, 10))
        for split in SPLITS
    }


def usable(counts: np.ndarray) -> np.ndarray:
    """Faces fit to learn from: some vote among the seven, and neither NF nor unknown on top.

    A tie between NF or unknown and one of the seven counts as NF or unknown on top: such a face
    is as likely not a usable face as it is that expression.
    """
    seven = counts[:, SEVEN]
    return (seven.sum(axis=1) > 0) & (counts[:, UNUSABLE].max(axis=1) < seven.max(axis=1))


def distributions(counts: np.ndarray) -> np.ndarray:
    """Vote shares over the seven classes in :data:`LABELS` order (contempt, unknown, NF dropped).

    Rows without a vote among the seven are all zeros; :func:`usable` leaves them out.
    """
    seven = np.zeros((len(counts), len(LABELS)), np.float32)
    seven[:, SEVEN_ORDER] = counts[:, SEVEN]
    total = seven.sum(axis=1, keepdims=True)
    return np.divide(seven, total, out=np.zeros_like(seven), where=total > 0)


def majority(counts: np.ndarray) -> np.ndarray:
    """The FER+ majority label (index into :data:`LABELS`), or -1 where there is none.

    A face has one when its largest vote over all ten columns is unique and is one of the seven:
    the faces the published FER+ majority figures are scored on, restricted to our classes.
    """
    top = counts.max(axis=1, keepdims=True)
    unique = (counts == top).sum(axis=1) == 1
    column = counts.argmax(axis=1)
    label = np.full(len(counts), -1, np.int64)
    in_seven = np.isin(column, SEVEN) & unique & (top[:, 0] > 0)
    lookup = dict(zip(SEVEN.tolist(), SEVEN_ORDER.tolist(), strict=True))
    label[in_seven] = [lookup[c] for c in column[in_seven]]
    return label


def read_file_list(path: str | Path) -> set[str]:
    """Names in a one-file-per-line list such as ``val-in-train.txt``; blank lines are ignored."""
    path = Path(path)
    try:
        return {line.strip() for line in path.read_text().splitlines() if line.strip()}
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from exc
