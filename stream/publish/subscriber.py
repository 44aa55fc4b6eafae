"""Reads emostream messages off the bus: checked against the schema, bad ones skipped and counted.

A subscriber lives on the far side of a network from publishers it does not control, so anything
that is not a valid message (wrong frame count, bad JSON, an unknown schema version) is logged and
skipped; it never ends the reader.

A publisher drops the messages of a subscriber that falls behind, for that subscriber alone, and
ZeroMQ does not count them; each subscriber counts its own from the gaps in a camera's frame
numbers (:attr:`Subscriber.missed`). A gap also counts frames a live source dropped before
publishing them, which the heartbeat reports as ``dropped_source``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from stream.errors import PublishError
from stream.publish.closable import Closable
from stream.publish.curve import secure_client
from stream.publish.publisher import attach
from stream.publish.schema import (
    PREVIEW_SUFFIX,
    STATS_SUFFIX,
    TOPIC_PREFIX,
    MessageError,
    decode,
)

log = logging.getLogger(__name__)

_POLL_SLICE_S = 0.1
_WARN_INTERVAL_S = 1.0


class FrameGaps:
    """Frame numbers skipped per camera in what one reader received: what it missed."""

    def __init__(self) -> None:
        self.missed: dict[str, int] = {}
        self._last: dict[str, int] = {}

    def observe(self, camera: str, frame: int) -> int:
        """Record one received frame number; returns how many were skipped just before it."""
        last = self._last.get(camera)
        self._last[camera] = frame  # a lower number: the camera restarted
        gap = frame - last - 1 if last is not None and frame > last + 1 else 0
        if gap:
            self.missed[camera] = self.missed.get(camera, 0) + gap
        return gap


@dataclass(frozen=True)
class Message:
    """One valid message: its topic and its decoded JSON payload."""

    topic: str
    payload: dict[str, Any]

    @property
    def is_stats(self) -> bool:
        return self.topic.endswith(STATS_SUFFIX)


class Subscriber(Closable):
    """A SUB socket connected to a publisher or broker, filtered to ``topics`` prefixes.

    Waits are cut into short polls, so Ctrl-C is felt at once and a caller that passes a timeout
    gets control back to check its own stop condition.
    """

    def __init__(
        self,
        endpoint: str,
        topics: Sequence[str] = (TOPIC_PREFIX,),
        *,
        curve_secret: Path | None = None,
        curve_server_key: Path | None = None,
    ) -> None:
        if (curve_secret is None) != (curve_server_key is None):
            raise PublishError("CURVE needs both the client secret key and the server public key")
        self.malformed = 0
        self.received = 0
        self._gaps = FrameGaps()
        self._last_warning = -_WARN_INTERVAL_S
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.SUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        try:
            if curve_secret is not None and curve_server_key is not None:
                secure_client(self._socket, curve_secret, curve_server_key)
            for topic in topics:
                self._socket.setsockopt(zmq.SUBSCRIBE, topic.encode())
            self.endpoint = attach(self._socket, endpoint, connect=True)
        except BaseException:
            self.close()
            raise

    def receive(self, timeout: float | None = None) -> Message | None:
        """The next valid message, or None when none arrived within ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = _POLL_SLICE_S if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return None
            if not self._socket.poll(int(min(remaining, _POLL_SLICE_S) * 1000), zmq.POLLIN):
                continue
            message = self._parse(self._socket.recv_multipart(zmq.NOBLOCK))
            if message is not None:
                self.received += 1
                if not message.is_stats:
                    self._gaps.observe(message.payload["camera"], message.payload["frame"])
                return message

    @property
    def missed(self) -> dict[str, int]:
        """Camera → frame numbers skipped in what arrived here."""
        return self._gaps.missed

    def messages(self, idle_timeout: float | None = None) -> Iterator[Message]:
        """Valid messages as they arrive; ends when none came for ``idle_timeout`` seconds."""
        while (message := self.receive(idle_timeout)) is not None:
            yield message

    def _parse(self, frames: list[bytes]) -> Message | None:
        if len(frames) == 2 and frames[0].endswith(PREVIEW_SUFFIX.encode()):
            return None  # JPEG previews are for dashboards, not for JSON readers
        try:
            if len(frames) != 2:
                raise MessageError(f"{len(frames)} frames, expected [topic, payload]")
            payload = decode(frames[0], frames[1])
        except MessageError as exc:
            self.malformed += 1
            now = time.monotonic()
            if now - self._last_warning >= _WARN_INTERVAL_S:
                self._last_warning = now
                log.warning(
                    "skipped a malformed message on %r: %s (%d skipped so far)",
                    frames[0][:80],
                    exc,
                    self.malformed,
                )
            return None
        return Message(topic=frames[0].decode(), payload=payload)

    def close(self) -> None:
        if not self._socket.closed:
            self._socket.close()
        self._context.term()
