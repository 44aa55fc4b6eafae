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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

RIGHT_EYE = (33, 133, 159, 145)
"""The person's right eye: outer and inner corners, upper and lower lid (mesh indices)."""
LEFT_EYE = (263, 362, 386, 374)
MOUTH = (78, 308, 13, 14)
"""The mouth's inner corners and the middle of the upper and lower inner lip."""
BROW_TOP, CHIN = 10, 152

EYE_SHUT, EYE_OPEN = 0.08, 0.30
MOUTH_SHUT, MOUTH_OPEN = 0.02, 0.70
FRONTAL_YAW_DEG = 30.0
FRONTAL_PITCH_DEG = 30.0
"""Beyond these, the expression models' accuracy falls away. ``benchmarks.accuracy.pose`` on
FER2013 val, for ``nano``: 80-81 % (balanced 0.64-0.68) up to 30° of yaw, 73 % (0.57) from 30° to
40°; 78-83 % up to 30° of pitch, 64 % (0.57) beyond. The model card has the table."""


@dataclass(frozen=True)
class FaceGeometry:
    yaw: float
    pitch: float
    roll: float
    eyes_open: tuple[float, float]
    """The person's right eye, then left, as in the detector's ``eyes``."""
    mouth_open: float

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


def read_geometry(points: np.ndarray) -> FaceGeometry:
    """Pose and openness from a mesh's (468, 3) points."""
    yaw, pitch, roll = head_pose(points)
    right, left = (_scale(_openness(points, e), EYE_SHUT, EYE_OPEN) for e in (RIGHT_EYE, LEFT_EYE))
    mouth = _scale(_openness(points, MOUTH), MOUTH_SHUT, MOUTH_OPEN)
    return FaceGeometry(yaw, pitch, roll, (right, left), mouth)
