"""Playing a recorded source at its own frame rate, so a file can stand in for a live camera."""

from __future__ import annotations

import time


class Pacer:
    """Sleeps until each frame is due at ``fps``.

    A consumer that falls behind is not answered with a burst of catch-up frames: the schedule
    restarts from now, as a camera would simply have moved on.
    """

    def __init__(self, fps: float) -> None:
        self.interval = 1.0 / fps
        self._due: float | None = None

    def wait(self) -> None:
        now = time.monotonic()
        if self._due is None or now - self._due > self.interval:
            self._due = now
        elif self._due > now:
            time.sleep(self._due - now)
        self._due += self.interval
