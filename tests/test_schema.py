"""The message schema: round trips, versions, and ``decode`` fuzzed with any bytes and any JSON."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.publish import schema
from stream.publish.schema import MessageError

FACE = {
    "id": 3,
    "box": [0.1, 0.2, 0.3, 0.4],
    "score": 0.93,
    "eyes": [[0.2, 0.3], [0.3, 0.3]],
    "label": "happy",
    "confidence": 0.81,
    "probs": {"happy": 0.81, "neutral": 0.19},
    "quality": 0.64,
    "uncertain": False,
    "pose": {"yaw": 12.5, "pitch": -4.0, "roll": 2.1},
    "eyes_open": [0.93, 0.88],
    "mouth_open": 0.12,
    "frontal": True,
    "gaze": {"yaw": 3.0, "pitch": -6.5},
}
LATENCY = {"capture": 1.2, "detect": 6.1, "crop": 0.3, "encode": 0.9, "head": 0.1, "total": 8.6}
TOPICS = [b"emostream/lobby", b"emostream/lobby/stats", b"other/lobby", b"emostream/", b""]


def frame_payload() -> dict[str, Any]:
    return schema.frame_message("lobby", 42, 1732430000.1, 1732430000.2, 640, 360, [FACE], LATENCY)


def stats_payload() -> dict[str, Any]:
    return schema.stats_message("lobby", 1732430001.0, 24.81, 480, 3, 0, 1, 19.4, "running")


def decodes_or_refuses(topic: bytes, payload: bytes) -> None:
    """The one promise to subscribers: a dict back, or MessageError, never anything else."""
    try:
        result = schema.decode(topic, payload)
    except MessageError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(result, dict)


def test_frame_and_stats_messages_survive_encode_and_decode() -> None:
    frame, stats = frame_payload(), stats_payload()
    assert schema.decode(schema.frame_topic("lobby"), schema.encode(frame)) == frame
    assert schema.decode(schema.stats_topic("lobby"), schema.encode(stats)) == stats
    assert schema.frame_topic("lobby") == b"emostream/lobby"
    assert schema.stats_topic("lobby") == b"emostream/lobby/stats"


def test_a_frame_without_faces_is_valid() -> None:
    empty = schema.frame_message("lobby", 1, 1.0, 1.0, 640, 360, [], {})
    assert schema.decode(b"emostream/lobby", schema.encode(empty))["faces"] == []


def test_a_version_1_0_face_without_the_mesh_fields_is_valid() -> None:
    newer = ("pose", "eyes_open", "mouth_open", "frontal", "gaze")
    old = {k: v for k, v in FACE.items() if k not in newer}
    frame = frame_payload() | {"schema": "emostream.frame/1", "faces": [old]}
    assert schema.decode(b"emostream/lobby", schema.encode(frame))["faces"] == [old]
    unread = FACE | dict.fromkeys(newer)
    frame = frame_payload() | {"faces": [unread]}  # the mesh off, or it saw no face
    assert schema.decode(b"emostream/lobby", schema.encode(frame))["faces"] == [unread]


def test_unknown_fields_and_minor_versions_are_accepted() -> None:
    frame = frame_payload() | {"schema": "emostream.frame/1.4", "weather": "sunny"}
    frame["faces"][0] = FACE | {"new_field": [1, 2]}
    assert schema.decode(b"emostream/lobby", schema.encode(frame))["weather"] == "sunny"


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"schema": "emostream.frame/2"}, "unsupported version"),
        ({"schema": "emostream.stats/1"}, "expected emostream.frame"),
        ({"camera": 5}, "camera"),
        ({"frame": True}, "frame"),
        ({"captured_at": "now"}, "captured_at"),
        ({"captured_at": 10**400}, "captured_at"),
        ({"faces": {}}, "faces"),
        ({"faces": [FACE | {"box": [0, 0, 1]}]}, "box"),
        ({"faces": [FACE | {"probs": {}}]}, "probs"),
        ({"faces": [FACE | {"id": "3"}]}, "id"),
        ({"faces": [FACE | {"pose": [1, 2, 3]}]}, "pose must be an object"),
        ({"faces": [FACE | {"pose": {"yaw": 1, "pitch": 2}}]}, "pose.roll"),
        ({"faces": [FACE | {"eyes_open": [0.5]}]}, "eyes_open"),
        ({"faces": [FACE | {"mouth_open": "wide"}]}, "mouth_open"),
        ({"faces": [FACE | {"frontal": 1}]}, "frontal"),
        ({"faces": [FACE | {"gaze": [1, 2]}]}, "gaze must be an object"),
        ({"faces": [FACE | {"gaze": {"yaw": 1}}]}, "gaze.pitch"),
    ],
)
def test_invalid_frames_are_refused_with_a_reason(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(MessageError, match=reason):
        schema.decode(b"emostream/lobby", json.dumps(frame_payload() | change).encode())


@pytest.mark.parametrize(
    "payload",
    [
        b"1" * 5000,
        b'{"camera": "x", "captured_at": ' + b"9" * 5000 + b"}",
        b"[" * 100_000,
        b'{"camera": "x", "fps": NaN, "uptime_s": 1}',
        b"\xef\xbb\xbf{}",
        b"",
    ],
)
def test_pathological_payloads_are_refused(payload: bytes) -> None:
    for topic in TOPICS:
        with pytest.raises(MessageError):
            schema.decode(topic, payload)


def test_a_label_with_a_line_break_is_named_on_one_line() -> None:
    face = FACE | {"probs": {"angry\nor not": None}}
    with pytest.raises(MessageError, match=r"probs\['angry\\nor not'\] must be") as caught:
        schema.decode(b"emostream/lobby", json.dumps(frame_payload() | {"faces": [face]}).encode())
    assert "\n" not in str(caught.value)


def test_encode_refuses_numbers_no_reader_could_parse() -> None:
    with pytest.raises(ValueError):
        schema.encode(frame_payload() | {"captured_at": math.nan})


@settings(deadline=None, max_examples=200)
@given(topic=st.binary(max_size=40) | st.sampled_from(TOPICS), payload=st.binary(max_size=200))
def test_any_bytes_decode_or_raise_message_error(topic: bytes, payload: bytes) -> None:
    decodes_or_refuses(topic, payload)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(deadline=None, max_examples=200)
@given(topic=st.sampled_from(TOPICS), value=JSON)
def test_any_json_decodes_or_raises_message_error(topic: bytes, value: Any) -> None:
    decodes_or_refuses(topic, json.dumps(value).encode())


FRAME_FIELDS = [*frame_payload(), "extra"]
FACE_FIELDS = [*FACE, "extra"]


@settings(deadline=None, max_examples=300)
@given(
    base=st.sampled_from(["frame", "stats"]),
    field=st.sampled_from([*FRAME_FIELDS, "fps", "uptime_s"]),
    face_field=st.sampled_from(FACE_FIELDS),
    value=JSON,
    in_face=st.booleans(),
)
def test_a_valid_message_with_one_field_replaced_never_breaks_decode(
    base: str, field: str, face_field: str, value: Any, in_face: bool
) -> None:
    payload = frame_payload() if base == "frame" else stats_payload()
    topic = b"emostream/lobby" if base == "frame" else b"emostream/lobby/stats"
    if in_face and base == "frame":
        payload["faces"][0] = FACE | {face_field: value}
    else:
        payload[field] = value
    decodes_or_refuses(topic, json.dumps(payload).encode())
