"""Cut the model's input from a frame: an eye-level, square, grayscale face crop.

The framing must match FER2013's, or the encoder sees a different face than it learnt. The
convention (stored in the manifest): take the detector's box, rotate about its centre so the eyes
are level, take a square of side ``scale`` × the box's larger side centred on the box centre
moved down by ``shift_y`` × side, and resize it to the model's input. ``scale`` and ``shift_y``
are measured at export time by pasting training faces into larger frames and detecting them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from stream.faces.detector import Detection

MAX_INTERMEDIATE = 4  # warp to at most this × the input size, then area-resize: no aliasing


@dataclass(frozen=True)
class CropSpec:
    scale: float = 1.0
    shift_y: float = 0.0
    align_eyes: bool = True

    @classmethod
    def from_dict(cls, values: dict) -> CropSpec:
        return cls(float(values["scale"]), float(values["shift_y"]), bool(values["align_eyes"]))

    def to_dict(self) -> dict:
        return asdict(self)


def eye_angle(det: Detection, width: int, height: int) -> float:
    """Degrees to rotate (counter-clockwise) so the eyes are level; 0 for an upright face.

    The person's right eye is on the image's left, so the vector right eye → left eye points
    along +x for an upright face.
    """
    (rx, ry), (lx, ly) = det.right_eye, det.left_eye
    return math.degrees(math.atan2((ly - ry) * height, (lx - rx) * width))


def face_side(det: Detection, width: int, height: int, scale: float) -> float:
    """The side in frame pixels of the square around a detection: ``scale`` × its larger side."""
    _, _, w, h = det.box
    return scale * max(w * width, h * height)


def face_matrix(
    det: Detection,
    width: int,
    height: int,
    scale: float,
    out: int,
    shift_y: float = 0.0,
    align_eyes: bool = True,
) -> np.ndarray:
    """The 2×3 map from frame pixels onto an ``out``×``out`` square around a detection.

    Rotation about the box centre (eyes levelled), then the square's centre (``shift_y`` × side
    below the box centre, along the face's own vertical) to the middle of the output. The
    expression crop and the face mesh's input are both cut with it.
    """
    x, y, w, h = det.box
    side = face_side(det, width, height, scale)
    cx, cy = (x + w / 2) * width, (y + h / 2) * height
    angle = math.radians(eye_angle(det, width, height)) if align_eyes else 0.0
    zoom = out / side
    # cv2.getRotationMatrix2D's matrix, written out: it is four numbers, and every OpenCV call
    # gives the GIL away and must win it back from the detector's and the mesh's threads.
    a, b = zoom * math.cos(angle), zoom * math.sin(angle)
    shift = zoom * shift_y * side
    return np.array(
        [[a, b, out / 2 - a * cx - b * cy], [-b, a, out / 2 + b * cx - a * cy - shift]],
        np.float64,
    )


def _source_region(
    matrix: np.ndarray, out: int, width: int, height: int
) -> tuple[int, int, int, int]:
    """The frame's pixels that an ``out``×``out`` warp through ``matrix`` reads: the rotated
    square's bounding box, with the bilinear filter's reach, clipped to the frame (x0, y0, x1, y1).
    """
    (a, b, tx), (c, d, ty) = matrix.tolist()
    det = a * d - b * c
    # the inverse map, output corner (u, v) → frame point
    xs, ys = [], []
    for u, v in ((0, 0), (out, 0), (0, out), (out, out)):
        du, dv = u - tx, v - ty
        xs.append((d * du - b * dv) / det)
        ys.append((a * dv - c * du) / det)
    x0, y0 = math.floor(min(xs)) - 2, math.floor(min(ys)) - 2
    x1, y1 = math.ceil(max(xs)) + 3, math.ceil(max(ys)) + 3
    return max(x0, 0), max(y0, 0), min(max(x1, 1), width), min(max(y1, 1), height)


def crop_face(frame: np.ndarray, det: Detection, spec: CropSpec, size: int = 48) -> np.ndarray:
    """A ``size``×``size`` uint8 grayscale crop of one detection, in one warp.

    ``frame`` is grayscale or BGR. A BGR frame is made grayscale first, on the region the warp
    reads only: warping one channel costs a third of warping three, and a region around the
    face far less than the whole frame. Both steps are linear, so the order changes a pixel
    by at most one level of rounding. Where the square leaves the frame, the frame's edge is
    repeated, as the region then ends at that edge.
    """
    height, width = frame.shape[:2]
    side = face_side(det, width, height, spec.scale)
    out = int(min(max(side, size), size * MAX_INTERMEDIATE))
    matrix = face_matrix(det, width, height, spec.scale, out, spec.shift_y, spec.align_eyes)
    if frame.ndim == 3:
        x0, y0, x1, y1 = _source_region(matrix, out, width, height)
        if x1 > x0 and y1 > y0:
            frame = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
            matrix[:, 2] += matrix[:, :2] @ np.array([x0, y0], np.float64)  # ours: a fresh array
        else:  # the square lies wholly outside the frame: only its edge is repeated
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    patch = cv2.warpAffine(
        frame, matrix, (out, out), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    if out == size:
        return patch
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
