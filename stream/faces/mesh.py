"""MediaPipe's face mesh on a detected face: 468 points, in the frame's own pixels.

The model (``models/landmarks/``, checked against its manifest like the detector) runs through
LiteRT rather than MediaPipe's Tasks: the mediapipe 1.x wheel the runtime uses carries no
landmarker bundle, and one small float model on one face needs nothing more than an interpreter.

The region it sees is MediaPipe's own for this model: the detector's box enlarged 1.5× about its
centre, squared, and turned so the eyes are level; the points come back through the inverse of
that warp. A face the mesh does not recognise as a face (presence below one half) gives no mesh,
and the face keeps its label without pose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from stream.errors import ModelError
from stream.faces.crop import face_matrix
from stream.faces.detector import Detection
from stream.faces.iris import IrisModel
from stream.faces.landmark_model import invoke_on_patch, open_landmark_model

INPUT_SIZE = 192
POINTS = 468
ROI_SCALE = 1.5
MIN_PRESENCE = 0.5


@dataclass(frozen=True)
class Mesh:
    """468 points, (x, y) in frame pixels and z, depth on the same scale (smaller: nearer)."""

    points: np.ndarray
    presence: float
    irises: np.ndarray | None = None
    """With gaze on, (2, 3, 2): each eye's iris centre and corners from the iris model, (x, y)
    in frame pixels, the person's right eye first (:meth:`stream.faces.iris.IrisModel.run`)."""


class FaceMesh:
    """One interpreter of the face-mesh model; not thread-safe, one per recognizer.

    With ``gaze``, the iris model (:mod:`stream.faces.iris`) also runs on both eyes of every
    mesh, and the mesh carries the irises' centres and the eyes' corners.
    """

    def __init__(self, folder: Path | None = None, threads: int = 1, gaze: bool = False) -> None:
        path, self._interpreter = open_landmark_model(folder, "mesh", "face mesh", threads)
        self.iris = IrisModel(folder, threads) if gaze else None
        (source,) = self._interpreter.get_input_details()
        details = self._interpreter.get_output_details()
        outputs = {int(np.prod(d["shape"])): d["index"] for d in details}
        expected_input = (1, INPUT_SIZE, INPUT_SIZE, 3)
        if tuple(source["shape"]) != expected_input or set(outputs) != {POINTS * 3, 1}:
            raise ModelError(f"{path} is not MediaPipe's 468-point face mesh model")
        self._input = source["index"]
        self._points = outputs[POINTS * 3]
        self._presence = outputs[1]

    def run(self, bgr: np.ndarray, det: Detection) -> Mesh | None:
        """The mesh of one detected face in a BGR frame, or None where the model sees no face."""
        height, width = bgr.shape[:2]
        matrix = face_matrix(det, width, height, ROI_SCALE, INPUT_SIZE)
        invoke_on_patch(
            self._interpreter, self._input, bgr, matrix, INPUT_SIZE, cv2.BORDER_CONSTANT
        )
        logit = float(self._interpreter.get_tensor(self._presence).reshape(()))
        presence = 1.0 / (1.0 + math.exp(-logit))
        if presence < MIN_PRESENCE:
            return None
        raw = self._interpreter.get_tensor(self._points).reshape(POINTS, 3)
        inverse = cv2.invertAffineTransform(matrix)
        xy = raw[:, :2] @ inverse[:, :2].T + inverse[:, 2]
        scale = math.hypot(inverse[0, 0], inverse[0, 1])
        points = np.column_stack([xy, raw[:, 2] * scale]).astype(np.float32)
        irises = self.iris.run(bgr, points) if self.iris is not None else None
        return Mesh(points, presence, irises)
