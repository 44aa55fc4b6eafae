"""``emostream record``'s loop: the stream in, batches into the store, nothing that blocks.

Face results are gathered in memory and written once a second (``batch_s``) in one
transaction, so a ``kill -9`` loses at most the batch in flight. When the store is locked,
down or full, the batch stays in memory and the next flush tries again; past ``max_buffered``
face rows the oldest are dropped and counted, so memory stays bounded and the subscription is
never held up. Gaps in ``frame`` per camera are the frames this subscriber missed (the
publisher dropped them at its queue, or the broker restarted), and they go into each minute's
``drops``.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stream.errors import first_line
from stream.publish.subscriber import FrameGaps, Message
from stream.store.database import FaceRow, MeshValues, Minute, Store

log = logging.getLogger(__name__)


def mesh_values(face: dict[str, Any]) -> MeshValues:
    """A face's face-mesh and gaze columns; NULLs from a publisher without them (schema 1.0,
    ``--landmarks off``, no ``--gaze``)."""
    pose = face.get("pose")
    eyes = face.get("eyes_open")
    gaze = face.get("gaze")
    if not isinstance(pose, dict):
        pose = {}
    if not isinstance(gaze, dict):
        gaze = {}
    if not isinstance(eyes, list):
        eyes = [None, None]
    frontal = face.get("frontal")

    def number(value: Any) -> float | None:
        return float(value) if isinstance(value, int | float) else None

    return (
        number(pose.get("yaw")), number(pose.get("pitch")), number(pose.get("roll")),
        number(eyes[0]), number(eyes[1]), number(face.get("mouth_open")),
        int(frontal) if isinstance(frontal, bool) else None,
        number(gaze.get("yaw")), number(gaze.get("pitch")),
    )  # fmt: skip


@dataclass
class RecorderCounts:
    frames: int = 0
    faces_written: int = 0
    dropped: int = 0
    failed_flushes: int = 0
    missed: int = 0
    """Frames this subscriber never received, from gaps in ``frame``."""


class Recorder:
    def __init__(
        self,
        store: Store,
        batch_s: float = 1.0,
        max_buffered: int = 100_000,
        keep_days: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.batch_s = batch_s
        self.max_buffered = max_buffered
        self.keep_days = keep_days
        self.clock = clock
        self.counts = RecorderCounts()
        self._faces: deque[FaceRow] = deque()
        self._minutes: dict[tuple[str, int], Minute] = {}
        self._gaps = FrameGaps()
        self._next_flush = clock() + batch_s
        self._next_prune = clock()
        self._failing = False

    def take(self, message: Message) -> None:
        if message.is_stats:
            return
        payload = message.payload
        camera, frame, at = payload["camera"], payload["frame"], float(payload["captured_at"])
        minute = self._minutes.setdefault((camera, int(at // 60 * 60)), Minute())
        gap = self._gaps.observe(camera, frame)
        if gap:
            self.counts.missed += gap
            log.info("camera %s: %d frame(s) missed before frame %d", camera, gap, frame)
        minute.drops += gap
        minute.frames += 1
        self.counts.frames += 1
        for face in payload["faces"]:
            minute.faces += 1
            minute.labels[face["label"]] = minute.labels.get(face["label"], 0) + 1
            minute.confidence_sum += float(face["confidence"])
            quality = face.get("quality")
            self._faces.append(
                (camera, at, frame, int(face["id"]), face["label"], float(face["confidence"]),
                 json.dumps(face["probs"]), float(quality) if quality is not None else None,
                 *mesh_values(face))
            )  # fmt: skip
        overflow = len(self._faces) - self.max_buffered
        for _ in range(max(overflow, 0)):
            self._faces.popleft()
            self.counts.dropped += 1

    @property
    def buffered(self) -> int:
        return len(self._faces)

    def due(self) -> bool:
        return self.clock() >= self._next_flush

    def flush(self) -> bool:
        """Write what is buffered; False (kept for the next try) when the store refused it."""
        self._next_flush = self.clock() + self.batch_s
        if not self._faces and not self._minutes:
            return True
        faces = list(self._faces)
        try:
            self.store.write(faces, self._minutes)
        except Exception as exc:  # locked, down, disk full: keep running, keep counting
            self.counts.failed_flushes += 1
            if not self._failing:
                log.warning(
                    "cannot write to %s: %s; buffering up to %d face rows",
                    self.store.redacted,
                    first_line(exc),
                    self.max_buffered,
                )
            self._failing = True
            return False
        if self._failing:
            log.warning(
                "writing to %s again (%d face rows dropped so far)",
                self.store.redacted,
                self.counts.dropped,
            )
        self._failing = False
        self.counts.faces_written += len(faces)
        self._faces.clear()
        self._minutes.clear()
        self._prune()
        return True

    def _prune(self) -> None:
        if self.keep_days is None or self.clock() < self._next_prune:
            return
        self._next_prune = self.clock() + 3600.0
        try:
            removed = self.store.prune(time.time() - self.keep_days * 86400.0)
        except Exception as exc:  # the next hour tries again; recording goes on
            log.warning("cannot prune %s: %s", self.store.redacted, first_line(exc))
            return
        if removed:
            log.info("pruned %d face rows older than %g days", removed, self.keep_days)
