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

WARP_SCALE = 2
"""The warp writes this × the input's side, then an exact 2×2 mean makes the input."""
MAX_SPACING = 1.5
"""At most how many source pixels apart the warp's bilinear samples may fall: farther apart
they skip pixels, and fine detail (hair, stubble, a patterned shirt) aliases into the face."""


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


def warp_plan(side: float, size: int) -> tuple[int, int]:
    """(warp output side, shrink) for a face square of ``side`` frame pixels and a ``size`` input.

    A face larger than the warp's output is first shrunk by ``shrink``, a power of two, in exact
    block means (OpenCV's fastest resize), until the warp's samples are at most
    :data:`MAX_SPACING` pixels apart: every source pixel then counts, at a fraction of the cost
    of warping a large patch and area-resizing it. A face smaller than the input is upsampled.
    """
    if side <= size:
        return size, 1
    out = WARP_SCALE * size
    shrink = 1
    while side / (shrink * out) > MAX_SPACING:
        shrink *= 2
    return out, shrink


def _source_region(matrix: np.ndarray, out: int, margin: int = 2) -> tuple[int, int, int, int]:
    """The frame's pixels that an ``out``×``out`` warp through ``matrix`` reads: the rotated
    square's bounding box and ``margin`` pixels for the filters' reach (x0, y0, x1, y1), not
    clipped to the frame."""
    (a, b, tx), (c, d, ty) = matrix.tolist()
    det = a * d - b * c
    # the inverse map, output corner (u, v) → frame point
    xs, ys = [], []
    for u, v in ((0, 0), (out, 0), (0, out), (out, out)):
        du, dv = u - tx, v - ty
        xs.append((d * du - b * dv) / det)
        ys.append((a * dv - c * du) / det)
    x0, y0 = math.floor(min(xs)) - margin, math.floor(min(ys)) - margin
    return x0, y0, math.ceil(max(xs)) + margin + 1, math.ceil(max(ys)) + margin + 1


def _region(
    frame: np.ndarray, matrix: np.ndarray, out: int, shrink: int
) -> tuple[np.ndarray, int, int]:
    """The pixels the warp reads, in whole ``shrink``×``shrink`` blocks, with the frame's edge
    repeated where they leave the frame (as the warp would repeat it), and the region's top-left
    corner in the frame. A square wholly outside the frame reaches in to its nearest edge."""
    height, width = frame.shape[:2]
    x0, y0, x1, y1 = _source_region(matrix, out, 2 * shrink)
    x0, y0 = min(x0, width - 1), min(y0, height - 1)
    x1 = x0 + -(-(max(x1, 1) - x0) // shrink) * shrink
    y1 = y0 + -(-(max(y1, 1) - y0) // shrink) * shrink
    inner_x0, inner_y0 = max(x0, 0), max(y0, 0)
    inner_x1, inner_y1 = min(x1, width), min(y1, height)
    region = frame[inner_y0:inner_y1, inner_x0:inner_x1]
    if (inner_x0, inner_y0, inner_x1, inner_y1) != (x0, y0, x1, y1):
        region = cv2.copyMakeBorder(
            region,
            inner_y0 - y0,
            y1 - inner_y1,
            inner_x0 - x0,
            x1 - inner_x1,
            cv2.BORDER_REPLICATE,
        )
    return region, x0, y0


def crop_face(frame: np.ndarray, det: Detection, spec: CropSpec, size: int = 48) -> np.ndarray:
    """A ``size``×``size`` uint8 grayscale crop of one detection.

    ``frame`` is grayscale or BGR. Only the region the warp reads is touched: shrunk by block
    means where the face is large (:func:`warp_plan`), made grayscale (after shrinking: fewer
    pixels), warped once to :data:`WARP_SCALE` × ``size`` and halved by 2×2 means. Where the
    square leaves the frame, the frame's edge is repeated.
    """
    height, width = frame.shape[:2]
    out, shrink = warp_plan(face_side(det, width, height, spec.scale), size)
    matrix = face_matrix(det, width, height, spec.scale, out, spec.shift_y, spec.align_eyes)
    # The matrix maps pixel edges (a detection's 0..1 spans the frame's outer edges; output
    # pixel u spans u..u + 1); OpenCV samples at pixel centres, half a pixel in on both sides.
    matrix[:, 2] += matrix[:, :2] @ (0.5, 0.5) - 0.5
    region, x0, y0 = _region(frame, matrix, out, shrink)
    if shrink > 1:
        blocks = (region.shape[1] // shrink, region.shape[0] // shrink)
        region = cv2.resize(region, blocks, interpolation=cv2.INTER_AREA)
    if region.ndim == 3:
        region = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY)
    # Region pixel (i, j) is the mean of the block centred on frame point
    # (x0 + shrink·i + (shrink − 1)/2, y0 + shrink·j + (shrink − 1)/2).
    matrix[:, 2] += matrix[:, :2] @ (x0 + (shrink - 1) / 2, y0 + (shrink - 1) / 2)
    matrix[:, :2] *= shrink
    patch = cv2.warpAffine(
        region, matrix, (out, out), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    if out == size:
        return patch
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
