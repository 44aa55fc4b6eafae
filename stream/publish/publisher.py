"""The pipeline's output socket: publishes ``[topic, payload]`` messages and never blocks.

The trade-off, chosen on purpose: a live pipeline must keep its frame rate whoever listens, so a
message that cannot be queued right now is dropped and counted, never waited for. A subscriber that
needs every message (a recorder) must keep up; the publisher will not slow down for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import zmq
from zmq.auth.thread import ThreadAuthenticator

from stream.errors import PublishError
from stream.loopback import endpoint_is_local
from stream.publish.closable import Closable
from stream.publish.curve import secure_server

log = logging.getLogger(__name__)

_LINGER_MS = 500
_POLL_SLICE_S = 0.1


def attach(socket: zmq.Socket, endpoint: str, connect: bool, secured: bool = False) -> str:
    """Bind or connect ``socket``; returns the actual endpoint (``tcp://127.0.0.1:*`` resolved).

    Binding beyond loopback without CURVE (``secured``) works, and says loudly that anyone who
    reaches the port reads every face's expression.
    """
    verb = "connect to" if connect else "bind"
    try:
        if connect:
            socket.connect(endpoint)
        else:
            socket.bind(endpoint)
    except zmq.ZMQError as exc:
        raise PublishError(f"cannot {verb} {endpoint}: {exc.strerror}") from None
    bound = socket.getsockopt_string(zmq.LAST_ENDPOINT)
    if not connect and not secured and not endpoint_is_local(bound):
        log.warning(
            "%s is open to the network without CURVE: anyone who reaches it reads the labels "
            "(emostream keys makes a key pair; see the README's privacy section)",
            bound,
        )
    return bound


class Publisher(Closable):
    """An XPUB socket with a bounded queue per subscriber that drops, rather than blocks.

    Each subscriber has its own queue of ``sndhwm`` messages. When one subscriber stalls, its
    queue fills and ZeroMQ drops the messages meant for it, and only for it: every other
    subscriber keeps getting every message, and the pipeline never waits. ZeroMQ keeps no count
    of those drops, so they are counted where they can be seen: by each subscriber, as gaps in
    the frame numbers it receives (``Subscriber.missed``; the dashboard shows them as "missed
    here"). :attr:`dropped` counts only what the socket itself refused, which a bound publisher
    does not do. (``XPUB_NODROP``, which would make a full queue refuse the message, refuses it
    for every subscriber at once: one stalled reader would starve all the others.)

    XPUB also reports subscriptions, which solves ZeroMQ's slow-joiner problem: a file streamed
    at full speed loses its first frames to a subscriber that is still connecting, unless the
    publisher first calls :meth:`wait_for_subscribers`.

    Each publisher has its own ZeroMQ context, so its CURVE authenticator governs only it.
    """

    def __init__(
        self,
        endpoint: str = "tcp://127.0.0.1:5556",
        *,
        connect: bool = False,
        sndhwm: int = 100,
        wait_subscribers: int = 0,
        curve_secret: Path | None = None,
        curve_clients: Path | None = None,
    ) -> None:
        if sndhwm < 1:
            raise PublishError(f"send queue length must be at least 1, got {sndhwm}")
        if wait_subscribers < 0:
            raise PublishError(f"subscribers to wait for must be >= 0, got {wait_subscribers}")
        if (curve_secret is None) != (curve_clients is None):
            raise PublishError("CURVE needs both the server secret key and the client key folder")
        if connect and curve_secret is not None:
            raise PublishError("CURVE is for a bound publisher; a broker connection is plaintext")
        self.wait_subscribers = wait_subscribers
        self._sent = 0
        self._dropped = 0
        self._subscriptions = 0
        self._authenticator: ThreadAuthenticator | None = None
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.XPUB)
        self._socket.setsockopt(zmq.LINGER, _LINGER_MS)
        self._socket.setsockopt(zmq.SNDHWM, sndhwm)
        self._socket.setsockopt(zmq.XPUB_VERBOSER, 1)
        try:
            if curve_secret is not None and curve_clients is not None:
                self._authenticator = secure_server(self._socket, curve_secret, curve_clients)
            self._endpoint = attach(
                self._socket, endpoint, connect, secured=self._authenticator is not None
            )
        except BaseException:
            self.close()
            raise
        log.info("publishing on %s (%s)", self._endpoint, "connected" if connect else "bound")

    @property
    def endpoint(self) -> str:
        return self._endpoint

    @property
    def sent(self) -> int:
        """Messages the socket accepted (with no subscriber, accepted and discarded)."""
        return self._sent

    @property
    def dropped(self) -> int:
        """Messages the socket refused outright; per-subscriber drops are the subscribers' count."""
        return self._dropped

    @property
    def subscriptions(self) -> int:
        """Live topic subscriptions: a subscriber with two prefixes counts twice. Through a broker
        this is the number of distinct prefixes its subscribers asked for."""
        self._read_subscriptions()
        return self._subscriptions

    def send(self, topic: bytes, payload: bytes) -> bool:
        """Queue one message; False (and counted in :attr:`dropped`) when it had to be dropped."""
        self._read_subscriptions()
        try:
            self._socket.send_multipart((topic, payload), flags=zmq.NOBLOCK)
        except zmq.Again:
            self._dropped += 1
            return False
        self._sent += 1
        return True

    def wait_for_subscribers(
        self,
        n: int | None = None,
        timeout: float | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> bool:
        """Block until ``n`` subscriptions (default: ``wait_subscribers``) are live; False when
        ``timeout`` seconds pass first or ``cancelled()`` turns true (checked ten times a second,
        for callers whose signal handler only sets a flag). Ctrl-C interrupts the wait."""
        wanted = self.wait_subscribers if n is None else n
        deadline = None if timeout is None else time.monotonic() + timeout
        self._read_subscriptions()
        while self._subscriptions < wanted:
            remaining = _POLL_SLICE_S if deadline is None else deadline - time.monotonic()
            if remaining <= 0 or (cancelled is not None and cancelled()):
                return False
            if self._socket.poll(int(min(remaining, _POLL_SLICE_S) * 1000), zmq.POLLIN):
                self._read_subscriptions()
        return True

    def _read_subscriptions(self) -> None:
        while int(self._socket.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
            message = self._socket.recv(zmq.NOBLOCK)
            if message[:1] == b"\x01":
                self._subscriptions += 1
            elif message[:1] == b"\x00":
                self._subscriptions = max(0, self._subscriptions - 1)

    def close(self) -> None:
        """Close within the linger time (half a second) even with messages still queued."""
        if not self._socket.closed:
            self._socket.close()
        if self._authenticator is not None:
            self._authenticator.stop()
            self._authenticator = None
        self._context.term()
