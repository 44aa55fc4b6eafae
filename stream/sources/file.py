"""Recorded video files, read frame by frame in order, optionally at their own pace and looped."""

from __future__ import annotations

import logging
import math
import threading
import time
from pathlib import Path

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
from stream.sources.pacing import Pacer

log = logging.getLogger(__name__)


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


class FileSource(VideoSource):
    """Every frame of a video file, in order: a file can wait for a slow consumer.

    ``realtime`` paces delivery at the file's frame rate, so a recording behaves like the camera
    it came from; ``loop`` starts again at the first frame after the last. A file that is cut off
    (a recording interrupted mid-write) ends cleanly at its last decodable frame.
    """

    buffer_policy = BufferPolicy.WAIT

    def __init__(self, path: str | Path, *, realtime: bool = False, loop: bool = False) -> None:
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
        self._pacer = Pacer(fps) if realtime and fps else None
        self._index = 0
        self._in_pass = 0
        self._lock = threading.RLock()

    @property
    def paced(self) -> bool:
        return self._pacer is not None

    def read(self, timeout: float | None = None) -> Frame | None:
        """The next frame, or None at the end; ``timeout`` is not needed, a file never waits."""
        with self._lock:
            if self._capture is None:
                return None
            image, capture_ms, position = self._next_image(self._capture)
            if image is None:
                self._finish()
                return None
            if self._pacer is not None:
                self._pacer.wait()
            self._set_state(SourceState.RUNNING)
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

    def _finish(self) -> None:
        self._warn_if_short()
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._capture is not None:
                self._capture.release()
                self._capture = None
        self._set_state(SourceState.ENDED)
