"""Recorded video files, read frame by frame in order, optionally at their own pace and looped.

A file is decoded on a thread of its own. By default each frame is decoded when the reader asks
for it, as a camera hands over a frame when it is taken: no decoded frame waits in a queue, so
capture → publish counts only the frame's own path. With ``prefetch`` frames decoded ahead the
two overlap instead (decoding takes about as long as recognising a frame on a small CPU, and
OpenCV releases the GIL while it decodes): more frames a second at full speed, but every frame
then waits for those decoded before it. The frames decoded ahead can be looked at before they
are read (:meth:`FileSource.peek`): the pipeline hands a detection frame to the detector from
there, without reading it early.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from stream.errors import SourceError, first_line
from stream.sources.base import (
    BufferPolicy,
    Frame,
    SourceInfo,
    SourceKind,
    SourceState,
    VideoSource,
)
from stream.sources.pacing import Pacer

log = logging.getLogger(__name__)

PREFETCH = 4
"""Frames decoded ahead where throughput matters more than each frame's wait (``analyze``, and
``run --read-ahead``). Right after a read the buffer holds one fewer, and a detection frame goes
to the detector from there three frames before its turn (``stream.recognizer.FORESIGHT``); the
rest rides out a slow decode (a key frame). A 4K file holds under 130 MB of them. The next frame
is decoded only once there is room for it, so none waits whole outside the count."""

_DECODER_EXIT_S = 5.0


def _open_capture(path: Path) -> cv2.VideoCapture:
    # FFmpeg explicitly: the image-sequence backend would read "frame%03d.mp4" as a pattern.
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"{path}: not a video file that can be decoded")
    return capture


def _read_timed(capture: cv2.VideoCapture) -> tuple[np.ndarray | None, float, float]:
    """The next image, the ms it took, and its timestamp in the container (seconds)."""
    start = time.perf_counter()
    ok, image = capture.read()
    elapsed = (time.perf_counter() - start) * 1000.0
    return (image if ok else None), elapsed, capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0


class _Buffer:
    """The decoded frames waiting to be read, at most ``size``, then None at the end or the error
    that ended decoding: all that the reader and the decoder thread share. With ``size`` 0 a
    frame is decoded only for a reader waiting for it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: deque[Frame | SourceError | None] = deque()
        self.cond = threading.Condition()
        self.closed = False
        self.readers = 0  # readers waiting in take()

    def _room(self) -> bool:
        return len(self.items) < self.size or (self.readers > 0 and not self.items)

    def wait_for_room(self) -> bool:
        """Wait until fewer than ``size`` frames wait, or a reader waits on none; False once
        closed."""
        with self.cond:
            self.cond.wait_for(lambda: self.closed or self._room())
            return not self.closed

    def put(self, item: Frame | SourceError | None) -> None:
        with self.cond:
            if not self.closed:
                self.items.append(item)
                self.cond.notify_all()

    def take(self, timeout: float | None) -> Frame | SourceError | None:
        """The next item, None once closed; :class:`TimeoutError` if none came in time."""
        with self.cond:
            self.readers += 1
            if not self.items:  # only a reader waiting on none makes room
                self.cond.notify_all()
            try:
                if not self.cond.wait_for(lambda: self.closed or self.items, timeout):
                    raise TimeoutError
            finally:
                self.readers -= 1
            if self.closed:
                return None
            item = self.items.popleft()
            self.cond.notify_all()
            return item

    def peek(self, ahead: int) -> Frame | None:
        with self.cond:
            if 0 < ahead <= len(self.items):
                item = self.items[ahead - 1]
                return item if isinstance(item, Frame) else None
            return None

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.items.clear()
            self.cond.notify_all()


def _decode_into(buffer: _Buffer, ref: weakref.ReferenceType[FileSource]) -> None:
    """The decoder thread: decode the next frame whenever there is room, while the source lives.

    It holds the source only while decoding a frame, never while it waits for room, so a source
    dropped without :meth:`FileSource.close` is collected, and then this thread ends.
    """
    while buffer.wait_for_room():
        source = ref()
        if source is None:
            return
        item = source._decode_next()
        del source
        buffer.put(item)
        if not isinstance(item, Frame):
            return


class FileSource(VideoSource):
    """Every frame of a video file, in order: a file can wait for a slow consumer.

    ``realtime`` paces delivery at the file's frame rate, so a recording behaves like the camera
    it came from (``speed`` times faster: a camera of that many times its frame rate); ``loop``
    starts again at the first frame after the last. A file that is cut off (a recording
    interrupted mid-write) ends cleanly at its last decodable frame. Each frame is decoded when
    :meth:`read` asks for it, or with ``prefetch`` up to that many frames ahead of the reader;
    with ``realtime`` each frame is decoded when it is due, as a camera's would be, so its
    decoding counts in capture → publish and does not contend with the work on the frame before.
    """

    buffer_policy = BufferPolicy.WAIT

    def __init__(
        self,
        path: str | Path,
        *,
        realtime: bool = False,
        speed: float = 1.0,
        loop: bool = False,
        prefetch: int = 0,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be above 0, not {speed}")
        if prefetch < 0:
            raise ValueError(f"prefetch cannot be negative, not {prefetch}")
        self._path = Path(path)
        if not self._path.exists():
            raise SourceError(f"{self._path}: no such file")
        if not self._path.is_file():
            raise SourceError(f"{self._path}: not a file")
        capture = _open_capture(self._path)
        first, first_ms, first_at = _read_timed(capture)
        if first is None:
            capture.release()
            raise SourceError(f"{self._path}: no decodable video frame")
        rate = capture.get(cv2.CAP_PROP_FPS)
        fps = rate if math.isfinite(rate) and 0 < rate <= 1000 else None
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self._capture: cv2.VideoCapture | None = capture
        height, width = first.shape[:2]
        super().__init__(
            SourceInfo(
                uri=str(self._path),
                kind=SourceKind.FILE,
                width=width,
                height=height,
                fps=fps,
                is_live=False,
                frame_count=count if count > 0 else None,
            )
        )
        self._pending: tuple[np.ndarray, float, float] | None = (first, first_ms, first_at)
        self._loop = loop
        self._pacer = Pacer(fps * speed) if realtime and fps else None
        self._in_pass = 0
        self._index = 0
        self._buffer = _Buffer(prefetch)
        weakref.finalize(self, self._buffer.close)  # a source dropped unclosed stops its thread
        self._start_lock = threading.Lock()
        self._decoder: threading.Thread | None = None

    def read(self, timeout: float | None = None) -> Frame | None:
        """The next frame, or None at the end; :class:`TimeoutError` if none was decoded within
        ``timeout`` seconds, :class:`SourceError` if decoding failed."""
        if self._buffer.closed:
            return None
        self._start_decoder()
        try:
            item = self._buffer.take(timeout)
        except TimeoutError:
            raise TimeoutError(f"no frame decoded from {self._path} within {timeout} s") from None
        if isinstance(item, Frame):
            self._set_state(SourceState.RUNNING)
            return item
        self.close()
        if item is None:
            return None
        raise item

    def peek(self, ahead: int) -> Frame | None:
        """The frame ``ahead`` frames after the last one read, if it is decoded and waiting;
        never waits, and the frame is still read in its turn."""
        return self._buffer.peek(ahead)

    def _start_decoder(self) -> None:
        with self._start_lock:
            if self._decoder is None and not self._buffer.closed:
                self._decoder = threading.Thread(
                    target=_decode_into,
                    args=(self._buffer, weakref.ref(self)),
                    name=f"decode {self._path.name}",
                    daemon=True,
                )
                self._decoder.start()

    def _decode_next(self) -> Frame | SourceError | None:
        """The next frame (when it is due, if paced); None at the end, or the error that ended
        decoding. Lets go of the file once it is done with it."""
        try:
            if self._capture is None:
                return None
            if self._pacer is not None:  # as a camera: the frame is due, then decoded
                self._pacer.wait()
            image, capture_ms, position = self._next_image(self._capture)
        except Exception as error:  # OpenCV raises cv2.error on a corrupt stream
            log.debug("%s: decoding failed", self._path, exc_info=True)
            self._release()
            reason = first_line(error)
            return SourceError(f"{self._path}: decoding failed at frame {self._index}: {reason}")
        if image is None:
            self._warn_if_short()
            self._release()
            return None
        frame = Frame(self._index, image, time.time(), capture_ms, position)
        self._index += 1
        self._in_pass += 1
        return frame

    def _next_image(self, capture: cv2.VideoCapture) -> tuple[np.ndarray | None, float, float]:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            return pending
        image, capture_ms, position = _read_timed(capture)
        if image is not None or not self._loop or self._in_pass == 0:
            return image, capture_ms, position
        self._warn_if_short()
        log.debug("%s: looping after %d frames", self._path, self._in_pass)
        capture.release()
        self._capture = _open_capture(self._path)
        self._in_pass = 0
        return _read_timed(self._capture)

    def _warn_if_short(self) -> None:
        expected = self.info.frame_count
        if expected is not None and self._in_pass < expected:
            log.warning(
                "%s: ended after %d of %d frames; the file may be truncated",
                self._path,
                self._in_pass,
                expected,
            )

    def _release(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def close(self) -> None:
        """Stop decoding and let go of the file; safe from any thread, and more than once. A
        :meth:`read` waiting on another thread gets None."""
        self._buffer.close()
        with self._start_lock:
            decoder = self._decoder
        if decoder is not None and decoder is not threading.current_thread():
            decoder.join(timeout=_DECODER_EXIT_S)
        if decoder is None or not decoder.is_alive():
            self._release()
        self._set_state(SourceState.ENDED)
