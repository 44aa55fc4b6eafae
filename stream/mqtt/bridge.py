"""Frame messages in, MQTT messages out: per-camera state, label-change events, availability.

Pure bookkeeping with no sockets, so every rule is testable on its own: what counts as a change,
how the rate limit holds a state back without losing the last one, when a camera goes offline,
and what a reconnection must resend (retained messages vanish with a broker that restarts).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stream.mqtt.topics import LABELS, NO_FACE, OFFLINE, ONLINE, Outgoing, Topics, encode

CONFIDENCE_STEP = 0.01


@dataclass
class CameraState:
    labels: list[str]
    state: dict[str, Any] | None = None
    sent_key: tuple | None = None
    sent_at: float = float("-inf")
    tracks: dict[int, str] = field(default_factory=dict)
    last_seen: float = 0.0
    online: bool = False


def summarise(payload: dict[str, Any]) -> dict[str, Any]:
    """The state message for one frame message (see :mod:`stream.mqtt.topics`)."""
    faces = payload["faces"]
    labels = list(faces[0]["probs"]) if faces else []
    mean = {
        label: round(sum(float(f["probs"].get(label, 0.0)) for f in faces) / len(faces), 4)
        for label in labels
    }
    dominant = max(mean, key=mean.__getitem__) if mean else NO_FACE
    poses = [
        {"id": f["id"], **f["pose"]}
        | {k: f.get(k) for k in ("eyes_open", "mouth_open", "frontal", "gaze")}
        for f in faces
        if isinstance(f.get("pose"), dict)
    ]
    return {
        "camera": payload["camera"],
        "faces": len(faces),
        "dominant": dominant,
        "confidence": mean.get(dominant, 0.0),
        "probs": mean,
        "looking": sum(1 for p in poses if p["frontal"]) if poses or not faces else None,
        "poses": poses,
        "frame": payload["frame"],
        "updated_at": payload["captured_at"],
    }


def _change_key(state: dict[str, Any]) -> tuple:
    confidence = round(state["confidence"] / CONFIDENCE_STEP)
    return state["faces"], state["dominant"], confidence, state["looking"]


class Bridge:
    """Turns emostream messages into :class:`Outgoing` MQTT messages.

    ``rate`` caps state messages per camera per second; ``offline_after`` is how long a camera
    may stay silent before it is marked offline.
    """

    def __init__(
        self,
        topics: Topics,
        rate: float = 2.0,
        offline_after: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.topics = topics
        self.interval = 1.0 / rate
        self.offline_after = offline_after
        self.clock = clock
        self.cameras: dict[str, CameraState] = {}
        self.heartbeats: dict[str, dict[str, Any]] = {}
        # The bridge's own thread adds cameras and heartbeats; a metrics scrape reads them from
        # another. Only additions and the scrape's copy take the lock; the bridge's thread
        # iterates its own dicts freely, since nobody else writes them.
        self._lock = threading.Lock()

    def snapshot(self) -> tuple[dict[str, bool], dict[str, dict[str, Any]]]:
        """Each camera's online flag and last heartbeat, copied safely from any thread."""
        with self._lock:
            online = {name: camera.online for name, camera in self.cameras.items()}
            return online, dict(self.heartbeats)

    def _camera(self, name: str, labels: list[str]) -> tuple[CameraState, list[Outgoing]]:
        """The camera's record, and its discovery and availability if it just (re)appeared."""
        out: list[Outgoing] = []
        camera = self.cameras.get(name)
        if camera is None:
            camera = CameraState(labels=labels or list(LABELS))
            with self._lock:
                self.cameras[name] = camera
            out += self.topics.discovery(name, camera.labels)
        elif labels and labels != camera.labels:
            camera.labels = labels
            out += self.topics.discovery(name, labels)
        camera.last_seen = self.clock()
        if not camera.online:
            camera.online = True
            out.append(Outgoing(self.topics.camera_availability(name), ONLINE.encode(), True))
        return camera, out

    def frame(self, payload: dict[str, Any]) -> list[Outgoing]:
        name = payload["camera"]
        faces = payload["faces"]
        camera, out = self._camera(name, list(faces[0]["probs"]) if faces else [])
        for face in faces:
            previous = camera.tracks.get(face["id"])
            if previous is not None and previous != face["label"]:
                event = {
                    "camera": name,
                    "track": face["id"],
                    "from": previous,
                    "to": face["label"],
                    "event_type": face["label"],
                    "confidence": face["confidence"],
                    "time": payload["captured_at"],
                }
                out.append(Outgoing(self.topics.event(name), encode(event)))
        camera.tracks = {face["id"]: face["label"] for face in faces}
        camera.state = summarise(payload)
        return out + self._due_state(name, camera)

    def stats(self, payload: dict[str, Any]) -> list[Outgoing]:
        _, out = self._camera(payload["camera"], [])
        with self._lock:
            self.heartbeats[payload["camera"]] = payload
        return out

    def _due_state(self, name: str, camera: CameraState) -> list[Outgoing]:
        now = self.clock()
        if camera.state is None or now - camera.sent_at < self.interval:
            return []
        key = _change_key(camera.state)
        if key == camera.sent_key:  # nothing changed since the last state sent
            return []
        camera.sent_at, camera.sent_key = now, key
        return [Outgoing(self.topics.state(name), encode(camera.state), retain=True)]

    def tick(self) -> list[Outgoing]:
        """States the rate limit held back that are due now; cameras that went silent."""
        out: list[Outgoing] = []
        now = self.clock()
        for name, camera in self.cameras.items():
            out += self._due_state(name, camera)
            if camera.online and now - camera.last_seen > self.offline_after:
                camera.online = False
                camera.tracks.clear()
                out.append(Outgoing(self.topics.camera_availability(name), OFFLINE.encode(), True))
        return out

    def resync(self) -> list[Outgoing]:
        """Everything retained, again: after a (re)connection or Home Assistant's restart."""
        out = [Outgoing(self.topics.availability, ONLINE.encode(), retain=True)]
        for name, camera in self.cameras.items():
            out += self.topics.discovery(name, camera.labels)
            status = ONLINE if camera.online else OFFLINE
            out.append(Outgoing(self.topics.camera_availability(name), status.encode(), True))
            if camera.state is not None and camera.sent_key is not None:
                out.append(Outgoing(self.topics.state(name), encode(camera.state), retain=True))
        return out
