"""The versioned JSON schema of every message emostream publishes, documented once.

Each message is two ZeroMQ frames, ``[topic, payload]``:

- topic ``emostream/<camera-id>`` carries one :func:`frame_message` per processed frame, also when
  no face was found (``faces`` is then empty);
- topic ``emostream/<camera-id>/stats`` carries one :func:`stats_message` a second;
- topic ``emostream/<camera-id>/preview`` (only with ``--preview-fps``) carries an annotated JPEG
  of a frame, raw bytes rather than JSON, at a low rate for dashboards.

The payload is UTF-8 JSON with a ``schema`` field (``emostream.frame/1.2`` or
``emostream.stats/1``). A reader accepts any message whose schema name matches and whose major
version it knows, and ignores fields it does not know, so new optional fields never break old
subscribers.

Frame payload::

    {"schema": "emostream.frame/1.2", "camera": "lobby", "frame": 42,
     "captured_at": 1732430000.12, "published_at": 1732430000.15,   # Unix seconds
     "image": {"width": 640, "height": 360},
     "faces": [{"id": 3, "box": [x, y, w, h],                         # normalised 0..1
                "score": 0.93, "eyes": [[xr, yr], [xl, yl]],         # normalised 0..1
                "label": "happy", "confidence": 0.81,
                "probs": {"angry": 0.01, ...},                         # every label, sums to 1
                "quality": 0.64, "uncertain": false,
                "pose": {"yaw": 12.5, "pitch": -4.0, "roll": 2.1},     # degrees, see below
                "eyes_open": [0.93, 0.88], "mouth_open": 0.12,         # 0 shut .. 1 wide open
                "frontal": true,
                "gaze": {"yaw": 3.0, "pitch": -6.5},                   # degrees, with --gaze
                "code": [12, -7, ...],                                 # int8, with --send-codes
                "mesh": [[x, y, z], ...]}],                            # 468 points, --send-mesh
     "latency_ms": {"capture": 1.2, "detect": 6.1, "crop": 0.3, "encode": 0.9, "head": 0.1,
                    "quality": 0.2, "landmarks": 0.4, "total": 9.3}}

Version 1.1 added ``pose``, ``eyes_open``, ``mouth_open``, ``frontal`` and ``mesh``, read from
MediaPipe's face mesh (:mod:`stream.faces.geometry`) every ``--landmarks N`` frames of a tracked
face. ``yaw`` is positive when the face turns towards the image's right (the person's left),
``pitch`` when it tilts up, ``roll`` when the head tilts anticlockwise as the image is seen.
``eyes_open`` is the person's right eye, then left, as in ``eyes``. ``frontal`` is false outside
the pose range where the expression models are trusted, and such a face is ``uncertain``. All
four are ``null`` when the mesh is off (``--landmarks off``) or saw no face. ``mesh`` is
normalised like ``box``, with z (depth, smaller is nearer) on x's scale.

Version 1.2 added ``gaze``: where the eyes point, yaw and pitch in degrees relative to the camera
with the pose's signs (0, 0: at the camera), read with ``--gaze`` from MediaPipe's iris model at
each face-mesh reading. It is ``null`` without ``--gaze``, where the mesh saw no face, or where
both eyes are shut.

Stats payload::

    {"schema": "emostream.stats/1", "camera": "lobby", "time": 1732430001.0,
     "fps": 24.8, "frames": 480, "dropped_source": 3, "dropped_socket": 0,
     "reconnects": 1, "restarts": 0, "uptime_s": 19.4, "source_state": "running"}

``restarts`` counts how often a site's supervisor (``run --config``) restarted the camera's
process after it died; it is 0 for a camera run on its own.

``dropped_socket`` counts messages the publisher's socket refused outright. A subscriber that
falls behind loses messages at its own queue, uncounted by ZeroMQ; it sees them as gaps in
``frame`` (a gap can also hold frames the source dropped, ``dropped_source``).
"""

from __future__ import annotations

import json
import math
from typing import Any

FRAME_SCHEMA = "emostream.frame/1.2"
STATS_SCHEMA = "emostream.stats/1"
TOPIC_PREFIX = "emostream/"
STATS_SUFFIX = "/stats"
PREVIEW_SUFFIX = "/preview"
LATENCY_STAGES = ("capture", "detect", "crop", "encode", "head", "total")


class MessageError(ValueError):
    """A message on the bus that is not a valid emostream message."""


def frame_topic(camera: str) -> bytes:
    return f"{TOPIC_PREFIX}{camera}".encode()


def stats_topic(camera: str) -> bytes:
    return f"{TOPIC_PREFIX}{camera}{STATS_SUFFIX}".encode()


def preview_topic(camera: str) -> bytes:
    return f"{TOPIC_PREFIX}{camera}{PREVIEW_SUFFIX}".encode()


def encode(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON; NaN and infinity are refused so every reader can parse the result."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MessageError(f"{field} must be a finite number")
    try:
        number = float(value)
    except OverflowError:
        raise MessageError(f"{field} must be a finite number") from None
    if not math.isfinite(number):
        raise MessageError(f"{field} must be a finite number")
    return number


def _check_version(payload: dict[str, Any], expected: str) -> None:
    name, _, version = expected.partition("/")
    major = version.split(".")[0]
    schema = payload.get("schema")
    if not isinstance(schema, str) or schema.partition("/")[0] != name:
        raise MessageError(f"schema is {schema!r}, expected {expected}")
    if schema.partition("/")[2].split(".")[0] != major:
        raise MessageError(f"unsupported version {schema!r}, this reader knows {expected}")


def _check_face(face: Any, i: int) -> None:
    if not isinstance(face, dict):
        raise MessageError(f"faces[{i}] is not an object")
    box = face.get("box")
    if not isinstance(box, list) or len(box) != 4:
        raise MessageError(f"faces[{i}].box must be [x, y, w, h]")
    for v in box:
        _number(v, f"faces[{i}].box")
    if not isinstance(face.get("label"), str):
        raise MessageError(f"faces[{i}].label must be a string")
    _number(face.get("confidence"), f"faces[{i}].confidence")
    probs = face.get("probs")
    if not isinstance(probs, dict) or not probs:
        raise MessageError(f"faces[{i}].probs must be an object of label → probability")
    for label, p in probs.items():
        _number(p, f"faces[{i}].probs[{label!r}]")  # repr: a label may hold a line break
    if not isinstance(face.get("id"), int) or isinstance(face.get("id"), bool):
        raise MessageError(f"faces[{i}].id must be an integer")
    _check_landmarks(face, i)


def _check_landmarks(face: dict[str, Any], i: int) -> None:
    """The 1.1 and 1.2 fields, where present and not null (older publishers send none)."""
    pose = face.get("pose")
    if pose is not None:
        if not isinstance(pose, dict):
            raise MessageError(f"faces[{i}].pose must be an object of yaw, pitch and roll")
        for angle in ("yaw", "pitch", "roll"):
            _number(pose.get(angle), f"faces[{i}].pose.{angle}")
    eyes = face.get("eyes_open")
    if eyes is not None:
        if not isinstance(eyes, list) or len(eyes) != 2:
            raise MessageError(f"faces[{i}].eyes_open must be [right, left]")
        for v in eyes:
            _number(v, f"faces[{i}].eyes_open")
    if face.get("mouth_open") is not None:
        _number(face["mouth_open"], f"faces[{i}].mouth_open")
    if face.get("frontal") is not None and not isinstance(face["frontal"], bool):
        raise MessageError(f"faces[{i}].frontal must be true, false or null")
    gaze = face.get("gaze")
    if gaze is not None:
        if not isinstance(gaze, dict):
            raise MessageError(f"faces[{i}].gaze must be an object of yaw and pitch")
        for angle in ("yaw", "pitch"):
            _number(gaze.get(angle), f"faces[{i}].gaze.{angle}")


def decode(topic: bytes, payload: bytes) -> dict[str, Any]:
    """Parse and check one message; raises :class:`MessageError` with a one-line reason."""
    try:
        text_topic = topic.decode()
        data = json.loads(payload.decode())
    except (ValueError, RecursionError) as exc:  # ValueError: bad UTF-8, bad JSON, huge integers
        raise MessageError(f"not UTF-8 JSON: {exc.__class__.__name__}") from None
    if not isinstance(data, dict):
        raise MessageError("payload is not a JSON object")
    if not text_topic.startswith(TOPIC_PREFIX):
        raise MessageError(f"topic {text_topic!r} is not under {TOPIC_PREFIX}")
    if not isinstance(data.get("camera"), str):
        raise MessageError("camera must be a string")
    if text_topic.endswith(STATS_SUFFIX):
        _check_version(data, STATS_SCHEMA)
        for field in ("fps", "uptime_s"):
            _number(data.get(field), field)
        return data
    _check_version(data, FRAME_SCHEMA)
    if not isinstance(data.get("frame"), int) or isinstance(data.get("frame"), bool):
        raise MessageError("frame must be an integer")
    _number(data.get("captured_at"), "captured_at")
    faces = data.get("faces")
    if not isinstance(faces, list):
        raise MessageError("faces must be a list")
    for i, face in enumerate(faces):
        _check_face(face, i)
    return data


def frame_message(
    camera: str,
    frame: int,
    captured_at: float,
    published_at: float,
    width: int,
    height: int,
    faces: list[dict[str, Any]],
    latency_ms: dict[str, float],
) -> dict[str, Any]:
    return {
        "schema": FRAME_SCHEMA,
        "camera": camera,
        "frame": frame,
        "captured_at": captured_at,
        "published_at": published_at,
        "image": {"width": width, "height": height},
        "faces": faces,
        "latency_ms": {k: round(v, 3) for k, v in latency_ms.items()},
    }


def stats_message(
    camera: str,
    time: float,
    fps: float,
    frames: int,
    dropped_source: int,
    dropped_socket: int,
    reconnects: int,
    uptime_s: float,
    source_state: str,
    restarts: int = 0,
) -> dict[str, Any]:
    return {
        "schema": STATS_SCHEMA,
        "camera": camera,
        "time": time,
        "fps": round(fps, 2),
        "frames": frames,
        "dropped_source": dropped_source,
        "dropped_socket": dropped_socket,
        "reconnects": reconnects,
        "restarts": restarts,
        "uptime_s": round(uptime_s, 3),
        "source_state": source_state,
    }
