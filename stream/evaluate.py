"""Accuracy of the shipped int8 models through the runtime's own code, on labelled images.

Direct mode feeds each image, as a 48×48 grayscale face, to the encoder and head. ``detect`` mode
treats each image as a scene: the detector finds the face and the runtime crops it first, so the
cost of detection and alignment shows; images where no face is found count as misses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from stream.accuracy import balanced_accuracy, class_recall
from stream.errors import SourceError
from stream.faces.detector import FaceDetector
from stream.models import Models
from stream.recognizer import Recognizer, classify_crops

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


@dataclass
class Evaluation:
    labels: tuple[str, ...]
    confusion: np.ndarray  # rows: true label, columns: predicted
    ms_per_face: float
    # Scenes only: per image, whether a face was found, so the direct path can be scored on
    # exactly those faces and the crop convention's cost told apart from detection misses.
    found: np.ndarray | None = None
    # Per image, the predicted label index (-1 where no face was found), so the same run can be
    # scored against another label set (the FER+ crowd majority) without classifying again.
    predicted: np.ndarray | None = None

    def accuracy_against(self, labels: np.ndarray) -> float | None:
        """Accuracy against ``labels`` (-1: not scored); a face not found counts as wrong."""
        scored = labels >= 0
        if self.predicted is None or not scored.any():
            return None
        return float(np.mean(self.predicted[scored] == labels[scored]))

    @property
    def no_face(self) -> int:
        return 0 if self.found is None else int((~self.found).sum())

    @property
    def n(self) -> int:
        return int(self.confusion.sum()) + self.no_face

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion)) / max(self.n, 1)

    @property
    def found_accuracy(self) -> float:
        """Accuracy on the faces the detector found: how faithful the crop convention is."""
        return float(np.trace(self.confusion)) / max(int(self.confusion.sum()), 1)

    def recall(self) -> dict[str, float | None]:
        """Per true class; None where the set has no face of that class."""
        return dict(zip(self.labels, class_recall(self.confusion), strict=True))

    @property
    def balanced_accuracy(self) -> float:
        return balanced_accuracy(self.confusion)

    def to_dict(self) -> dict:
        return {
            "accuracy": round(self.accuracy, 4),
            "balanced_accuracy": round(self.balanced_accuracy, 4),
            "n": self.n,
            "no_face": self.no_face,
            "found_accuracy": round(self.found_accuracy, 4),
            "ms_per_face": round(self.ms_per_face, 3),
            "recall": {k: None if v is None else round(v, 4) for k, v in self.recall().items()},
            "confusion": self.confusion.tolist(),
            "labels": list(self.labels),
        }


def load_labelled_images(
    root: str | Path, labels: tuple[str, ...]
) -> tuple[list[Path], np.ndarray]:
    """Paths and label indices of ``root/<label>/*``; an unknown label folder is an error."""
    root = Path(root)
    if not root.is_dir():
        raise SourceError(f"no such data folder: {root}")
    index = {name: i for i, name in enumerate(labels)}
    paths: list[Path] = []
    targets: list[int] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name.lower() not in index:
            raise SourceError(f"unknown label folder {folder} (expected {', '.join(labels)})")
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(path)
                targets.append(index[folder.name.lower()])
    if not paths:
        raise SourceError(f"no images under {root}/<label>/")
    return paths, np.asarray(targets)


def read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SourceError(f"unreadable image: {path}")
    return image


def evaluate_crops(
    models: Models, faces: np.ndarray, targets: np.ndarray, batch: int = 64
) -> Evaluation:
    """``faces``: uint8 (N, size, size) crops already framed like the training faces."""
    labels = models.manifest.labels
    confusion = np.zeros((len(labels), len(labels)), np.int64)
    predicted = np.empty(len(faces), np.int64)
    start = time.perf_counter()
    for i in range(0, len(faces), batch):
        _, probs, _ = classify_crops(models, faces[i : i + batch])
        predicted[i : i + batch] = probs.argmax(axis=1)
        np.add.at(confusion, (targets[i : i + batch], predicted[i : i + batch]), 1)
    elapsed = time.perf_counter() - start
    ms = 1000.0 * elapsed / max(len(faces), 1)
    return Evaluation(labels, confusion, ms, predicted=predicted)


def evaluate_scenes(
    models: Models, frames: list[np.ndarray], targets: np.ndarray, detector: FaceDetector
) -> Evaluation:
    """Each BGR frame holds one labelled face; the most confident detection is classified."""
    recognizer = Recognizer(models, detector)
    labels = models.manifest.labels
    confusion = np.zeros((len(labels), len(labels)), np.int64)
    found = np.zeros(len(frames), bool)
    predicted = np.full(len(frames), -1, np.int64)
    start = time.perf_counter()
    for i, (frame, target) in enumerate(zip(frames, targets, strict=True)):
        result = recognizer.recognize(frame)
        if result.faces:
            found[i] = True
            predicted[i] = int(np.argmax(result.faces[0].probs))
            confusion[target, predicted[i]] += 1
    elapsed = time.perf_counter() - start
    ms = 1000.0 * elapsed / max(len(frames), 1)
    return Evaluation(labels, confusion, ms, found, predicted)


def to_face(image: np.ndarray, size: int) -> np.ndarray:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA)
