"""The fan-in/fan-out hub: many pipelines publish into it, many dashboards subscribe from it.

Pipelines ``--connect`` their publisher to the XSUB frontend; subscribers connect to the XPUB
backend, whose per-subscriber queues drop for a slow reader without holding back the rest.
Subscriptions travel the other way, so pipelines only send what someone asked for.

A poll loop instead of ``zmq.proxy``: it lets :meth:`Broker.stop` end the loop from another thread
or a signal handler, and it drops (and counts) messages that are not ``[topic, payload]`` instead
of passing them on. Payloads are forwarded untouched; checking them is the subscribers' job.
"""

from __future__ import annotations

import logging
import threading
import time

import zmq

from stream.publish.closable import Closable
from stream.publish.publisher import attach

log = logging.getLogger(__name__)

_LINGER_MS = 500
_POLL_SLICE_MS = 100
_WARN_INTERVAL_S = 1.0


class Broker(Closable):
    """Binds both sides at construction (so bind errors surface at once); :meth:`run` forwards."""

    def __init__(
        self,
        frontend: str = "tcp://127.0.0.1:5555",
        backend: str = "tcp://127.0.0.1:5556",
    ) -> None:
        self.forwarded = 0
        self.malformed = 0
        self._last_warning = -_WARN_INTERVAL_S
        self._stopping = threading.Event()
        self._drain_s = 0.0
        self._context = zmq.Context()
        self._frontend = self._context.socket(zmq.XSUB)
        self._backend = self._context.socket(zmq.XPUB)
        for socket in (self._frontend, self._backend):
            socket.setsockopt(zmq.LINGER, _LINGER_MS)
        try:
            self.frontend = attach(self._frontend, frontend, connect=False)
            self.backend = attach(self._backend, backend, connect=False)
        except BaseException:
            self.close()
            raise

    def run(self) -> None:
        """Forward until :meth:`stop` is called (from any thread, or a signal handler)."""
        log.info("broker: publishers connect to %s, subscribers to %s", self.frontend, self.backend)
        poller = zmq.Poller()
        poller.register(self._frontend, zmq.POLLIN)
        poller.register(self._backend, zmq.POLLIN)
        last_message = time.monotonic()
        while True:
            ready = dict(poller.poll(_POLL_SLICE_MS))
            if self._frontend in ready:
                self._forward_messages()
                last_message = time.monotonic()
            if self._backend in ready:
                self._forward_subscriptions()
            if self._stopping.is_set() and time.monotonic() - last_message >= self._drain_s:
                break
        log.info("broker stopped: %d forwarded, %d malformed", self.forwarded, self.malformed)

    def _forward_messages(self) -> None:
        while int(self._frontend.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
            frames = self._frontend.recv_multipart(zmq.NOBLOCK, copy=False)
            if len(frames) != 2:
                self._drop(len(frames))
                continue
            self._backend.send_multipart(frames, zmq.NOBLOCK, copy=False)
            self.forwarded += 1

    def _drop(self, frames: int) -> None:
        self.malformed += 1
        now = time.monotonic()
        if now - self._last_warning >= _WARN_INTERVAL_S:
            self._last_warning = now
            log.warning(
                "dropped a %d-frame message, expected [topic, payload] (%d dropped so far)",
                frames,
                self.malformed,
            )

    def _forward_subscriptions(self) -> None:
        while int(self._backend.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
            self._frontend.send(self._backend.recv(zmq.NOBLOCK), zmq.NOBLOCK)

    def stop(self, drain_s: float = 0.0) -> None:
        """End :meth:`run`; with ``drain_s``, only once no message came for that long, so what
        publishers sent just before they closed still reaches the subscribers."""
        self._drain_s = drain_s
        self._stopping.set()

    def close(self) -> None:
        for socket in (self._frontend, self._backend):
            if not socket.closed:
                socket.close()
        self._context.term()
