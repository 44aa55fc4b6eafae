"""The built-in clip behind ``emostream demo``: a face that moves and zooms, made without downloads.

Each frame is rendered on demand from the public-domain astronaut photo (Eileen Collins, NASA,
as scikit-image ships it; ``astronaut.png`` beside this file, so the runtime needs no
scikit-image), panned and zoomed over a plain canvas along a smooth closed path, so the clip loops
without a jump, exercises face tracking at several positions and sizes, and is identical on every
machine. Rendering one frame costs about as much as decoding one, and nothing is kept in memory.
"""

from __future__ import annotations

import functools
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

PHOTO = Path(__file__).with_name("astronaut.png")

DEMO_FPS = 15.0
DEMO_FRAMES = 150
DEMO_SIZE = (640, 360)
_FACE_CENTER = (225.0, 130.0)  # the face's centre in the 512x512 photo


@functools.cache
def _photo() -> np.ndarray:
    photo = cv2.imread(str(PHOTO), cv2.IMREAD_COLOR)
    if photo is None:
        raise SourceError(f"the demo clip's photo is missing or unreadable: {PHOTO}")
    return photo


@functools.cache
def _canvas() -> np.ndarray:
    width, height = DEMO_SIZE
    shade = np.linspace(70, 25, height, dtype=np.float32)[:, None, None]
    tint = np.array([1.0, 0.85, 0.7], dtype=np.float32)
    return np.broadcast_to(shade * tint, (height, width, 3)).astype(np.uint8)


def demo_frame(index: int) -> np.ndarray:
    """Frame ``index`` of the clip (taken modulo its length), BGR, 640x360."""
    t = 2.0 * math.pi * (index % DEMO_FRAMES) / DEMO_FRAMES
    width, height = DEMO_SIZE
    scale = 1.05 + 0.3 * math.cos(t)
    center_x = width / 2 + 170.0 * math.sin(t)
    center_y = height / 2 + 40.0 * math.sin(2.0 * t)
    matrix = np.array(
        [
            [scale, 0.0, center_x - scale * _FACE_CENTER[0]],
            [0.0, scale, center_y - scale * _FACE_CENTER[1]],
        ]
    )
    return cv2.warpAffine(
        _photo(),
        matrix,
        DEMO_SIZE,
        dst=_canvas().copy(),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_TRANSPARENT,
    )


class DemoSource(VideoSource):
    """The demo clip as a recorded source: every frame in order, paced and looped by default."""

    buffer_policy = BufferPolicy.WAIT

    def __init__(self, *, realtime: bool = True, loop: bool = True) -> None:
        width, height = DEMO_SIZE
        super().__init__(
            SourceInfo("demo", SourceKind.DEMO, width, height, DEMO_FPS, False, DEMO_FRAMES)
        )
        self._loop = loop
        self._pacer = Pacer(DEMO_FPS) if realtime else None
        self._index = 0
        self._closed = False
        self._lock = threading.Lock()

    def read(self, timeout: float | None = None) -> Frame | None:
        """The next frame, or None after one pass without ``loop``; rendering never waits."""
        with self._lock:
            if self._closed or (not self._loop and self._index >= DEMO_FRAMES):
                self._closed = True
                self._set_state(SourceState.ENDED)
                return None
            start = time.perf_counter()
            image = demo_frame(self._index)
            render_ms = (time.perf_counter() - start) * 1000.0
            if self._pacer is not None:
                self._pacer.wait()
            self._set_state(SourceState.RUNNING)
            frame = Frame(self._index, image, time.time(), render_ms)
            self._index += 1
            return frame

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._set_state(SourceState.ENDED)
