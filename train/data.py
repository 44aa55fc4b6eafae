"""Load labelled faces from the two common FER layouts into uint8 arrays.

Both loaders return the same :class:`FaceSet`, so everything downstream is layout-blind. Faces are
grayscale ``size``×``size``; other sizes or colour images are converted, which keeps the loaders
usable on FER-like data sets other than FER2013. Bad input raises :class:`DataError` naming the
file, unless ``skip_bad`` is set, in which case the bad item is skipped and counted.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from train.labels import LABEL_INDEX, LABELS

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
CSV_COLUMNS = ("emotion", "pixels")


class DataError(ValueError):
    """Input data that cannot be used; the message names the file."""


@dataclass
class FaceSet:
    """Faces (N, size, size) uint8 with integer labels in :data:`LABELS` order.

    ``targets`` (N, 7), when set, are the distributions training fits instead of one-hot labels
    (FER+ vote shares; ``labels`` is then their argmax); ``votes`` (N, 10) keeps the raw FER+
    counts for reporting majority accuracy next to the folder labels.
    """

    images: np.ndarray
    labels: np.ndarray
    skipped: int = 0
    sources: list[str] = field(default_factory=list)
    targets: np.ndarray | None = None
    votes: np.ndarray | None = None
    folder: np.ndarray | None = None
    """Where ``labels`` come from the votes: each face's folder label, which
    ``[data] folder_weights`` blends into the targets."""

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> FaceSet:
        """The faces at ``index`` (integer or boolean), with every per-face array kept in step."""
        index = np.flatnonzero(index) if index.dtype == bool else index
        return FaceSet(
            self.images[index],
            self.labels[index],
            self.skipped,
            [self.sources[i] for i in index] if self.sources else [],
            None if self.targets is None else self.targets[index],
            None if self.votes is None else self.votes[index],
            None if self.folder is None else self.folder[index],
        )

    def names(self, root: str | Path) -> list[str]:
        """Each face's path relative to ``root`` (``angry/x.jpg``), as the votes file names it."""
        return [Path(s).relative_to(root).as_posix() for s in self.sources]

    def training_targets(self) -> np.ndarray:
        """What the probabilities are fitted to: the vote shares, or one-hot folder labels."""
        if self.targets is not None:
            return self.targets
        return np.eye(len(LABELS), dtype=np.float32)[self.labels]

    def counts(self) -> dict[str, int]:
        return {name: int((self.labels == i).sum()) for i, name in enumerate(LABELS)}


def class_weights(labels: np.ndarray, power: float) -> np.ndarray:
    """Inverse-frequency weights raised to ``power`` (0: none, 1: fully balanced), mean 1."""
    counts = np.bincount(labels, minlength=len(LABELS)).astype(np.float64)
    weights = (counts.max() / np.maximum(counts, 1)) ** power
    return (weights / (weights * counts).sum() * counts.sum()).astype(np.float32)


def _to_face(image: np.ndarray, size: int) -> np.ndarray:
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.shape != (size, size):
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return image


def load_folder(root: str | Path, size: int = 48, skip_bad: bool = False) -> FaceSet:
    """Read ``root/<label>/*.jpg|png``; every sub-folder must be one of the seven labels."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"no such data folder: {root}")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if not folders:
        raise DataError(f"{root} has no label folders (expected {', '.join(LABELS)})")
    images: list[np.ndarray] = []
    labels: list[int] = []
    sources: list[str] = []
    skipped = 0
    for folder in folders:
        label = LABEL_INDEX.get(folder.name.lower())
        if label is None:
            raise DataError(f"unknown label folder {folder} (expected one of {', '.join(LABELS)})")
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if image is None or image.ndim not in (2, 3):
                if skip_bad:
                    skipped += 1
                    continue
                raise DataError(f"unreadable image: {path}")
            if image.ndim == 3 and image.shape[2] == 4:
                image = image[:, :, :3]
            images.append(_to_face(image, size))
            labels.append(label)
            sources.append(str(path))
    if not images:
        raise DataError(f"no images found under {root}")
    if skipped:
        log.warning("skipped %d unreadable images under %s", skipped, root)
    return FaceSet(np.stack(images), np.asarray(labels, np.int64), skipped, sources)


def load_csv(
    path: str | Path,
    usages: tuple[str, ...] = ("Training",),
    size: int = 48,
    skip_bad: bool = False,
) -> FaceSet:
    """Read the original ``fer2013.csv`` (``emotion,pixels,Usage``), keeping rows of ``usages``.

    A file without a ``Usage`` column keeps every row.
    """
    path = Path(path)
    try:
        handle = path.open(newline="")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from exc
    images: list[np.ndarray] = []
    labels: list[int] = []
    skipped = 0
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path} has no {missing[0]!r} column (expected emotion,pixels,Usage)")
        for row in reader:
            if "Usage" in row and row["Usage"] is not None and row["Usage"] not in usages:
                continue
            try:
                image, label = _parse_row(row)
            except ValueError as exc:
                if skip_bad:
                    skipped += 1
                    continue
                raise DataError(f"{path}:{reader.line_num}: {exc}") from exc
            images.append(_to_face(image, size))
            labels.append(label)
    if not images:
        raise DataError(f"no rows with usage {'/'.join(usages)} in {path}")
    if skipped:
        log.warning("skipped %d malformed rows in %s", skipped, path)
    return FaceSet(np.stack(images), np.asarray(labels, np.int64), skipped)


def _parse_row(row: dict[str, str | None]) -> tuple[np.ndarray, int]:
    emotion = (row.get("emotion") or "").strip()
    if not emotion.isdigit() or int(emotion) >= len(LABELS):
        raise ValueError(f"emotion {emotion!r} is not 0..{len(LABELS) - 1}")
    values = (row.get("pixels") or "").split()
    side = round(len(values) ** 0.5)
    if not values or side * side != len(values):
        raise ValueError(f"{len(values)} pixels do not make a square image")
    try:
        pixels = np.asarray([int(v) for v in values])
    except ValueError:
        raise ValueError("pixels must be integers") from None
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError("pixels must be 0..255")
    return pixels.astype(np.uint8).reshape(side, side), int(emotion)


def load_faces(source: str | Path, size: int = 48, skip_bad: bool = False) -> FaceSet:
    """Load a folder layout, or a CSV file (``path.csv`` or ``path.csv:Usage1,Usage2``)."""
    text = str(source)
    if ".csv" in text:
        name, _, usage = text.partition(".csv")
        usages = tuple(usage.lstrip(":").split(",")) if usage.startswith(":") else ("Training",)
        return load_csv(name + ".csv", usages, size, skip_bad)
    return load_folder(source, size, skip_bad)


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a per-class split: ``fraction`` of every label held out for model selection."""
    rng = np.random.default_rng(seed)
    keep: list[np.ndarray] = []
    held: list[np.ndarray] = []
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        n_held = round(len(idx) * fraction)
        held.append(idx[:n_held])
        keep.append(idx[n_held:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(held))
