"""Local outputs beside the ZeroMQ stream: an annotated recording and a preview window."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np

from stream.errors import OutputError

log = logging.getLogger(__name__)


class Recorder:
    """Writes annotated frames to an MP4 file; the size is fixed by the first frame."""

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise OutputError(f"cannot record to {self.path}: no such folder {self.path.parent}")
        self.fps = fps if fps and fps > 0 else 25.0
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def write(self, image: np.ndarray) -> None:
        size = (image.shape[1], image.shape[0])
        if self._writer is None:
            self._writer = cv2.VideoWriter(
                str(self.path), cv2.VideoWriter.fourcc(*"mp4v"), self.fps, size
            )
            if not self._writer.isOpened():
                raise OutputError(f"cannot write video {self.path}")
            self._size = size
        if size != self._size:
            image = cv2.resize(image, self._size)
        self._writer.write(image)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            log.info("recorded %d frames to %s", self.frames, self.path)
            self._writer = None


class Window:
    """An OpenCV preview window; refuses to start where there is no display."""

    def __init__(self, title: str) -> None:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise OutputError("--show needs a display (DISPLAY is not set); use --record instead")
        self.title = title
        self.closed = False

    def show(self, image: np.ndarray) -> None:
        cv2.imshow(self.title, image)
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self.closed = True

    def close(self) -> None:
        cv2.destroyWindow(self.title)
