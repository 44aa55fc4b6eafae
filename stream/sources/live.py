"""Live video (a camera, an RTSP or HTTP stream): always the newest frame, and back after a loss.

Three threads of concern, kept apart: a reader thread per connection only reads and hands over
frames; the one-slot buffer keeps the newest and counts the frames it overwrote (drop-oldest: a
result about an old frame is worth less than a skipped frame); a supervisor thread connects, notices
a lost or stalled stream and reconnects with the :class:`ReconnectPolicy`. A reader stuck inside a
blocking read is abandoned rather than waited for; it closes its own capture when the read returns.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator

import cv2
import numpy as np

from stream.errors import SourceError
from stream.sources.base import (
    BufferPolicy,
    Frame,
    SourceInfo,
    SourceKind,
    SourceState,
    VideoSource,
)
from stream.sources.reconnect import ReconnectPolicy, StallWatch
from stream.sources.spec import redact

log = logging.getLogger(__name__)

TRANSPORTS = ("tcp", "udp")
_FFMPEG_OPTIONS = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_ENV_LOCK = threading.Lock()
_READER_EXIT_S = 2.0


@contextlib.contextmanager
def _ffmpeg_options(options: str | None) -> Iterator[None]:
    """Set OpenCV's FFmpeg capture options for one open.

    OpenCV reads them only from this process-wide variable, so opens that set it take turns; a
    value the user exported stays, ours comes last so it wins.
    """
    if options is None:
        yield
        return
    with _ENV_LOCK:
        before = os.environ.get(_FFMPEG_OPTIONS)
        os.environ[_FFMPEG_OPTIONS] = f"{before}|{options}" if before else options
        try:
            yield
        finally:
            if before is None:
                del os.environ[_FFMPEG_OPTIONS]
            else:
                os.environ[_FFMPEG_OPTIONS] = before


class _Reader(threading.Thread):
    """Reads one connection until it fails or is abandoned, then releases it."""

    def __init__(
        self,
        capture: cv2.VideoCapture,
        deliver: Callable[[np.ndarray, float], None],
        name: str,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._capture = capture
        self._deliver = deliver
        self.abandoned = threading.Event()

    def run(self) -> None:
        try:
            while not self.abandoned.is_set():
                start = time.perf_counter()
                ok, image = self._capture.read()
                if self.abandoned.is_set() or not ok or image is None:
                    return
                self._deliver(image, (time.perf_counter() - start) * 1000.0)
        finally:
            self._capture.release()


class LiveSource(VideoSource):
    """A camera index or a network stream, read on its own threads; see the module docstring.

    ``read`` returns the newest frame not yet returned, waiting for one if there is none. After
    the reconnect policy has given up it raises :class:`SourceError`. FFmpeg's open and read
    timeouts (``open_timeout``, the policy's ``stall_timeout``) bound every blocking call, so a
    dead server never hangs the source.
    """

    buffer_policy = BufferPolicy.DROP_OLDEST

    def __init__(
        self,
        uri: str,
        *,
        kind: SourceKind,
        reconnect: ReconnectPolicy | None = None,
        transport: str = "tcp",
        open_timeout: float = 10.0,
    ) -> None:
        if transport not in TRANSPORTS:
            choices = " or ".join(TRANSPORTS)
            raise SourceError(f"RTSP transport must be {choices}, not {transport!r}")
        super().__init__(SourceInfo(redact(uri), kind, 0, 0, None, True, None))
        self._uri = uri
        self._policy = reconnect or ReconnectPolicy()
        self._transport = transport
        self._open_timeout = open_timeout
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._failure: str | None = None
        self._index = 0
        self._watch = StallWatch(self._policy.stall_timeout)
        self._stop = threading.Event()
        self._first_try_done = threading.Event()
        self._reader: _Reader | None = None
        self._supervisor = threading.Thread(
            target=self._supervise, name=f"source {self.info.uri}", daemon=True
        )
        self._supervisor.start()
        self._first_try_done.wait(open_timeout + 1.0)

    def _open(self) -> cv2.VideoCapture | None:
        if self.info.kind is SourceKind.CAMERA:
            capture = cv2.VideoCapture(int(self._uri))
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        else:
            timeouts = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                int(self._open_timeout * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                int(self._policy.stall_timeout * 1000),
            ]
            rtsp = self.info.kind is SourceKind.RTSP
            with _ffmpeg_options(f"rtsp_transport;{self._transport}" if rtsp else None):
                capture = cv2.VideoCapture(self._uri, cv2.CAP_FFMPEG, timeouts)
        if not capture.isOpened():
            capture.release()
            return None
        fps = capture.get(cv2.CAP_PROP_FPS)
        self._info = SourceInfo(
            uri=self.info.uri,
            kind=self.info.kind,
            width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            fps=fps if math.isfinite(fps) and 0 < fps <= 1000 else None,
            is_live=True,
            frame_count=None,
        )
        return capture

    def _connect(self, *, first: bool) -> cv2.VideoCapture | None:
        """Try until connected, closed (None) or out of attempts (None, failure recorded)."""
        attempts = 0
        for attempt in self._policy.attempts():
            attempts = attempt
            if not (first and attempt == 1):
                self._set_state(SourceState.RECONNECTING, "cannot connect" if first else "")
                delay = self._policy.delay(attempt - 1 if first else attempt)
                log.warning(
                    "%s: reconnect attempt %s in %.1f s",
                    self.info.uri,
                    self._policy.describe(attempt),
                    delay,
                )
                if self._stop.wait(delay):
                    return None
            capture = self._open()
            if first and attempt == 1:
                self._first_try_done.set()
            if self._stop.is_set():
                if capture is not None:
                    capture.release()
                return None
            if capture is not None:
                return capture
        noun = "attempt" if attempts == 1 else "attempts"
        self._fail(f"{self.info.uri} unreachable after {attempts} {noun}")
        return None

    def _supervise(self) -> None:
        try:
            self._connect_and_read()
        except Exception as exc:
            log.exception("%s: source thread failed", self.info.uri)
            self._fail(f"{self.info.uri}: {exc}")
        finally:
            self._first_try_done.set()
            with self._cond:
                self._cond.notify_all()

    def _connect_and_read(self) -> None:
        capture = self._connect(first=True)
        while capture is not None:
            self._set_state(SourceState.RUNNING)
            reason = self._run_connection(capture)
            if self._stop.is_set():
                break
            self._set_state(SourceState.RECONNECTING, reason)
            capture = self._connect(first=False)
            if capture is not None:
                self._reconnects += 1
                log.info("%s: reconnected (%d so far)", self.info.uri, self._reconnects)

    def _run_connection(self, capture: cv2.VideoCapture) -> str:
        """Read one connection until it is lost; why it was lost."""
        self._watch.feed()
        reader = self._reader = _Reader(capture, self._deliver, name=f"reader {self.info.uri}")
        reader.start()
        while True:
            reader.join(timeout=min(0.5, max(0.0, self._watch.remaining())))
            if not reader.is_alive():
                return "stream lost"
            if self._stop.is_set():
                reader.abandoned.set()
                return "closed"
            if self._watch.remaining() <= 0:
                reader.abandoned.set()
                return f"no frame for {self._watch.silent_for():.1f} s"

    def _deliver(self, image: np.ndarray, capture_ms: float) -> None:
        self._watch.feed()
        with self._cond:
            if self._latest is not None:
                self._dropped += 1
            self._latest = Frame(self._index, image, time.time(), capture_ms)
            self._index += 1
            self._cond.notify_all()

    def _fail(self, message: str) -> None:
        with self._cond:
            self._failure = message
            self._cond.notify_all()
        self._set_state(SourceState.ERROR, message)

    def read(self, timeout: float | None = None) -> Frame | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._latest is not None:
                    frame, self._latest = self._latest, None
                    return frame
                if self._failure is not None:
                    raise SourceError(self._failure)
                if self._stop.is_set():
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"no frame from {self.info.uri} within {timeout} s")
                self._cond.wait(remaining)

    def close(self) -> None:
        """Stop reading; waits a little for a reader stuck in a read, then leaves it behind."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if threading.current_thread() is not self._supervisor:
            self._supervisor.join(timeout=1.0)
            # A reader still inside OpenCV at interpreter exit aborts the process.
            if self._reader is not None:
                self._reader.join(timeout=_READER_EXIT_S)
        if self.state is not SourceState.ERROR:
            self._set_state(SourceState.ENDED, "closed")
