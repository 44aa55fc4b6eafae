"""The dashboard's ZeroMQ SUB socket: messages from the bus into a :class:`DashboardState`.

PUB/SUB never makes the publisher wait: when the dashboard falls behind, the messages meant for
it are dropped at the publisher's high-water mark, for it alone, and the frame-number gaps show
up as "missed here" on the page. Handling a
message is cheap and never awaits, so the dashboard keeps up. A malformed message is counted and
skipped; nothing that arrives on the socket can end the loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from stream.dashboard.state import PREVIEW_SUFFIX, DashboardState, camera_of_topic
from stream.errors import PublishError
from stream.publish.curve import secure_client
from stream.publish.publisher import attach
from stream.publish.schema import MessageError, decode

logger = logging.getLogger(__name__)

JPEG_MAGIC = b"\xff\xd8\xff"
MAX_PREVIEW_BYTES = 2 * 1024 * 1024
WARN_EVERY_S = 10.0


def handle(frames: list[bytes], state: DashboardState, now: float) -> None:
    """Apply one multipart message to the state, or count it as malformed."""
    topic = frames[0] if frames else b""
    if len(frames) != 2:
        state.reject(topic, f"expected 2 frames [topic, payload], got {len(frames)}", now)
        return
    payload = frames[1]
    if topic.endswith(PREVIEW_SUFFIX.encode()):
        _handle_preview(topic, payload, state, now)
        return
    try:
        message = decode(topic, payload)
    except MessageError as exc:
        state.reject(topic, str(exc), now)
        return
    state.add_message(topic, message, now)


def _handle_preview(topic: bytes, payload: bytes, state: DashboardState, now: float) -> None:
    try:
        camera = camera_of_topic(topic.decode())
    except UnicodeDecodeError:
        camera = None
    if not camera:
        state.reject(topic, "preview topic is not emostream/<camera>/preview", now)
    elif not payload.startswith(JPEG_MAGIC) or len(payload) > MAX_PREVIEW_BYTES:
        state.reject(topic, f"preview is not a JPEG under {MAX_PREVIEW_BYTES} bytes", now)
    else:
        state.add_preview(camera, payload, now)


class Feed:
    """One SUB socket connected to one endpoint, with a monitor that tracks the connection."""

    def __init__(
        self,
        endpoint: str,
        topics: Iterable[str],
        *,
        curve_secret: Path | None = None,
        curve_server_key: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if (curve_secret is None) != (curve_server_key is None):
            raise PublishError("CURVE needs both the client secret key and the server public key")
        self.endpoint = endpoint
        self.topics = list(topics)
        self.curve_secret = curve_secret
        self.curve_server_key = curve_server_key
        self.clock = clock
        self._context: zmq.asyncio.Context | None = None
        self._socket: zmq.asyncio.Socket | None = None
        self._monitor: zmq.asyncio.Socket | None = None
        self._last_warning = 0.0

    def open(self) -> None:
        """Create and connect the socket now, so bad keys or a bad endpoint are reported before
        the page is served."""
        self._context = zmq.asyncio.Context()
        sock = self._socket = self._context.socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RECONNECT_IVL, 200)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
        try:
            if self.curve_secret is not None and self.curve_server_key is not None:
                secure_client(sock, self.curve_secret, self.curve_server_key)
            for topic in self.topics:
                sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
            self._monitor = sock.get_monitor_socket()
            attach(sock, self.endpoint, connect=True)
        except PublishError:
            self.close()
            raise

    async def run(self, state: DashboardState, on_change: Callable[[], None]) -> None:
        """Receive until cancelled; ``on_change`` is called after every message or link event."""
        if self._socket is None:
            self.open()
        await asyncio.gather(self._receive(state, on_change), self._watch(state, on_change))

    async def _receive(self, state: DashboardState, on_change: Callable[[], None]) -> None:
        assert self._socket is not None
        while True:
            frames = await self._socket.recv_multipart()
            now = self.clock()
            before = state.malformed
            try:
                handle(frames, state, now)
            except Exception as exc:  # a bug here must cost one message, not the dashboard
                logger.exception("could not apply a message")
                state.reject(frames[0], f"internal error: {exc.__class__.__name__}", now)
            if state.malformed != before and now - self._last_warning >= WARN_EVERY_S:
                self._last_warning = now
                bad = state.last_malformed or {}
                logger.warning(
                    "skipped a malformed message on %r: %s (%d so far)",
                    bad.get("topic"),
                    bad.get("reason"),
                    state.malformed,
                )
            on_change()

    async def _watch(self, state: DashboardState, on_change: Callable[[], None]) -> None:
        assert self._monitor is not None
        while True:
            event = parse_monitor_message(await self._monitor.recv_multipart())["event"]
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                state.set_link(True, "connected")
            elif event == zmq.EVENT_DISCONNECTED:
                state.set_link(False, "publisher went away, reconnecting")
            elif event == zmq.EVENT_CONNECT_RETRIED and not state.link.connected:
                state.set_link(False, "no publisher answering, retrying")
            elif event in (
                zmq.EVENT_HANDSHAKE_FAILED_AUTH,
                zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
                zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
            ):
                detail = "handshake failed: check the CURVE keys on both sides"
                logger.warning("%s: %s", self.endpoint, detail)
                state.set_link(False, detail)
            elif event == zmq.EVENT_MONITOR_STOPPED:
                return
            else:
                continue
            on_change()

    def close(self) -> None:
        for sock in (self._monitor, self._socket):
            if sock is not None:
                sock.close(linger=0)
        if self._context is not None:
            self._context.term()
        self._socket = self._monitor = self._context = None
