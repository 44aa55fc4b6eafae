"""Subscriber and broker on real sockets; ``emostream subscribe`` and ``broker`` as processes."""

from __future__ import annotations

import json
import logging
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from stream.commands.subscribe import format_row
from stream.errors import PublishError
from stream.publish import schema
from stream.publish.broker import Broker
from stream.publish.publisher import Publisher
from stream.publish.subscriber import Message, Subscriber

REPO = Path(__file__).resolve().parents[1]
ANY_PORT = "tcp://127.0.0.1:*"
WAIT_S = 10.0
PROCESS_WAIT_S = 60.0


def frame(n: int, camera: str = "lobby", label: str = "happy") -> tuple[bytes, bytes]:
    face = {
        "id": 3,
        "box": [0.1, 0.2, 0.3, 0.4],
        "score": 0.93,
        "label": label,
        "confidence": 0.81,
        "probs": {label: 0.81, "neutral": 0.19},
        "quality": 0.64,
        "uncertain": False,
        "pose": {"yaw": 12.4, "pitch": -4.2, "roll": 1.0},
        "eyes_open": [0.93, 0.88],
        "mouth_open": 0.12,
        "frontal": True,
        "gaze": {"yaw": -3.4, "pitch": 8.0},
    }
    message = schema.frame_message(camera, n, 100.0, 100.1, 640, 360, [face], {"total": 9.0})
    return schema.frame_topic(camera), schema.encode(message)


def stats(camera: str = "lobby") -> tuple[bytes, bytes]:
    message = schema.stats_message(camera, 100.0, 24.8, 480, 3, 0, 1, 19.4, "running")
    return schema.stats_topic(camera), schema.encode(message)


MALFORMED = [
    [b"emostream/lobby"],
    [b"emostream/lobby", b"{}", b"extra"],
    [b"emostream/lobby", b"not json"],
    [b"emostream/lobby", b"\xff\xfe"],
    [b"emostream/lobby", frame(0)[1].replace(b"emostream.frame/1", b"emostream.frame/2")],
]


@pytest.fixture
def raw_publisher() -> Iterator[zmq.Socket]:
    """A bare XPUB that can send anything, including messages our Publisher never would."""
    sock = zmq.Context.instance().socket(zmq.XPUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(ANY_PORT)
    yield sock
    sock.close()


def await_subscription(sock: zmq.Socket, timeout: float = WAIT_S) -> None:
    assert sock.poll(int(timeout * 1000)), "no subscription arrived"
    sock.recv()


def free_endpoint() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


def endpoint_of(sock: zmq.Socket) -> str:
    return sock.getsockopt_string(zmq.LAST_ENDPOINT)


def test_malformed_messages_are_counted_and_skipped(
    raw_publisher: zmq.Socket, caplog: pytest.LogCaptureFixture
) -> None:
    with Subscriber(endpoint_of(raw_publisher)) as subscriber:
        await_subscription(raw_publisher)
        for frames in MALFORMED:
            raw_publisher.send_multipart(frames)
        raw_publisher.send_multipart(frame(9))
        with caplog.at_level(logging.WARNING):
            message = subscriber.receive(timeout=WAIT_S)
    assert message is not None and message.payload["frame"] == 9
    assert subscriber.malformed == len(MALFORMED)
    assert subscriber.received == 1
    assert "malformed" in caplog.text


def test_topics_filter_and_stats_are_told_apart(raw_publisher: zmq.Socket) -> None:
    with Subscriber(endpoint_of(raw_publisher), ["emostream/door"]) as subscriber:
        await_subscription(raw_publisher)
        raw_publisher.send_multipart(frame(1, camera="lobby"))
        raw_publisher.send_multipart(stats(camera="door"))
        raw_publisher.send_multipart(frame(2, camera="door"))
        first, second = subscriber.receive(WAIT_S), subscriber.receive(WAIT_S)
        assert subscriber.receive(timeout=0.2) is None
    assert first is not None and first.is_stats and first.payload["fps"] == 24.8
    assert second is not None and not second.is_stats and second.payload["camera"] == "door"


def test_messages_end_after_the_idle_timeout(raw_publisher: zmq.Socket) -> None:
    with Subscriber(endpoint_of(raw_publisher)) as subscriber:
        await_subscription(raw_publisher)
        raw_publisher.send_multipart(frame(1))
        assert [m.payload["frame"] for m in subscriber.messages(idle_timeout=0.5)] == [1]


def test_subscriber_endpoint_errors_are_one_line() -> None:
    with pytest.raises(PublishError, match="cannot connect to bogus://x") as caught:
        Subscriber("bogus://x")
    assert "\n" not in str(caught.value)


@pytest.fixture
def broker() -> Iterator[Broker]:
    hub = Broker(ANY_PORT, ANY_PORT)
    runner = threading.Thread(target=hub.run, daemon=True)
    runner.start()
    yield hub
    hub.stop()
    runner.join(WAIT_S)
    assert not runner.is_alive(), "broker did not stop"
    hub.close()


def test_broker_forwards_two_publishers_to_a_subscriber(broker: Broker) -> None:
    with (
        Publisher(broker.frontend, connect=True) as lobby,
        Publisher(broker.frontend, connect=True) as door,
        Subscriber(broker.backend) as subscriber,
    ):
        assert lobby.wait_for_subscribers(1, timeout=WAIT_S)
        assert door.wait_for_subscribers(1, timeout=WAIT_S)
        assert lobby.send(*frame(1, camera="lobby"))
        assert door.send(*frame(2, camera="door"))
        received = {subscriber.receive(WAIT_S).payload["camera"] for _ in range(2)}
    assert received == {"lobby", "door"}
    assert broker.forwarded == 2


def test_broker_drops_messages_that_are_not_topic_and_payload(broker: Broker) -> None:
    raw = zmq.Context.instance().socket(zmq.XPUB)
    raw.setsockopt(zmq.LINGER, 0)
    raw.connect(broker.frontend)
    with Subscriber(broker.backend) as subscriber:
        await_subscription(raw)
        raw.send_multipart([b"emostream/lobby", b"{}", b"third frame"])
        raw.send_multipart([b"emostream/lobby"])
        raw.send_multipart(frame(5))
        message = subscriber.receive(WAIT_S)
    raw.close()
    assert message is not None and message.payload["frame"] == 5
    assert broker.malformed == 2
    assert subscriber.malformed == 0


def test_broker_refuses_one_endpoint_for_both_sides() -> None:
    endpoint = free_endpoint()
    with pytest.raises(PublishError, match="in use"):
        Broker(endpoint, endpoint)


def emostream(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "stream", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = PROCESS_WAIT_S) -> tuple[str, str]:
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise


def test_subscribe_json_count_prints_every_message_and_exits() -> None:
    with Publisher(ANY_PORT) as publisher:
        process = emostream("subscribe", publisher.endpoint, "--json", "--count", "2")
        assert publisher.wait_for_subscribers(1, timeout=PROCESS_WAIT_S)
        for message in (stats(), frame(1), frame(2), frame(3)):
            publisher.send(*message)
        out, err = finish(process)
    assert process.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["topic"] for line in lines] == ["emostream/lobby/stats"] + ["emostream/lobby"] * 2
    assert [line["payload"].get("frame") for line in lines] == [None, 1, 2]
    assert lines[1]["payload"]["faces"][0]["label"] == "happy"


def test_subscribe_prints_a_readable_row_per_frame() -> None:
    with Publisher(ANY_PORT) as publisher:
        process = emostream("subscribe", publisher.endpoint, "--count", "1")
        assert publisher.wait_for_subscribers(1, timeout=PROCESS_WAIT_S)
        publisher.send(*stats())
        publisher.send(*frame(42, label="surprise"))
        out, err = finish(process)
    assert process.returncode == 0, err
    header, row = out.splitlines()
    assert "CAMERA" in header and "FPS" in header
    assert row.split()[:3] == ["lobby", "42", "24.8"]
    assert "#3 surprise 0.81 q0.64 yaw+12 pitch-4 eyes 0.9/0.9 mouth 0.1 gaze-3/+8" in row
    assert "away" not in row


def test_a_face_turned_away_reads_away_and_a_face_without_the_mesh_reads_as_before() -> None:
    payload = json.loads(frame(7)[1])
    face = payload["faces"][0]
    turned = face | {"frontal": False, "uncertain": True}
    bare = {k: v for k, v in face.items() if k not in ("pose", "eyes_open", "mouth_open", "gaze")}
    rows = [format_row(Message("emostream/lobby", payload | {"faces": [f]}), {})
            for f in (turned, bare | {"frontal": None})]  # fmt: skip
    assert rows[0].endswith(
        "#3 happy? 0.81 q0.64 yaw+12 pitch-4 eyes 0.9/0.9 mouth 0.1 gaze-3/+8 away"
    )
    assert rows[1].endswith("#3 happy 0.81 q0.64")


def test_subscribe_skips_a_malformed_message_with_a_warning(raw_publisher: zmq.Socket) -> None:
    process = emostream("subscribe", endpoint_of(raw_publisher), "--json", "--count", "1")
    await_subscription(raw_publisher, PROCESS_WAIT_S)
    raw_publisher.send_multipart([b"emostream/lobby", b"{not json"])
    raw_publisher.send_multipart(frame(7))
    out, err = finish(process)
    assert process.returncode == 0, err
    assert json.loads(out)["payload"]["frame"] == 7
    assert "malformed" in err
    assert "Traceback" not in err


def test_subscribe_times_out_with_status_1_and_one_line() -> None:
    process = emostream("subscribe", free_endpoint(), "--timeout", "0.5")
    out, err = finish(process)
    assert process.returncode == 1
    assert out.splitlines()[0].startswith("CAMERA")
    assert err.strip().count("\n") == 0
    assert "no message" in err


@pytest.mark.parametrize(
    "args",
    [
        ["subscribe", "bogus://x"],
        ["subscribe", "tcp://127.0.0.1:5556", "--count", "0"],
        ["broker", "--frontend", "tcp://127.0.0.1", "--backend", "tcp://127.0.0.1:*"],
    ],
)
def test_bad_arguments_are_one_line_and_non_zero(args: list[str]) -> None:
    process = emostream(*args)
    _, err = finish(process)
    assert process.returncode != 0
    assert err.strip().count("\n") == 0, err
    assert "error" in err
    assert "Traceback" not in err


def test_broker_command_forwards_and_stops_cleanly_on_sigterm() -> None:
    frontend, backend = free_endpoint(), free_endpoint()
    process = emostream("-v", "broker", "--frontend", frontend, "--backend", backend)
    try:
        with (
            Publisher(frontend, connect=True) as publisher,
            Subscriber(backend) as subscriber,
        ):
            assert publisher.wait_for_subscribers(1, timeout=PROCESS_WAIT_S)
            publisher.send(*frame(11))
            message = subscriber.receive(WAIT_S)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = finish(process)
    assert message is not None and message.payload["frame"] == 11
    assert process.returncode == 0, err
    assert "broker stopped: 1 forwarded, 0 malformed" in err
    assert "Traceback" not in err


def test_broker_command_port_in_use_is_one_line() -> None:
    with Publisher(ANY_PORT) as publisher:
        process = emostream("broker", "--frontend", publisher.endpoint, "--backend", ANY_PORT)
        _, err = finish(process)
    assert process.returncode != 0
    assert err.strip().count("\n") == 0, err
    assert "in use" in err
