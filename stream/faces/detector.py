"""MediaPipe face detection with its bundled short- and full-range models (works offline).

``mediapipe``'s package import pulls in TensorFlow when it happens to be installed (for its API
docs only); the runtime must never load TensorFlow, so the import below hides it meanwhile.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from stream.codes.delegates import quiet_native_stderr

MODELS = {"short": 0, "full": 1}


def _import_face_detection():
    if "tensorflow" in sys.modules:
        from mediapipe.python.solutions import face_detection

        return face_detection
    sys.modules["tensorflow"] = None  # type: ignore[assignment]
    try:
        from mediapipe.python.solutions import face_detection
    finally:
        del sys.modules["tensorflow"]
    return face_detection


@dataclass(frozen=True)
class Detection:
    """One face in normalised image coordinates (0..1); eyes are the person's right, then left."""

    box: tuple[float, float, float, float]
    score: float
    right_eye: tuple[float, float]
    left_eye: tuple[float, float]


class FaceDetector:
    """Finds faces in RGB frames; ``model`` ``short`` (within ~2 m) or ``full`` (up to ~5 m)."""

    def __init__(self, model: str = "short", min_score: float = 0.5, max_faces: int = 8) -> None:
        if model not in MODELS:
            raise ValueError(f"detector model must be one of {', '.join(MODELS)}")
        self.max_faces = max_faces
        self.min_score = min_score
        with quiet_native_stderr():
            self._detector = _import_face_detection().FaceDetection(
                min_detection_confidence=min_score, model_selection=MODELS[model]
            )
            self._detector.process(np.zeros((64, 64, 3), np.uint8))  # its start-up log lines

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        result = self._detector.process(rgb)
        found: list[Detection] = []
        for det in result.detections or []:
            rel = det.location_data.relative_bounding_box
            points = det.location_data.relative_keypoints
            found.append(
                Detection(
                    box=(rel.xmin, rel.ymin, rel.width, rel.height),
                    score=float(det.score[0]) if det.score else 0.0,
                    right_eye=(points[0].x, points[0].y),
                    left_eye=(points[1].x, points[1].y),
                )
            )
        # The graph's own threshold lets some weaker detections through; apply it here too.
        found = [d for d in found if d.score >= self.min_score]
        found.sort(key=lambda d: d.score, reverse=True)
        return found[: self.max_faces]

    def close(self) -> None:
        self._detector.close()
