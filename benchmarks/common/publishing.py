"""A real ZeroMQ bus on loopback for the benchmarks, and the cost of publishing one message.

The pipeline publishes through :class:`stream.publish.publisher.Publisher` into a subscriber
that drains it on its own thread, so every message really crosses a TCP socket. The sink records
each frame payload as it passes; replaying those payloads afterwards times ``schema.encode`` plus
the send on their own, message by message, on the same socket.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import zmq

from benchmarks.common.stats import RssSampler
from stream.publish import schema
from stream.publish.publisher import Publisher

SUBSCRIBE_TIMEOUT_S = 5.0
POLL_MS = 100


class LoopbackBus:
    """A publisher bound to a free loopback port and one subscriber that reads everything."""

    def __init__(self) -> None:
        self.publisher = Publisher("tcp://127.0.0.1:*", sndhwm=1000)
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, name="bench-subscriber", daemon=True)
        self._thread.start()
        if not self.publisher.wait_for_subscribers(1, SUBSCRIBE_TIMEOUT_S):
            self.close()
            raise RuntimeError(f"no subscription reached the publisher in {SUBSCRIBE_TIMEOUT_S} s")

    def _drain(self) -> None:
        context = zmq.Context()
        socket = context.socket(zmq.SUB)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.RCVHWM, 10000)
        socket.connect(self.publisher.endpoint)
        socket.setsockopt(zmq.SUBSCRIBE, schema.TOPIC_PREFIX.encode())
        try:
            while not self._stop.is_set():
                if not socket.poll(POLL_MS):
                    continue
                while True:
                    try:
                        socket.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self.received += 1
        finally:
            socket.close()
            context.term()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self.publisher.close()

    def __enter__(self) -> LoopbackBus:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


@dataclass
class RecordingSink:
    """The pipeline's sink: sends through the bus, keeps each frame payload, samples memory."""

    publisher: Publisher
    frame_topic: bytes
    payloads: list[bytes] = field(default_factory=list)
    rss: RssSampler = field(default_factory=RssSampler)

    @property
    def dropped(self) -> int:
        return self.publisher.dropped

    def send(self, topic: bytes, payload: bytes) -> bool:
        if topic == self.frame_topic:
            self.payloads.append(payload)
            self.rss.sample()
        return self.publisher.send(topic, payload)


@dataclass
class PublishCost:
    encode_ms: list[float]
    send_ms: list[float]
    sizes: list[int]

    @property
    def total_ms(self) -> list[float]:
        return [e + s for e, s in zip(self.encode_ms, self.send_ms, strict=True)]


def replay(bus: LoopbackBus, topic: bytes, messages: list[dict[str, Any]]) -> PublishCost:
    """Time ``schema.encode`` and the non-blocking send of each message, one at a time."""
    encode_ms: list[float] = []
    send_ms: list[float] = []
    sizes: list[int] = []
    for message in messages:
        t0 = time.perf_counter()
        payload = schema.encode(message)
        t1 = time.perf_counter()
        bus.publisher.send(topic, payload)
        t2 = time.perf_counter()
        encode_ms.append((t1 - t0) * 1000.0)
        send_ms.append((t2 - t1) * 1000.0)
        sizes.append(len(payload))
    return PublishCost(encode_ms, send_ms, sizes)


def decode_payloads(payloads: list[bytes]) -> list[dict[str, Any]]:
    return [json.loads(payload) for payload in payloads]
