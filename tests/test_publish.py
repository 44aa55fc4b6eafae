"""The publisher on real loopback sockets: round trip, slow joiners, counted drops, errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zmq

from stream.errors import PublishError
from stream.publish import schema
from stream.publish.publisher import Publisher
from stream.publish.subscriber import Message, Subscriber

ANY_PORT = "tcp://127.0.0.1:*"
WAIT_S = 10.0


def frame(n: int, camera: str = "lobby") -> tuple[bytes, bytes]:
    face = {
        "id": 3,
        "box": [0.1, 0.2, 0.3, 0.4],
        "score": 0.93,
        "label": "happy",
        "confidence": 0.81,
        "probs": {"happy": 0.81, "neutral": 0.19},
        "quality": 0.64,
        "uncertain": False,
    }
    message = schema.frame_message(camera, n, 100.0 + n, 100.1 + n, 640, 360, [face], {"total": 9})
    return schema.frame_topic(camera), schema.encode(message)


def bounded(call: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    """Run ``call`` in a thread; fail the test (instead of hanging it) if it does not return."""
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(call()), daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), f"still blocked after {timeout} s"
    return result[0]


def stalled_subscriber(endpoint: str) -> zmq.Socket:
    """A subscriber that holds at most one message and never reads: the worst kind of reader."""
    socket = zmq.Context.instance().socket(zmq.SUB)
    socket.setsockopt(zmq.RCVHWM, 1)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.SUBSCRIBE, schema.TOPIC_PREFIX.encode())
    socket.connect(endpoint)
    return socket


def test_a_frame_message_makes_the_round_trip() -> None:
    with Publisher(ANY_PORT) as publisher, Subscriber(publisher.endpoint) as subscriber:
        assert publisher.endpoint.startswith("tcp://127.0.0.1:")
        assert not publisher.endpoint.endswith("*")
        assert publisher.wait_for_subscribers(1, timeout=WAIT_S)
        topic, payload = frame(7)
        assert publisher.send(topic, payload)
        message = subscriber.receive(timeout=WAIT_S)
    assert message == Message("emostream/lobby", schema.decode(topic, payload))
    assert message.payload["faces"][0]["label"] == "happy"
    assert not message.is_stats
    assert (publisher.sent, publisher.dropped) == (1, 0)


def test_waiting_for_subscribers_lets_a_late_subscriber_see_the_first_frame() -> None:
    received: list[int] = []

    def late_subscriber(endpoint: str) -> None:
        with Subscriber(endpoint) as subscriber:
            while len(received) < 50 and (message := subscriber.receive(WAIT_S)) is not None:
                received.append(message.payload["frame"])

    with Publisher(ANY_PORT, wait_subscribers=1) as publisher:
        reader = threading.Thread(target=late_subscriber, args=(publisher.endpoint,), daemon=True)
        reader.start()
        assert publisher.wait_for_subscribers(timeout=WAIT_S)
        for n in range(50):
            assert publisher.send(*frame(n))
        reader.join(WAIT_S)
        assert not reader.is_alive()
    assert received == list(range(50))


def test_waiting_ends_on_timeout_or_when_cancelled() -> None:
    with Publisher(ANY_PORT) as publisher:
        assert publisher.wait_for_subscribers(0, timeout=0)
        assert not publisher.wait_for_subscribers(1, timeout=0.2)
        assert not bounded(lambda: publisher.wait_for_subscribers(1, cancelled=lambda: True))


def test_subscriptions_follow_subscribers_joining_and_leaving() -> None:
    with Publisher(ANY_PORT) as publisher:
        first = Subscriber(publisher.endpoint)
        second = Subscriber(publisher.endpoint, ["emostream/a", "emostream/b"])
        assert publisher.wait_for_subscribers(3, timeout=WAIT_S)
        second.close()
        deadline = time.monotonic() + WAIT_S
        while publisher.subscriptions != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert publisher.subscriptions == 1
        first.close()


def test_without_subscribers_every_send_is_accepted_and_discarded() -> None:
    with Publisher(ANY_PORT) as publisher:
        topic, payload = frame(1)
        assert all(bounded(lambda: [publisher.send(topic, payload) for _ in range(2000)]))
        assert (publisher.sent, publisher.dropped) == (2000, 0)


def test_a_stalled_subscriber_never_blocks_send_and_costs_a_reading_one_nothing() -> None:
    total, batch = 3000, 100
    with Publisher(ANY_PORT, sndhwm=200) as publisher, Subscriber(publisher.endpoint) as reader:
        stalled = stalled_subscriber(publisher.endpoint)
        assert publisher.wait_for_subscribers(2, timeout=WAIT_S)
        got: list[int] = []

        def read() -> None:
            while len(got) < total and (message := reader.receive(timeout=WAIT_S)) is not None:
                got.append(message.payload["frame"])

        worker = threading.Thread(target=read, daemon=True)
        worker.start()
        for start in range(0, total, batch):
            for n in range(start, start + batch):
                topic, payload = frame(n)
                # A field no reader knows, to make each message big enough to fill the stalled
                # subscriber's socket buffers within the first batches.
                padded = payload[:-1] + b',"padding":"' + b"x" * 16384 + b'"}'
                assert bounded(lambda t=topic, p=padded: publisher.send(t, p))
            deadline = time.monotonic() + WAIT_S
            while len(got) < start + batch and time.monotonic() < deadline:
                time.sleep(0.001)
        worker.join(WAIT_S)
        stalled_frames = 0
        while stalled.poll(200):
            stalled.recv_multipart()
            stalled_frames += 1
        stalled.close()
    assert got == list(range(total)) and reader.missed == {}
    assert publisher.dropped == 0 and publisher.sent == total
    assert stalled_frames < total, "the stalled subscriber was sent everything: no stall"


def test_subscribers_count_the_frames_they_missed() -> None:
    with Publisher(ANY_PORT) as publisher, Subscriber(publisher.endpoint) as subscriber:
        assert publisher.wait_for_subscribers(1, timeout=WAIT_S)
        for n in (0, 1, 3, 6, 7, 2, 4):  # 2 and 4: the camera restarted its numbering
            publisher.send(*frame(n))
        for _ in range(7):
            assert subscriber.receive(timeout=WAIT_S) is not None
    assert subscriber.missed == {"lobby": 1 + 2 + 1}


def test_close_does_not_hang_with_messages_queued_for_a_stalled_subscriber() -> None:
    publisher = Publisher(ANY_PORT, sndhwm=10)
    stalled = stalled_subscriber(publisher.endpoint)
    assert publisher.wait_for_subscribers(1, timeout=WAIT_S)
    for _ in range(2000):
        publisher.send(b"emostream/lobby", b"x" * 16384)
    bounded(publisher.close, timeout=5.0)
    stalled.close()


def test_an_endpoint_in_use_is_one_clear_line() -> None:
    with Publisher(ANY_PORT) as first, pytest.raises(PublishError) as caught:
        Publisher(first.endpoint)
    assert "cannot bind" in str(caught.value)
    assert "in use" in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("endpoint", ["bogus://x", "tcp://127.0.0.1", "tcp://127.0.0.1:notaport"])
@pytest.mark.parametrize("connect", [False, True])
def test_a_malformed_endpoint_is_one_clear_line(endpoint: str, connect: bool) -> None:
    with pytest.raises(PublishError) as caught:
        Publisher(endpoint, connect=connect)
    assert endpoint in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "options",
    [
        {"sndhwm": 0},
        {"wait_subscribers": -1},
        {"curve_secret": Path("server.key_secret")},
        {"connect": True, "curve_secret": Path("s.key_secret"), "curve_clients": Path("clients")},
    ],
)
def test_unusable_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(PublishError):
        Publisher(ANY_PORT, **options)
