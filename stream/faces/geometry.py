"""What a face mesh says about a face: head pose, how open each eye and the mouth are, and
whether the face is frontal enough for its expression label to be trusted.

Pose comes from the mesh's own 3D points, not from solvePnP against a generic head: the mesh
already gives depth on the scale of x and y, so the face's axes (eye corner to eye corner, brow
to chin) and their cross product, the face's normal, fix the rotation without a camera matrix
that a user's camera would have to supply. Conventions, in degrees:

- ``yaw``: positive when the face turns towards the image's right (the person's left);
- ``pitch``: positive when the face tilts up;
- ``roll``: positive when the head tilts anticlockwise as the image is seen.

Openness is the height of the eye (or the lips' inner gap) over its width, mapped linearly to
0–1 between a shut and a wide-open ratio.

Gaze, where the iris model has run, adds the eyes' turn in the head to the head's pose: each
iris centre's offset from its eye corners' midpoint (both from the iris model), along and
across the corner line, over the
radius the iris turns on (``IRIS_RADIUS`` × the eye's 3D corner-to-corner width, which does not
shrink as the head turns), gives the eye's angle by its arcsine; the open eyes are averaged, and
with both shut (openness below ``GAZE_MIN_OPEN``) there is no gaze.
It is an estimate from a geometric eye model with no per-person calibration, and it has the
same signs as the pose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stream.faces.iris import EYE_CORNERS

RIGHT_EYE = (33, 133, 159, 145)
"""The person's right eye: outer and inner corners, upper and lower lid (mesh indices)."""
LEFT_EYE = (263, 362, 386, 374)
MOUTH = (78, 308, 13, 14)
"""The mouth's inner corners and the middle of the upper and lower inner lip."""
BROW_TOP, CHIN = 10, 152

EYE_SHUT, EYE_OPEN = 0.08, 0.30
MOUTH_SHUT, MOUTH_OPEN = 0.02, 0.70
IRIS_RADIUS = 0.4
"""The radius an iris centre turns on, over the eye's corner-to-corner width: about 11-12 mm
over 28-30 mm in adults."""
GAZE_MIN_OPEN = 0.25
FRONTAL_YAW_DEG = 30.0
FRONTAL_PITCH_DEG = 30.0
"""Beyond these, the expression models' accuracy falls away. ``benchmarks.accuracy.pose`` on
FER2013 val, for ``nano`` (2026-12-06): 72-79 % up to 30° of yaw, 59 % from 30° to 40°; 72-78 %
up to 30° of pitch, 64 % beyond. The model card has the table."""


@dataclass(frozen=True)
class FaceGeometry:
    yaw: float
    pitch: float
    roll: float
    eyes_open: tuple[float, float]
    """The person's right eye, then left, as in the detector's ``eyes``."""
    mouth_open: float
    gaze: tuple[float, float] | None = None
    """Yaw and pitch in degrees of where the eyes point, relative to the camera like the pose;
    None without the iris model."""

    @property
    def frontal(self) -> bool:
        return abs(self.yaw) <= FRONTAL_YAW_DEG and abs(self.pitch) <= FRONTAL_PITCH_DEG


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def head_pose(points: np.ndarray) -> tuple[float, float, float]:
    """Yaw, pitch and roll in degrees from a mesh's (468, 3) points (see the module docstring)."""
    points = points.astype(np.float64)
    across = _unit(points[LEFT_EYE[0]] - points[RIGHT_EYE[0]])
    down = points[CHIN] - points[BROW_TOP]
    down = _unit(down - np.dot(down, across) * across)
    normal = np.cross(across, down)  # into the scene for a face looking at the camera
    # normal = (-sin yaw · cos pitch, sin pitch, cos yaw · cos pitch)
    yaw = math.degrees(math.atan2(-normal[0], normal[2]))
    pitch = math.degrees(math.asin(min(max(float(normal[1]), -1.0), 1.0)))
    roll = math.degrees(math.atan2(-across[1], across[0]))
    return yaw, pitch, roll


def _openness(points: np.ndarray, corners_and_lids: tuple[int, int, int, int]) -> float:
    a, b, top, bottom = corners_and_lids
    width = float(np.linalg.norm(points[a, :2] - points[b, :2]))
    return float(np.linalg.norm(points[top, :2] - points[bottom, :2])) / width if width else 0.0


def _scale(ratio: float, shut: float, wide: float) -> float:
    return min(max((ratio - shut) / (wide - shut), 0.0), 1.0)


def _arcsine(ratio: float) -> float:
    return math.degrees(math.asin(min(max(ratio, -1.0), 1.0)))


def eye_turn(
    points: np.ndarray, irises: np.ndarray, eyes_open: tuple[float, float] = (1.0, 1.0)
) -> tuple[float, float] | None:
    """Yaw and pitch in degrees of the eyes within the head, from the mesh and the iris model's
    (2, 3, 2) iris centres and corners; None where both eyes are shut."""
    turns = []
    for (start, end), eye, openness in zip(EYE_CORNERS, irises, eyes_open, strict=True):
        if openness < GAZE_MIN_OPEN:
            continue
        radius = IRIS_RADIUS * float(np.linalg.norm(points[end] - points[start]))
        iris, a, b = eye.astype(np.float64)
        along = _unit(b - a)
        offset = iris - (a + b) / 2
        down = float(offset[1] * along[0] - offset[0] * along[1])
        if radius > 0:
            turns.append((_arcsine(float(offset @ along) / radius), _arcsine(-down / radius)))
    if not turns:
        return None
    yaw, pitch = np.mean(turns, axis=0)
    return float(yaw), float(pitch)


def read_geometry(points: np.ndarray, irises: np.ndarray | None = None) -> FaceGeometry:
    """Pose and openness from a mesh's (468, 3) points, and gaze where the irises are given."""
    yaw, pitch, roll = head_pose(points)
    right, left = (_scale(_openness(points, e), EYE_SHUT, EYE_OPEN) for e in (RIGHT_EYE, LEFT_EYE))
    mouth = _scale(_openness(points, MOUTH), MOUTH_SHUT, MOUTH_OPEN)
    turn = eye_turn(points, irises, (right, left)) if irises is not None else None
    gaze = (yaw + turn[0], pitch + turn[1]) if turn is not None else None
    return FaceGeometry(yaw, pitch, roll, (right, left), mouth, gaze)
