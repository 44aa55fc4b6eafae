"""Paste 48×48 training faces into larger frames, to test the detection path on labelled faces.

FER2013 faces are already cropped; a detector needs a scene. Each face is upscaled and placed at a
seeded random spot on a textured background, and its true square is returned, so the crop
convention can be measured (``calibrate``) and accuracy compared with and without detection.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class PastedFace:
    frame: np.ndarray  # BGR uint8
    square: tuple[int, int, int]  # x, y, side in pixels of the pasted face


def background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth random texture: no face-like structure, but not a flat colour either."""
    noise = rng.integers(40, 200, (height // 16 + 1, width // 16 + 1), dtype=np.uint8)
    return cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)


def paste_face(
    face: np.ndarray,
    rng: np.random.Generator,
    frame_size: tuple[int, int] = (320, 240),
    face_px: int = 144,
) -> PastedFace:
    width, height = frame_size
    canvas = background(width, height, rng)
    big = cv2.resize(face, (face_px, face_px), interpolation=cv2.INTER_CUBIC)
    x = int(rng.integers(0, width - face_px + 1))
    y = int(rng.integers(0, height - face_px + 1))
    canvas[y : y + face_px, x : x + face_px] = big
    return PastedFace(cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR), (x, y, face_px))
