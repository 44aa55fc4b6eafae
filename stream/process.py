"""How an emostream process starts and ends quietly: native libraries' log lines kept off the
terminal, and an exit that a native read still in flight cannot turn into an abort.

The CLI and each camera process of a site call these, so they live below both.
"""

from __future__ import annotations

import logging
import os
import sys
import threading


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


def exit_now_if_threads_linger(code: int) -> None:
    """Leave without interpreter finalisation when a native read still holds a thread.

    A live source abandons a reader stuck in a blocking FFmpeg read rather than wait for it; if
    such a daemon thread is still inside C++ when Python finalises, it is unwound by force and
    the process aborts ("exception not rethrown"). Everything of ours is closed by now.
    """
    if threading.active_count() > 1:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
