"""Still images as a source: one image file, or a folder of them played as frames in name order."""

from __future__ import annotations

import logging
import re
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

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset(
    {".bmp", ".jpg", ".jpeg", ".jpe", ".jp2", ".png", ".webp", ".tif", ".tiff", ".pbm", ".pgm"}
    | {".ppm", ".pnm", ".sr", ".ras", ".exr", ".hdr", ".pic"}
)


def _natural_key(path: Path) -> list[int | str]:
    """``frame2`` before ``frame10``, as a person numbering files expects."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _decode(path: Path) -> tuple[np.ndarray | None, float]:
    start = time.perf_counter()
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return image, (time.perf_counter() - start) * 1000.0


class ImageSource(VideoSource):
    """Each image is one frame, in order; ones that cannot be decoded are skipped and counted.

    Images carry no frame rate, so ``fps`` is None and nothing is paced; ``loop`` plays the images
    again from the first. ``frame_count`` is the number of image files, an upper bound when some
    turn out unreadable.
    """

    buffer_policy = BufferPolicy.WAIT

    def __init__(
        self, paths: list[Path], *, uri: str, kind: SourceKind, loop: bool = False
    ) -> None:
        self._paths = list(paths)
        self.skipped = 0
        self._lock = threading.Lock()
        self._position = 0
        self._pending = self._next_readable()
        if self._pending is None:
            raise SourceError(f"{uri}: no readable image")
        height, width = self._pending[0].shape[:2]
        super().__init__(SourceInfo(uri, kind, width, height, None, False, len(paths)))
        self._loop = loop
        self._index = 0
        self._closed = False

    @classmethod
    def from_file(cls, path: str | Path, *, loop: bool = False) -> ImageSource:
        path = Path(path)
        if not path.is_file():
            raise SourceError(f"{path}: no such file")
        return cls([path], uri=str(path), kind=SourceKind.IMAGE, loop=loop)

    @classmethod
    def from_folder(cls, folder: str | Path, *, loop: bool = False) -> ImageSource:
        folder = Path(folder)
        if not folder.is_dir():
            raise SourceError(f"{folder}: no such folder")
        paths = sorted(
            (
                p
                for p in folder.iterdir()
                if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")
            ),
            key=_natural_key,
        )
        if not paths:
            raise SourceError(f"{folder}: no image files in folder")
        return cls(paths, uri=str(folder), kind=SourceKind.FOLDER, loop=loop)

    def _next_readable(self) -> tuple[np.ndarray, float] | None:
        while self._position < len(self._paths):
            path = self._paths[self._position]
            image, decode_ms = _decode(path)
            if image is not None:
                self._position += 1
                return image, decode_ms
            del self._paths[self._position]
            self.skipped += 1
            log.warning("skipping unreadable image %s (%d skipped)", path, self.skipped)
        return None

    def read(self, timeout: float | None = None) -> Frame | None:
        """The next image, or None after the last; ``timeout`` is not needed, images never wait."""
        with self._lock:
            if self._closed:
                return None
            decoded, self._pending = self._pending, None
            if decoded is None:
                decoded = self._next_readable()
            if decoded is None and self._loop and self._index > 0:
                self._position = 0
                decoded = self._next_readable()
            if decoded is None:
                self._closed = True
                self._set_state(SourceState.ENDED)
                return None
            self._set_state(SourceState.RUNNING)
            frame = Frame(self._index, decoded[0], time.time(), decoded[1])
            self._index += 1
            return frame

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._set_state(SourceState.ENDED)
