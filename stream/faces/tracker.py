"""Stable face ids across frames (greedy IoU matching) and a steady label per track.

A label that flips every frame is useless on a dashboard. Each track keeps an exponential moving
average of its probabilities, so a real change of expression shows within a few frames while
single-frame noise does not.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from stream.faces.geometry import FaceGeometry
from stream.faces.mesh import Mesh

Box = tuple[float, float, float, float]


def iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Track:
    id: int
    box: Box
    probs: np.ndarray | None = None
    missed: int = 0
    quality: float | None = None  # the last reconstruction quality scored for this face
    quality_age: int = 0  # frames since then
    mesh: Mesh | None = None  # the last face mesh read for this face (None: none yet or none seen)
    geometry: FaceGeometry | None = None  # what that mesh says, read once per mesh
    mesh_age: int = 0  # frames since then
    meshed: bool = False  # whether the mesh has run on this face at all
    mesh_pending: deque[tuple[int, Future[tuple[Mesh | None, FaceGeometry | None]]]] = field(
        default_factory=deque
    )  # readings started off the frame's path: (frame number, reading), oldest first

    def smooth(self, probs: np.ndarray, alpha: float) -> np.ndarray:
        """Blend this frame's probabilities in; ``alpha`` is the weight of the new frame."""
        self.probs = (
            probs.copy() if self.probs is None else alpha * probs + (1 - alpha) * self.probs
        )
        return self.probs


class IouTracker:
    """Matches each frame's boxes to live tracks; unmatched tracks expire after ``max_missed``."""

    def __init__(self, min_iou: float = 0.3, max_missed: int = 10, alpha: float = 0.4) -> None:
        self.min_iou = min_iou
        self.max_missed = max_missed
        self.alpha = alpha
        self._tracks: list[Track] = []
        self._next_id = 1

    def update(self, boxes: list[Box]) -> list[Track]:
        """The track of each box, in the order of ``boxes``."""
        pairs = sorted(
            (
                (iou(track.box, box), t, b)
                for t, track in enumerate(self._tracks)
                for b, box in enumerate(boxes)
            ),
            reverse=True,
        )
        assigned: dict[int, Track] = {}
        used: set[int] = set()
        for overlap, t, b in pairs:
            if overlap < self.min_iou:
                break
            if t in used or b in assigned:
                continue
            used.add(t)
            assigned[b] = self._tracks[t]
        for t, kept in enumerate(self._tracks):
            kept.missed = 0 if t in used else kept.missed + 1
        self._tracks = [t for t in self._tracks if t.missed <= self.max_missed]
        result: list[Track] = []
        for b, box in enumerate(boxes):
            track = assigned.get(b)
            if track is None:
                track = Track(self._next_id, box)
                self._next_id += 1
                self._tracks.append(track)
            track.box = box
            result.append(track)
        return result
