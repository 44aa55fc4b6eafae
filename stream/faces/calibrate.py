"""Measure the crop convention that makes detector crops match the training faces' framing.

Training faces are pasted into frames (:mod:`stream.faces.paste`), detected, and the true face
square compared with the detector's box: the median size ratio is ``scale`` and the median
vertical offset of the true centre from the box centre, in face sides, is ``shift_y``.
"""

from __future__ import annotations

import logging

import numpy as np

from stream.faces.crop import CropSpec
from stream.faces.detector import FaceDetector
from stream.faces.paste import paste_face

log = logging.getLogger(__name__)


def calibrate_crop(faces: np.ndarray, samples: int = 400, seed: int = 0) -> CropSpec:
    """``faces``: uint8 (N, 48, 48) training faces; detection misses are left out."""
    rng = np.random.default_rng(seed)
    detector = FaceDetector("short", min_score=0.5, max_faces=1)
    scales: list[float] = []
    shifts: list[float] = []
    try:
        for i in rng.choice(len(faces), min(samples, len(faces)), replace=False):
            pasted = paste_face(faces[i], rng)
            found = detector.detect_bgr(pasted.frame)
            if not found:
                continue
            height, width = pasted.frame.shape[:2]
            _, by, bw, bh = found[0].box
            _, y, side = pasted.square
            scales.append(side / max(bw * width, bh * height))
            shifts.append((y + side / 2 - (by + bh / 2) * height) / side)
    finally:
        detector.close()
    if not scales:
        raise ValueError("no pasted face was detected: cannot calibrate the crop")
    log.info("crop calibration: %d of %d pasted faces detected", len(scales), samples)
    return CropSpec(round(float(np.median(scales)), 4), round(float(np.median(shifts)), 4))
