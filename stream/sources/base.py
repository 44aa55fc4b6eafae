"""What every video source is: its description, its frames, its life cycle and its buffer policy.

The shape follows roboflow ``inference``'s video source: small frozen dataclasses say what a source
is, an explicit state machine says where it is in its life, and the buffering policy is a named
choice. Unlike there, reading, buffering and reconnection live in separate small modules; this one
holds only what they share.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Self

import numpy as np

log = logging.getLogger(__name__)


class SourceKind(StrEnum):
    CAMERA = "camera"
    RTSP = "rtsp"
    HTTP = "http"
    FILE = "file"
    IMAGE = "image"
    FOLDER = "folder"
    DEMO = "demo"


class SourceState(StrEnum):
    """Where a source is in its life; the value is what the stats message reports."""

    NOT_STARTED = "not_started"
    RUNNING = "running"
    RECONNECTING = "reconnecting"
    ENDED = "ended"
    ERROR = "error"


class BufferPolicy(StrEnum):
    """What happens to frames the consumer has not taken yet.

    A file can wait for a slow consumer, so it delivers every frame in order (``WAIT``). A camera
    cannot: waiting would only make every result older, so a live source keeps the newest frame and
    counts the ones it threw away (``DROP_OLDEST``).
    """

    WAIT = "wait"
    DROP_OLDEST = "drop_oldest"


@dataclass(frozen=True)
class SourceInfo:
    """What a source is. ``width``/``height`` are 0 while a live source has not connected yet;
    ``fps`` and ``frame_count`` are None where the source does not know them."""

    uri: str
    kind: SourceKind
    width: int
    height: int
    fps: float | None
    is_live: bool
    frame_count: int | None


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded frame. Compared by identity: comparing pixel arrays is never what is meant.

    ``index`` counts every frame the source produced, so gaps show frames a live source dropped;
    ``captured_at`` is wall-clock (``time.time()``) so it can be compared across machines;
    ``capture_ms`` is the time spent reading and decoding it (for a live stream this includes
    waiting for the camera); ``position_s`` is where the frame sits in a recording, from the
    container's own timestamps (not index / fps, which variable frame rates break);
    ``ready_at`` (``time.perf_counter()``) is when the frame was whole and could be taken, so the
    time it then spends queued, in a source's buffer or read ahead, counts in capture → publish.
    """

    index: int
    image: np.ndarray
    captured_at: float
    capture_ms: float
    position_s: float | None = None  # the container's timestamp of this frame, files only
    ready_at: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class StateChange:
    previous: SourceState
    state: SourceState
    reason: str
    at: float


StateListener = Callable[[StateChange], None]


class VideoSource(ABC):
    """A stream of BGR frames with a life cycle.

    ``read`` returns the next frame, None once the source has ended cleanly (or was closed), raises
    :class:`TimeoutError` when no frame came within ``timeout`` seconds, and raises
    :class:`~stream.errors.SourceError` when the source failed for good. Listeners added with
    :meth:`add_listener` hear every state change; they run on the source's own thread, so they
    must be quick and thread-safe.
    """

    buffer_policy: BufferPolicy

    def __init__(self, info: SourceInfo) -> None:
        self._info = info
        self._state = SourceState.NOT_STARTED
        self._listeners: list[StateListener] = []
        self._state_lock = threading.Lock()
        self._dropped = 0
        self._reconnects = 0

    @property
    def info(self) -> SourceInfo:
        return self._info

    @property
    def state(self) -> SourceState:
        return self._state

    def peek(self, ahead: int) -> Frame | None:
        """The frame ``ahead`` frames after the last one read, if the source already holds it
        whole; None where it does not (or cannot: a live source has no frames ahead). Never
        waits, and the frame is still read in its turn."""
        return None

    @property
    def dropped(self) -> int:
        """Frames produced but thrown away because a newer one arrived before they were read."""
        return self._dropped

    @property
    def reconnects(self) -> int:
        """Times the source came back after it had been lost."""
        return self._reconnects

    def add_listener(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def _set_state(self, state: SourceState, reason: str = "") -> None:
        with self._state_lock:
            previous = self._state
            if previous == state:
                return
            self._state = state
        change = StateChange(previous, state, reason, time.time())
        trouble = state in (SourceState.RECONNECTING, SourceState.ERROR)
        suffix = f" ({reason})" if reason else ""
        log.log(
            logging.WARNING if trouble else logging.INFO,
            "%s: %s -> %s%s",
            self._info.uri,
            previous,
            state,
            suffix,
        )
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:
                log.exception("%s: state listener failed", self._info.uri)

    @abstractmethod
    def read(self, timeout: float | None = None) -> Frame | None: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame
