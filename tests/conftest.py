"""Shared test fixtures: real video files written by OpenCV from scikit-image's astronaut photo.

``make_clip(path=None, frames=48, size=(320, 240), fps=24, faces=1)`` writes a clip and returns its
path (``.mp4``: MPEG-4 part 2, ``.avi``: MJPEG); without a path it writes into a session folder and
reuses a clip already made with the same settings. Each frame shows ``faces`` copies of the
astronaut's head and shoulders (0: a part of the photo with no face), drifting a little from frame
to frame, above a strip of black and white blocks that encodes the frame number in binary, so a
test can tell which frame it got back: ``clip_frame_number(image)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

MARKER_BITS = 10
MARKER_HEIGHT = 16
_CODECS = {".mp4": "mp4v", ".avi": "MJPG"}


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """The 512x512 astronaut photo (public domain, shipped with scikit-image), BGR."""
    return cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)


def _scene(photo: np.ndarray, faces: int) -> np.ndarray:
    if faces == 0:
        return photo[330:512, 0:512]
    head = photo[20:340, 65:385]
    return np.hstack([head] * faces)


def _render(scene: np.ndarray, index: int, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    picture_height = height - MARKER_HEIGHT
    scale = min(width / scene.shape[1], picture_height / scene.shape[0]) * 0.95
    drift = (index % 12) - 6
    matrix = np.array(
        [
            [scale, 0.0, (width - scale * scene.shape[1]) / 2 + drift],
            [0.0, scale, (picture_height - scale * scene.shape[0]) / 2],
        ]
    )
    image = np.full((height, width, 3), 60, np.uint8)
    image[:picture_height] = cv2.warpAffine(
        scene, matrix, (width, picture_height), borderValue=(60, 60, 60)
    )
    block = width // MARKER_BITS
    image[picture_height:] = 0
    for bit in range(MARKER_BITS):
        if index >> bit & 1:
            image[picture_height:, bit * block : (bit + 1) * block] = 255
    return image


def frame_number(image: np.ndarray) -> int:
    height, width = image.shape[:2]
    block = width // MARKER_BITS
    strip = image[height - MARKER_HEIGHT + 3 : height - 3]
    return sum(
        1 << bit
        for bit in range(MARKER_BITS)
        if strip[:, bit * block + 4 : (bit + 1) * block - 4].mean() > 128
    )


@pytest.fixture(scope="session")
def clip_frame_number() -> Callable[[np.ndarray], int]:
    """The frame number a ``make_clip`` frame carries in its marker strip."""
    return frame_number


def write_clip(
    path: Path,
    photo: np.ndarray,
    *,
    frames: int,
    size: tuple[int, int],
    fps: float,
    faces: int,
) -> Path:
    codec = _CODECS.get(path.suffix.lower())
    if codec is None:
        raise ValueError(f"make_clip writes {' or '.join(_CODECS)}, not {path.suffix!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*codec), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    scene = _scene(photo, faces)
    try:
        for index in range(frames):
            writer.write(_render(scene, index, size))
    finally:
        writer.release()
    return path


@pytest.fixture(scope="session")
def make_clip(
    tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray
) -> Callable[..., Path]:
    folder = tmp_path_factory.mktemp("clips")

    def make(
        path: str | Path | None = None,
        *,
        frames: int = 48,
        size: tuple[int, int] = (320, 240),
        fps: float = 24,
        faces: int = 1,
    ) -> Path:
        settings = {"frames": frames, "size": size, "fps": fps, "faces": faces}
        if path is None:
            path = folder / f"clip-{frames}f-{size[0]}x{size[1]}-{fps:g}fps-{faces}faces.mp4"
            if path.exists():
                return path
        return write_clip(Path(path), astronaut, **settings)

    return make


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped models, or (before any are shipped) a tiny set trained for the tests."""
    shipped = Path(__file__).resolve().parents[1] / "models" / "base"
    if (shipped / "manifest.json").exists():
        return shipped
    pytest.importorskip("tensorflow", reason="no shipped models and no training extra")
    from tests.tiny_models import build_tiny_models

    return build_tiny_models(tmp_path_factory.mktemp("tiny-models"))
