"""Synthetic benchmark clips: N copies of the astronaut's head per frame, at any frame size.

The same photo as the test clips (scikit-image's astronaut, public domain), but laid out as a
grid, so that 4 or 8 faces stay large enough for the detector instead of shrinking into one
row. Heads drift a few pixels per frame, so the tracker and the detector see motion.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import skimage.data

BACKGROUND = 60
HEAD = (slice(20, 340), slice(65, 385))  # the head and shoulders, 320×320


def astronaut_head() -> np.ndarray:
    photo = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    return np.ascontiguousarray(photo[HEAD])


def grid(faces: int, width: int, height: int) -> tuple[int, int]:
    """Columns and rows for ``faces`` tiles that keep each tile as large as the frame allows."""
    best = (faces, 1)
    best_side = 0.0
    for rows in range(1, faces + 1):
        cols = math.ceil(faces / rows)
        side = min(width / cols, height / rows)
        if side > best_side:
            best, best_side = (cols, rows), side
    return best


def render(head: np.ndarray, faces: int, size: tuple[int, int], index: int) -> np.ndarray:
    """One BGR frame of ``size`` (width, height) with ``faces`` heads on a flat grey."""
    width, height = size
    frame = np.full((height, width, 3), BACKGROUND, np.uint8)
    if faces == 0:
        return frame
    cols, rows = grid(faces, width, height)
    side = int(min(width / cols, height / rows) * 0.92)
    tile = cv2.resize(head, (side, side), interpolation=cv2.INTER_AREA)
    cell_w, cell_h = width // cols, height // rows
    drift = (index % 12) - 6
    for n in range(faces):
        col, row = n % cols, n // cols
        x = col * cell_w + (cell_w - side) // 2 + drift
        y = row * cell_h + (cell_h - side) // 2
        x = min(max(x, 0), width - side)
        frame[y : y + side, x : x + side] = tile
    return frame


def write_clip(
    path: Path, faces: int, size: tuple[int, int], frames: int, fps: float = 24.0
) -> Path:
    """An MPEG-4 part 2 ``.mp4`` (the codec OpenCV's wheels can always write); reused if present."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.mp4")
    writer = cv2.VideoWriter(str(partial), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {partial}")
    head = astronaut_head()
    try:
        for index in range(frames):
            writer.write(render(head, faces, size, index))
    finally:
        writer.release()
    partial.rename(path)
    return path


def clip_path(folder: Path, faces: int, size: tuple[int, int], frames: int) -> Path:
    return folder / f"astronaut-{faces}faces-{size[0]}x{size[1]}-{frames}f.mp4"


def decode(path: Path) -> list[np.ndarray]:
    """Every frame of a video file, decoded once, for benchmarks that go over it several times."""
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames
