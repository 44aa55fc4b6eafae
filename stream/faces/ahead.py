"""Face detection on a thread of its own, so a frame never waits for a detection it does not use.

MediaPipe's detector costs several times the rest of a frame, yet a video only needs it every few
frames: the tracker carries the boxes in between. Run inline, every detection frame waits for it
while the second core idles. Here the detector works on one frame while the pipeline labels the
next ones with the boxes it already has.

Two schedules, named by what they promise:

- :data:`FIXED` (files, the demo clip): detection starts on every ``N``-th frame, and frame
  ``k`` uses the newest detection started before it, that of frame ``N·((k − 1) // N)``. The
  detection frame itself goes on with the previous boxes instead of waiting; the frame after it
  waits only for what is left of a detection that ran while the detection frame was labelled.
  Which detection a frame uses depends only on its number, never on timing, so a file gives
  the same output every run, and differs from detecting inline only on the detection frames.
  (A whole cadence of lag would never wait, but its older boxes changed the top label on 6 %
  of the sample video's face-frames, against under 2 % with this one: see
  ``benchmarks.speed.detect_ahead``.)
- :data:`FRESHEST` (cameras, streams): a new detection starts on the newest frame whenever the
  detector is free and ``N`` frames have passed since the last one started; each frame uses the
  newest detection that has finished. Nothing ever waits, except the very first frame.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

import numpy as np

from stream.behind import run_behind
from stream.faces.detector import Detection

log = logging.getLogger(__name__)

FIXED = "fixed"
FRESHEST = "freshest"
SCHEDULES = (FIXED, FRESHEST)

Detect = Callable[[np.ndarray], list[Detection]]


class DetectorThread:
    """One worker thread that runs ``detect`` on the frames it is given, one at a time, behind
    the frames' own thread (:mod:`stream.behind`).

    Results are kept by frame number until :meth:`forget_before` drops them. An exception in
    ``detect`` is handed to whoever waits for that frame, so a bad frame fails like it would
    inline.
    """

    def __init__(self, detect: Detect) -> None:
        self._detect = detect
        self._cond = threading.Condition()
        self._pending: deque[tuple[int, np.ndarray]] = deque()
        self._busy = False
        self._results: dict[int, list[Detection] | BaseException] = {}
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="face-detector", daemon=True)
        self._thread.start()

    @property
    def idle(self) -> bool:
        with self._cond:
            return not self._busy and not self._pending

    def submit(self, number: int, image: np.ndarray) -> None:
        """Detect on ``image`` after the frames already submitted."""
        with self._cond:
            self._pending.append((number, image))
            self._cond.notify_all()

    def wait(self, number: int) -> list[Detection]:
        """The detections of frame ``number``, waiting for them if they are still running."""
        with self._cond:
            while number not in self._results:
                if self._stopping:
                    raise RuntimeError("the detector thread has stopped")
                self._cond.wait()
            result = self._results[number]
        if isinstance(result, BaseException):
            raise result
        return result

    def newest(self) -> tuple[int, list[Detection]] | None:
        """The newest finished detection and its frame number, without waiting."""
        with self._cond:
            done = [n for n, r in self._results.items() if not isinstance(r, BaseException)]
            if not done:
                return None
            number = max(done)
            result = self._results[number]
            assert not isinstance(result, BaseException)
            return number, result

    def forget_before(self, number: int) -> None:
        with self._cond:
            for old in [n for n in self._results if n < number]:
                del self._results[old]

    def _work(self) -> None:
        run_behind()
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                number, image = self._pending.popleft()
                self._busy = True
            try:
                result: list[Detection] | BaseException = self._detect(image)
            except Exception as exc:  # handed to the frame that waits for it
                log.warning("detection failed on frame %d: %s", number, exc)
                result = exc
            with self._cond:
                self._results[number] = result
                self._busy = False
                self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=10)
