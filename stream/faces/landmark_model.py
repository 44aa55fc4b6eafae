"""Open one of the shipped landmark models (``models/landmarks/``) through LiteRT, checked.

The face mesh and the iris model share a folder, a manifest and its checks, and both are small
float models that need nothing beyond an interpreter: no MediaPipe graph.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from stream.checksum import verified_file
from stream.codes.delegates import litert, quiet_native_stderr
from stream.errors import ModelError

LANDMARKS_SCHEMA = "emostream.landmarks/1"


def default_landmarks_dir() -> Path:
    """``$EMOSTREAM_LANDMARK_MODELS``, else ``models/landmarks/`` shipped beside the packages."""
    env = os.environ.get("EMOSTREAM_LANDMARK_MODELS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "models" / "landmarks"


def open_landmark_model(
    folder: Path | None, name: str, what: str, threads: int
) -> tuple[Path, Any]:
    """Model ``name``'s path and an allocated LiteRT interpreter for it; any fault is a one-line
    :class:`ModelError`."""
    path = verified_file(folder or default_landmarks_dir(), name, LANDMARKS_SCHEMA, what)
    try:
        with quiet_native_stderr():
            interpreter = litert.Interpreter(model_path=str(path), num_threads=threads)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"{path} is not a model LiteRT can load: {exc}") from None
    return path, interpreter


def invoke_on_patch(
    interpreter: Any, input_index: int, bgr: np.ndarray, matrix: np.ndarray, size: int, border: int
) -> None:
    """Cut a ``size``×``size`` patch of a BGR frame through ``matrix`` and run the model on it,
    as both models expect: RGB, float 0–1. The caller reads the outputs it needs."""
    patch = cv2.warpAffine(bgr, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=border)
    rgb = cv2.cvtColor(patch, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    interpreter.set_tensor(input_index, rgb[np.newaxis])
    interpreter.invoke()
