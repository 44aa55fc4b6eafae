"""How an emostream process starts and ends quietly: native libraries' log lines kept off the
terminal, and an exit that a native read still in flight cannot turn into an abort.

The CLI and each camera process of a site call these, so they live below both.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading

NATIVE_NOISE = re.compile(
    rb"^(?:[IW]\d{4} \d\d:\d\d:\d\d|[IW]0000 00:00:|INFO: |WARNING: Logging before InitGoogle"
    rb"|WARNING: All log messages before absl::InitializeLog)"
)
"""Lines native code writes that are information, not trouble: absl's and glog's INFO and
WARNING lines (``I1204 17:00:00.1 …``, ``W0000 00:00:…``), TFLite's ``INFO:`` lines and absl's
note about logging before initialisation. ERROR and FATAL lines, and anything else, pass."""
FILTER_THREAD = "native-stderr"


def quiet_native_logs() -> None:
    """Keep FFmpeg's, OpenCV's and MediaPipe's own log lines off the terminal unless asked.

    Most are set through the environment because the libraries read it when they first load.
    OpenCV's own call moved between releases (``cv2.setLogLevel`` up to 4.11,
    ``cv2.utils.logging.setLogLevel`` in 4.14), so its variable is set too.
    """
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    import cv2

    opencv_logging = getattr(cv2.utils, "logging", cv2)
    opencv_logging.setLogLevel(2)  # errors only
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class NativeStderrFilter:
    """Native code's writes to file descriptor 2 go through a pipe that drops their noise.

    MediaPipe logs through absl, which writes to fd 2 before any flag or variable we can set
    is read (mediapipe 1.2.3 exports no log-level call), and some of its warnings come on
    whichever frame first meets a condition, mid-stream. Python's own ``sys.stderr`` moves to
    a copy of the real descriptor first, so our log lines and error messages never pass
    through the pipe; only what native code writes does, and of that only
    :data:`NATIVE_NOISE` is dropped.
    """

    def __init__(self) -> None:
        sys.stderr.flush()
        self._real = os.dup(2)
        sys.stderr = open(  # noqa: SIM115 - the process's stderr, open until it exits
            self._real, "w", buffering=1, encoding="utf-8", errors="backslashreplace",
            closefd=False,
        )  # fmt: skip
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        self._thread = threading.Thread(
            target=self._forward, args=(read,), name=FILTER_THREAD, daemon=True
        )
        self._thread.start()

    def _forward(self, read: int) -> None:
        pending = b""
        while chunk := os.read(read, 65536):
            *lines, pending = (pending + chunk).split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not NATIVE_NOISE.match(line))
            if kept:
                os.write(self._real, kept)
        if pending and not NATIVE_NOISE.match(pending):
            os.write(self._real, pending)
        os.close(read)

    def close(self) -> None:
        """Give fd 2 back and forward what the pipe still holds (at most a second's wait)."""
        sys.stderr.flush()
        os.dup2(self._real, 2)
        self._thread.join(timeout=1.0)


def exit_now_if_threads_linger(code: int) -> None:
    """Leave without interpreter finalisation when a native read still holds a thread.

    A live source abandons a reader stuck in a blocking FFmpeg read rather than wait for it; if
    such a daemon thread is still inside C++ when Python finalises, it is unwound by force and
    the process aborts ("exception not rethrown"). Everything of ours is closed by now.
    """
    others = [
        t
        for t in threading.enumerate()
        if t is not threading.main_thread() and t.name != FILTER_THREAD
    ]
    if others:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
