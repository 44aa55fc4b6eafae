"""What the dashboard knows about each camera, kept server-side so every browser sees the same.

Times are the dashboard's own wall clock (``now`` is passed in), not the publisher's: staleness and
the timeline must mean "as seen from here" even when the publisher's clock is off.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from stream.publish.schema import STATS_SUFFIX, TOPIC_PREFIX

PREVIEW_SUFFIX = "/preview"
LATENCY_WINDOW = 25


def _finite(value: Any) -> float | None:
    """The value as a float when it is a finite number; fields the schema leaves unchecked."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _mean(values: deque[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def camera_of_topic(topic: str) -> str | None:
    """The camera a topic belongs to, or ``None`` for a topic outside ``emostream/``."""
    if not topic.startswith(TOPIC_PREFIX):
        return None
    camera = topic[len(TOPIC_PREFIX) :]
    for suffix in (STATS_SUFFIX, PREVIEW_SUFFIX):
        if camera.endswith(suffix):
            return camera[: -len(suffix)]
    return camera


@dataclass
class _Second:
    """One timeline bucket: every face label received during one wall-clock second."""

    second: int
    frames: int = 0
    labels: Counter[str] = field(default_factory=Counter)


@dataclass
class LinkState:
    """The SUB socket's connection to the publisher, as ZeroMQ's socket monitor reports it."""

    endpoint: str
    connected: bool = False
    detail: str = "connecting"
    drops: int = 0


class CameraState:
    """The latest frame and stats of one camera, its recent latencies and its label timeline."""

    def __init__(self, camera: str, timeline_s: int) -> None:
        self.camera = camera
        self.frame: dict[str, Any] | None = None
        self.stats: dict[str, Any] | None = None
        self.labels: list[str] = []
        self.last_seen = 0.0
        self.missed_frames = 0
        self.malformed = 0
        self.preview: bytes | None = None
        self.preview_version = 0
        self._preview_at = 0.0
        self._timeline_s = timeline_s
        self._seconds: deque[_Second] = deque()
        self._latency_total: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._latency_publish: deque[float] = deque(maxlen=LATENCY_WINDOW)

    def add_frame(self, message: dict[str, Any], now: float) -> None:
        previous = self.frame["frame"] if self.frame else None
        # A lower frame number means the pipeline restarted (or a file looped): not a loss.
        if previous is not None and message["frame"] > previous + 1:
            self.missed_frames += message["frame"] - previous - 1
        self.frame = message
        self.last_seen = now
        bucket = self._bucket(now)
        bucket.frames += 1
        for face in message["faces"]:
            bucket.labels[face["label"]] += 1
            for label in (*face["probs"], face["label"]):
                if label not in self.labels:
                    self.labels.append(label)
        latency = message.get("latency_ms")
        total = _finite(latency.get("total")) if isinstance(latency, dict) else None
        if total is not None:
            self._latency_total.append(total)
        published = _finite(message.get("published_at"))
        if published is not None:
            self._latency_publish.append((published - message["captured_at"]) * 1000.0)

    def add_stats(self, message: dict[str, Any], now: float) -> None:
        self.stats = message
        self.last_seen = now

    def add_preview(self, jpeg: bytes, now: float) -> None:
        self.preview = jpeg
        self.preview_version += 1
        self._preview_at = now
        self.last_seen = now

    def _bucket(self, now: float) -> _Second:
        second = int(now)
        if not self._seconds or self._seconds[-1].second != second:
            self._seconds.append(_Second(second))
        while self._seconds[0].second <= second - self._timeline_s:
            self._seconds.popleft()
        return self._seconds[-1]

    def timeline(self, now: float) -> list[int | None]:
        """Dominant label per second, oldest first: an index into ``labels``, -1 for "frames but
        no face", ``None`` for "no frame at all" (so a gap in the feed is visible as a gap)."""
        end = int(now)
        start = end - self._timeline_s + 1
        slots: list[int | None] = [None] * self._timeline_s
        for bucket in self._seconds:
            if start <= bucket.second <= end and bucket.frames:
                top = bucket.labels.most_common(1)
                slots[bucket.second - start] = self.labels.index(top[0][0]) if top else -1
        return slots

    def _frames_in(self, second: int) -> int:
        return next((b.frames for b in reversed(self._seconds) if b.second == second), 0)

    def snapshot(self, now: float, stale_after: float) -> dict[str, Any]:
        age = max(0.0, now - self.last_seen)
        latency = self.frame.get("latency_ms") if self.frame else None
        published = _finite(self.frame.get("published_at")) if self.frame else None
        return {
            "camera": self.camera,
            "status": "stale" if age > stale_after else "live",
            "age_s": round(age, 3),
            "last_seen": self.last_seen,
            "frame": self.frame,
            "stats": self.stats,
            "labels": self.labels,
            "rx_fps": self._frames_in(int(now) - 1),
            "missed_frames": self.missed_frames,
            "malformed": self.malformed,
            "latency": {
                "total_ms": _finite(latency.get("total")) if isinstance(latency, dict) else None,
                "capture_to_publish_ms": (
                    round((published - self.frame["captured_at"]) * 1000.0, 3)
                    if self.frame and published is not None
                    else None
                ),
                "total_avg_ms": _mean(self._latency_total),
                "capture_to_publish_avg_ms": _mean(self._latency_publish),
            },
            "timeline": {"end": int(now), "step_s": 1, "dominant": self.timeline(now)},
            "preview": (
                {"version": self.preview_version, "age_s": round(now - self._preview_at, 3)}
                if self.preview is not None
                else None
            ),
        }


class DashboardState:
    """Every camera seen on the bus, the malformed-message count and the publisher link.

    ``version`` goes up on every change, so WebSocket senders can tell whether they are behind.
    """

    def __init__(self, endpoint: str, stale_after: float, timeline_s: int = 300) -> None:
        self.stale_after = stale_after
        self.timeline_s = timeline_s
        self.cameras: dict[str, CameraState] = {}
        self.malformed = 0
        self.last_malformed: dict[str, Any] | None = None
        self.link = LinkState(endpoint)
        self.version = 0

    def _camera(self, camera: str) -> CameraState:
        if camera not in self.cameras:
            self.cameras[camera] = CameraState(camera, self.timeline_s)
        return self.cameras[camera]

    def add_message(self, topic: bytes, message: dict[str, Any], now: float) -> None:
        """Take a message that :func:`stream.publish.schema.decode` accepted."""
        camera = self._camera(message["camera"])
        if topic.endswith(STATS_SUFFIX.encode()):
            camera.add_stats(message, now)
        else:
            camera.add_frame(message, now)
        self.version += 1

    def add_preview(self, camera: str, jpeg: bytes, now: float) -> None:
        self._camera(camera).add_preview(jpeg, now)
        self.version += 1

    def reject(self, topic: bytes, reason: str, now: float) -> None:
        """Count a malformed message, also against its camera when that camera is known."""
        self.malformed += 1
        text = topic.decode(errors="replace")
        self.last_malformed = {"time": now, "topic": text, "reason": reason}
        camera = camera_of_topic(text)
        if camera in self.cameras:
            self.cameras[camera].malformed += 1
        self.version += 1

    def set_link(self, connected: bool, detail: str) -> None:
        if self.link.connected and not connected:
            self.link.drops += 1
        self.link.connected = connected
        self.link.detail = detail
        self.version += 1

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "zmq": self.link.endpoint,
            "zmq_connected": self.link.connected,
            "cameras": len(self.cameras),
            "malformed": self.malformed,
        }

    def snapshot(self, now: float) -> dict[str, Any]:
        return {
            "time": now,
            "stale_after": self.stale_after,
            "timeline_s": self.timeline_s,
            "link": {
                "endpoint": self.link.endpoint,
                "connected": self.link.connected,
                "detail": self.link.detail,
                "drops": self.link.drops,
            },
            "malformed": self.malformed,
            "last_malformed": self.last_malformed,
            "cameras": [
                self.cameras[name].snapshot(now, self.stale_after) for name in sorted(self.cameras)
            ],
        }
