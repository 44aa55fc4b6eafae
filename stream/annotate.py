"""Draw boxes, track ids and labels on a frame, for ``--record`` and ``--show``."""

from __future__ import annotations

import cv2
import numpy as np

from stream.recognizer import Face

GREEN = (80, 200, 80)
AMBER = (0, 170, 255)


def annotate(image: np.ndarray, faces: list[Face], labels: tuple[str, ...]) -> np.ndarray:
    """A copy of ``image`` with each face outlined (amber when ``uncertain``) and labelled."""
    out = image.copy()
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
