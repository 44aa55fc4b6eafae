"""MediaPipe's iris model on both eyes of a face mesh: where each iris's centre is, and where
the eye's corners are.

The model (``iris_landmark.tflite``, ``models/landmarks/``) sees one eye at a time, 64×64 RGB in
0–1, cut as MediaPipe cuts it: a square of 2.3 × the eye's corner-to-corner width about the
corners' midpoint, turned so the corners are level. It was trained on the eye on the image's
left (the person's right), so the other eye is mirrored in and its points mirrored back. Of its
outputs, the first iris point (the centre) and the eye contour's two corners are kept:
:func:`stream.faces.geometry.eye_turn` measures each centre against the corners found in the
same crop, which agree with it to a tenth of a pixel between a face and its mirror image, where
the mesh's own corners, from a different crop, differ by one or two: ten degrees of gaze on an
eye twenty pixels wide.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from stream.errors import ModelError
from stream.faces.landmark_model import invoke_on_patch, open_landmark_model

EYE_INPUT = 64
EYE_SCALE = 2.3
IRIS_POINTS = 5
CONTOUR_POINTS = 71
OUTER, INNER = 0, 8
"""The eye contour's corners among its points (the mesh's 33 and 133 on the person's right eye)."""
EYE_CORNERS = ((33, 133), (362, 263))
"""Mesh indices of each eye's corners, first to second pointing to the image's right on an
upright face: the person's right eye (outer, inner), then the left (inner, outer)."""


def eye_matrix(start: np.ndarray, end: np.ndarray, mirrored: bool) -> np.ndarray:
    """The 2×3 map from frame pixels onto the iris model's 64×64 input for one eye."""
    centre = (start[:2] + end[:2]) / 2
    dx, dy = float(end[0] - start[0]), float(end[1] - start[1])
    width = float(np.hypot(dx, dy))
    if width == 0.0:
        raise ValueError("the eye's corners coincide")
    zoom = EYE_INPUT / (EYE_SCALE * width)
    cos, sin = dx / width * zoom, dy / width * zoom
    matrix = np.array([[cos, sin, 0.0], [-sin, cos, 0.0]])
    matrix[:, 2] = EYE_INPUT / 2 - matrix[:, :2] @ centre
    if mirrored:
        matrix[0] = -matrix[0]
        matrix[0, 2] += EYE_INPUT
    return matrix


class IrisModel:
    """One interpreter of the iris model; not thread-safe, owned by one :class:`FaceMesh`."""

    def __init__(self, folder: Path | None = None, threads: int = 1) -> None:
        path, self._interpreter = open_landmark_model(folder, "iris", "iris", threads)
        (source,) = self._interpreter.get_input_details()
        details = self._interpreter.get_output_details()
        outputs = {int(np.prod(d["shape"])): d["index"] for d in details}
        expected = {IRIS_POINTS * 3, CONTOUR_POINTS * 3}
        if tuple(source["shape"]) != (1, EYE_INPUT, EYE_INPUT, 3) or set(outputs) != expected:
            raise ModelError(f"{path} is not MediaPipe's iris landmark model")
        self._input = source["index"]
        self._iris = outputs[IRIS_POINTS * 3]
        self._contour = outputs[CONTOUR_POINTS * 3]

    def run(self, bgr: np.ndarray, points: np.ndarray) -> np.ndarray:
        """(2, 3, 2): for each eye, as in :data:`EYE_CORNERS`, its iris centre and its first and
        second corner, (x, y) in frame pixels, from a frame and its face's mesh."""
        eyes = []
        for mirrored, (start, end) in enumerate(EYE_CORNERS):
            matrix = eye_matrix(points[start], points[end], bool(mirrored))
            invoke_on_patch(
                self._interpreter, self._input, bgr, matrix, EYE_INPUT, cv2.BORDER_REPLICATE
            )
            iris = self._interpreter.get_tensor(self._iris).reshape(IRIS_POINTS, 3)
            contour = self._interpreter.get_tensor(self._contour).reshape(CONTOUR_POINTS, 3)
            first, second = (INNER, OUTER) if mirrored else (OUTER, INNER)
            crop_points = np.array([iris[0, :2], contour[first, :2], contour[second, :2]])
            inverse = cv2.invertAffineTransform(matrix)
            eyes.append(crop_points @ inverse[:, :2].T + inverse[:, 2])
        return np.array(eyes, np.float32)
