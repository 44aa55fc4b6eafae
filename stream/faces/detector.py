"""MediaPipe face detection through the Tasks ``FaceDetector``, on BlazeFace models shipped here.

mediapipe 1.x is the release that exists for every platform we support (Linux x86_64 and aarch64,
macOS arm64, CPython 3.11 to 3.13), but its wheels carry no detector model, and nothing may be
downloaded at run time: the short- and full-range BlazeFace files ship in ``models/detector/``,
each checked against the sha256 in that folder's manifest before it is loaded.

The detector runs in IMAGE mode. VIDEO mode gave the same boxes at the same speed on the sample
video (2.0 ms a frame either way) and would demand strictly increasing timestamps, which a live
source that reconnects cannot promise.

``mediapipe``'s package import pulls in TensorFlow when it happens to be installed (for its API
docs only); the runtime must never load TensorFlow, so the import below hides it meanwhile.
"""

from __future__ import annotations

import os
import sys
import weakref
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np

from stream.behind import made_behind
from stream.checksum import MANIFEST, verified_file
from stream.codes.delegates import quiet_native_stderr
from stream.errors import ModelError, first_line

MODELS = ("short", "full")
DETECTOR_MANIFEST = MANIFEST
DETECTOR_SCHEMA = "emostream.detector/1"


def default_detector_dir() -> Path:
    """``$EMOSTREAM_DETECTOR_MODELS``, else ``models/detector/`` shipped beside the packages."""
    env = os.environ.get("EMOSTREAM_DETECTOR_MODELS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "models" / "detector"


def detector_model(model: str, folder: Path | None = None) -> bytes:
    """The verified bytes of one detector model; a missing or damaged file is a one-line error."""
    return verified_file(
        folder or default_detector_dir(), model, DETECTOR_SCHEMA, "face detector"
    ).read_bytes()


def _import_vision() -> tuple[ModuleType, ModuleType, type]:
    """``mediapipe``, its Tasks ``vision`` module and ``BaseOptions``, TensorFlow kept out."""
    hide = "tensorflow" not in sys.modules
    if hide:
        sys.modules["tensorflow"] = None  # type: ignore[assignment]
    try:
        import mediapipe
        from mediapipe.tasks.python import BaseOptions, vision
    finally:
        if hide:
            del sys.modules["tensorflow"]
    return mediapipe, vision, BaseOptions


def _close_quietly(detector: Any) -> None:
    """Close a Tasks detector, also when interpreter shutdown already stopped the thread pool
    mediapipe closes it on: then the process is ending anyway, and its handle is dropped so that
    mediapipe's ``__del__`` does not try again and print a traceback."""
    try:
        detector.close()
    except RuntimeError:
        detector._handle = None


@dataclass(frozen=True)
class Detection:
    """One face in normalised image coordinates (0..1); eyes are the person's right, then left."""

    box: tuple[float, float, float, float]
    score: float
    right_eye: tuple[float, float]
    left_eye: tuple[float, float]


ALIGNMENT = 64
"""Bytes LiteRT wants its input buffers aligned to."""


def _aligned(frame: np.ndarray) -> np.ndarray:
    """``frame`` in C order at a 64-byte boundary, copied only where it is not already.

    MediaPipe hands a frame's own buffer to LiteRT, which copies a misaligned one itself and
    logs a warning the first time, from native code (past any log setting), on whichever frame
    comes first at a bad address. OpenCV's decoded frames are usually 16 bytes past one. The
    copy costs what LiteRT's would, and keeps the warning off the terminal for good.
    """
    if frame.flags.c_contiguous and frame.ctypes.data % ALIGNMENT == 0:
        return frame
    buffer = np.empty(frame.nbytes + ALIGNMENT, np.uint8)
    start = -buffer.ctypes.data % ALIGNMENT
    out = buffer[start : start + frame.nbytes].view(frame.dtype).reshape(frame.shape)
    out[...] = frame
    return out


class FaceDetector:
    """Finds faces in RGB frames; ``model`` ``short`` (within ~2 m) or ``full`` (up to ~5 m).

    With ``behind``, MediaPipe's graph is started from a thread that runs behind
    (:mod:`stream.behind`), so its threads yield the CPU to the frame being labelled: for a
    detector that works ahead of the frames, never for one a frame waits on.

    Call :meth:`close` when done (or rely on interpreter exit): mediapipe's own finaliser raises
    when it runs during interpreter shutdown, so the detector is closed here before that.
    """

    def __init__(
        self,
        model: str = "short",
        min_score: float = 0.5,
        max_faces: int = 8,
        model_dir: Path | None = None,
        behind: bool = False,
    ) -> None:
        if model not in MODELS:
            raise ValueError(f"detector model must be one of {', '.join(MODELS)}")
        self.max_faces = max_faces
        self.min_score = min_score
        self._rgb: np.ndarray | None = None
        buffer = detector_model(model, model_dir)
        mediapipe, vision, base_options = _import_vision()
        self._image = mediapipe.Image
        self._format = mediapipe.ImageFormat.SRGB
        options = vision.FaceDetectorOptions(
            base_options=base_options(model_asset_buffer=buffer),
            running_mode=vision.RunningMode.IMAGE,
            min_detection_confidence=min_score,
        )

        def create() -> Any:
            return vision.FaceDetector.create_from_options(options)

        with quiet_native_stderr():
            try:
                self._detector = made_behind(create) if behind else create()
            except (RuntimeError, ValueError) as exc:
                raise ModelError(
                    f"cannot load the {model}-range face detector: {first_line(exc)}"
                ) from None
            self._close = weakref.finalize(self, _close_quietly, self._detector)
            # Start-up log lines come on the first calls (LiteRT's own, on the second or third
            # detection): get them all while stderr is quiet, not on a live stream's first
            # frames. What native code logs later is filtered by the CLI (NativeStderrFilter).
            blank = self._wrap(np.zeros((64, 64, 3), np.uint8))
            for _ in range(3):
                self._detector.detect(blank)

    def _wrap(self, rgb: np.ndarray) -> Any:
        return self._image(image_format=self._format, data=_aligned(rgb))

    def detect_bgr(self, bgr: np.ndarray) -> list[Detection]:
        """:meth:`detect` on a BGR frame, made RGB straight into an aligned buffer kept between
        calls: one pass over the frame where converting, then aligning, took two and two fresh
        allocations. Not for two threads at once, as the detector itself is not."""
        if self._rgb is None or self._rgb.shape != bgr.shape:
            self._rgb = _aligned(np.empty(bgr.shape, np.uint8))
        # OpenCV writes into a fresh array instead where the frame's type does not fit the buffer
        return self.detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=self._rgb))

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        height, width = rgb.shape[:2]
        found: list[Detection] = []
        for det in self._detector.detect(self._wrap(rgb)).detections:
            box = det.bounding_box
            points = det.keypoints or []
            if len(points) < 2:
                continue
            # The Tasks API floors the box to whole pixels; adding half a pixel back makes its
            # position and size unbiased, as the crop convention was measured on exact boxes.
            found.append(
                Detection(
                    box=(
                        (box.origin_x + 0.5) / width,
                        (box.origin_y + 0.5) / height,
                        (box.width + 0.5) / width,
                        (box.height + 0.5) / height,
                    ),
                    score=float(det.categories[0].score) if det.categories else 0.0,
                    right_eye=(points[0].x, points[0].y),
                    left_eye=(points[1].x, points[1].y),
                )
            )
        # The graph's own threshold lets some weaker detections through; apply it here too.
        found = [d for d in found if d.score >= self.min_score]
        found.sort(key=lambda d: d.score, reverse=True)
        return found[: self.max_faces]

    def close(self) -> None:
        with quiet_native_stderr():  # LiteRT logs each accelerator it destroys
            self._close()
