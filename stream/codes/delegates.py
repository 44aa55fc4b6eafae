"""Choose where a model runs: ``cpu`` (XNNPACK), ``edgetpu``, LiteRT's ``gpu`` or a delegate path.

A delegate that is not installed is a :class:`~stream.errors.DelegateError` whose one line says
what to install; the native libraries' own log lines are kept off the terminal meanwhile.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stream.errors import DelegateError

try:
    from ai_edge_litert import interpreter as litert
except ImportError:  # pragma: no cover - exercised on devices that only have tflite-runtime
    from tflite_runtime import interpreter as litert

EDGETPU_LIBRARY = "libedgetpu.so.1"
DELEGATES = ("cpu", "edgetpu", "gpu")


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence C++ log lines written straight to fd 2 while a delegate is probed."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    sys.stderr.flush()
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _check_library(library: str) -> None:
    """Open the library ourselves first: LiteRT's own failure path leaves a noisy ``__del__``."""
    try:
        handle = ctypes.CDLL(library)
    except OSError as exc:
        raise DelegateError(_missing(library, str(exc))) from None
    if not hasattr(handle, "tflite_plugin_create_delegate"):
        raise DelegateError(f"cannot load delegate {library}: it is not a TFLite delegate library")


def _missing(library: str, reason: str) -> str:
    if library == EDGETPU_LIBRARY:
        return (
            "Edge TPU runtime not found (libedgetpu.so.1): install libedgetpu1-std from "
            "Coral's apt repository and plug in the accelerator"
        )
    return f"cannot load delegate {library}: {reason.strip().splitlines()[0] if reason else ''}"


def load_delegate(name: str) -> Any:
    """The LiteRT delegate object for ``edgetpu`` or a library path; ``None`` for ``cpu``."""
    if name == "cpu":
        return None
    library = EDGETPU_LIBRARY if name == "edgetpu" else name
    if name != "edgetpu" and not Path(library).exists():
        raise DelegateError(
            f"unknown delegate {name!r}: use cpu, edgetpu, gpu or the path of a delegate library"
        )
    _check_library(library)
    try:
        with quiet_native_stderr():
            return litert.load_delegate(library)
    except (ValueError, OSError, RuntimeError) as exc:
        raise DelegateError(_missing(library, str(exc) or type(exc).__name__)) from None
