"""Draw boxes, track ids and labels on a frame, for ``--record``, ``--show`` and previews."""

from __future__ import annotations

import cv2
import numpy as np

from stream.recognizer import Face

GREEN = (80, 200, 80)
AMBER = (0, 170, 255)
BLUR_MARGIN = 0.2
"""Blur this much of the box's size beyond each side: the detector's box stops at the brow and
chin, and hair, ears and jaw identify a person too."""
BLUR_CELLS = 6
"""A blurred face keeps about this many cells across: its place and skin tone, not who it is."""


def blur_faces(image: np.ndarray, faces: list[Face]) -> None:
    """Blur each face's box (with a margin) in place, beyond recognition.

    Shrinking the region to a few cells and stretching it back smoothly removes every detail at
    a cost that does not grow with the face, unlike a Gaussian kernel as wide as the face.
    """
    height, width = image.shape[:2]
    for face in faces:
        x, y, w, h = face.detection.box
        x0 = max(int((x - BLUR_MARGIN * w) * width), 0)
        y0 = max(int((y - BLUR_MARGIN * h) * height), 0)
        x1 = min(int((x + w * (1 + BLUR_MARGIN)) * width) + 1, width)
        y1 = min(int((y + h * (1 + BLUR_MARGIN)) * height) + 1, height)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        region = image[y0:y1, x0:x1]
        cells = (BLUR_CELLS, max(round(BLUR_CELLS * (y1 - y0) / (x1 - x0)), 1))
        small = cv2.resize(region, cells, interpolation=cv2.INTER_AREA)
        region[:] = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_CUBIC)


def annotate(
    image: np.ndarray, faces: list[Face], labels: tuple[str, ...], blur: bool = False
) -> np.ndarray:
    """A copy of ``image`` with each face outlined (amber when ``uncertain``) and labelled.

    With ``blur`` the faces are blurred first (``--blur-faces``), so a recording or a preview
    shows who was labelled what only as a position, not as a person.
    """
    out = image.copy()
    if blur:
        blur_faces(out, faces)
    height, width = out.shape[:2]
    for face in faces:
        x, y, w, h = face.detection.box
        p1 = (int(x * width), int(y * height))
        p2 = (int((x + w) * width), int((y + h) * height))
        color = AMBER if face.uncertain else GREEN
        cv2.rectangle(out, p1, p2, color, 2)
        best = int(np.argmax(face.probs))
        text = f"#{face.id} {labels[best]} {face.probs[best]:.0%}"
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        top = max(p1[1] - th - 6, 0)
        cv2.rectangle(out, (p1[0], top), (p1[0] + tw + 4, top + th + 6), color, -1)
        cv2.putText(
            out, text, (p1[0] + 2, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1
        )
    return out
