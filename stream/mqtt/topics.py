"""The MQTT contract of ``emostream mqtt``, documented once: topics, payloads, discovery.

With the default prefix ``emostream`` (``--prefix``) and Home Assistant's discovery prefix
``homeassistant`` (``--discovery-prefix``):

``emostream/availability`` (retained)
    ``online`` while the bridge is connected; ``offline`` when it stops, or, through the MQTT
    last will, when its connection dies.
``emostream/<camera>/availability`` (retained)
    ``online`` while the camera's messages arrive; ``offline`` after ``--offline-after``
    seconds without any.
``emostream/<camera>/state`` (retained, QoS 1)
    What the camera sees now: sent when it changes (face count, dominant expression, its
    confidence by 0.01 or more, or how many faces look at the camera) and at most ``--rate``
    times a second, the latest state always sent last::

        {"camera": "lobby", "faces": 2, "dominant": "happy", "confidence": 0.71,
         "probs": {"angry": 0.02, ...}, "looking": 1,
         "poses": [{"id": 3, "yaw": 12.5, "pitch": -4.0, "roll": 2.1, "eyes_open": [0.9, 0.8],
                    "mouth_open": 0.1, "frontal": true, "gaze": null}, ...],
         "frame": 4211, "updated_at": 1732430000.12}

    ``dominant`` is the expression with the highest probability averaged over the faces in the
    frame (``"none"`` with no face, ``confidence`` then 0), ``probs`` that average, and
    ``updated_at`` the frame's capture time (Unix seconds). ``looking`` counts the faces the face
    mesh reads as frontal and ``poses`` gives each face's reading, with ``gaze`` (yaw and pitch)
    where the camera runs ``--gaze`` (both from schema 1.1 frames;
    ``looking`` is null and ``poses`` empty when the pipeline runs ``--landmarks off``). Home
    Assistant shows all of them as the sensors' attributes.
``emostream/<camera>/event`` (QoS 1, not retained)
    A track's smoothed label changed::

        {"camera": "lobby", "track": 7, "from": "neutral", "to": "sad", "event_type": "sad",
         "confidence": 0.64, "time": 1732430000.12}

``homeassistant/sensor/emostream_<camera>/{expression,faces,confidence}/config`` and
``homeassistant/event/emostream_<camera>/expression_change/config`` (retained)
    Home Assistant MQTT discovery: each camera appears as a device with three sensors and an
    event entity, available while both the bridge and the camera are. They are sent when a
    camera is first seen, after every (re)connection, and whenever Home Assistant announces
    itself on ``homeassistant/status``.

Camera ids come from the stream; characters MQTT reserves (``+``, ``#``, ``/``) and anything
else outside ``[A-Za-z0-9_.-]`` become ``_`` in topics and discovery ids.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

ONLINE = "online"
OFFLINE = "offline"
NO_FACE = "none"
# The event entity's types until a camera's first face names its model's labels.
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class Outgoing:
    """One MQTT message to send."""

    topic: str
    payload: bytes
    retain: bool = False
    qos: int = 1


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def safe(camera: str) -> str:
    return _UNSAFE.sub("_", camera) or "_"


@dataclass(frozen=True)
class Topics:
    prefix: str = "emostream"
    discovery_prefix: str | None = "homeassistant"

    @property
    def availability(self) -> str:
        return f"{self.prefix}/availability"

    def camera_availability(self, camera: str) -> str:
        return f"{self.prefix}/{safe(camera)}/availability"

    def state(self, camera: str) -> str:
        return f"{self.prefix}/{safe(camera)}/state"

    def event(self, camera: str) -> str:
        return f"{self.prefix}/{safe(camera)}/event"

    @property
    def discovery_status(self) -> str | None:
        return f"{self.discovery_prefix}/status" if self.discovery_prefix else None

    def discovery(self, camera: str, labels: list[str]) -> list[Outgoing]:
        """Home Assistant discovery configs for one camera; none when discovery is off."""
        if not self.discovery_prefix:
            return []
        node = f"emostream_{safe(camera)}"
        common: dict[str, Any] = {
            "availability": [
                {"topic": self.availability},
                {"topic": self.camera_availability(camera)},
            ],
            "availability_mode": "all",
            "device": {
                "identifiers": [node],
                "name": f"emostream {camera}",
                "manufacturer": "emostream",
                "model": "facial-expression recognition",
            },
        }
        state = self.state(camera)
        sensors = {
            "expression": {
                "name": "Expression",
                "value_template": "{{ value_json.dominant }}",
                "json_attributes_topic": state,
                "icon": "mdi:emoticon-outline",
            },
            "faces": {
                "name": "Faces",
                "value_template": "{{ value_json.faces }}",
                "state_class": "measurement",
                "icon": "mdi:account-group",
            },
            "confidence": {
                "name": "Confidence",
                "value_template": "{{ (value_json.confidence * 100) | round(0) }}",
                "unit_of_measurement": "%",
                "state_class": "measurement",
            },
        }
        out = []
        for key, fields in sensors.items():
            config = {**common, **fields, "unique_id": f"{node}_{key}", "state_topic": state}
            out.append(
                Outgoing(
                    f"{self.discovery_prefix}/sensor/{node}/{key}/config",
                    encode(config),
                    retain=True,
                )
            )
        event = {
            **common,
            "name": "Expression change",
            "unique_id": f"{node}_expression_change",
            "state_topic": self.event(camera),
            "event_types": labels,
        }
        out.append(
            Outgoing(
                f"{self.discovery_prefix}/event/{node}/expression_change/config",
                encode(event),
                retain=True,
            )
        )
        return out
