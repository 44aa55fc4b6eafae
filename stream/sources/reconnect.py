"""When to retry a lost live stream, and how to notice that it is lost while it still looks open.

A camera that reboots or a network that drops for a minute must not end a pipeline on an edge box,
so retries back off exponentially (and by default never stop); a stream that silently stops sending
is as lost as one that closed, so a stall counts the same as a read error.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass

from stream.errors import SourceError


@dataclass(frozen=True)
class ReconnectPolicy:
    """``max_attempts`` connection tries per outage (None: forever), the first one at once when
    opening and after ``initial_delay`` when a running stream was lost; each later try waits
    ``factor`` times longer, never more than ``max_delay``. A stream that delivers no frame for
    ``stall_timeout`` seconds is treated as lost."""

    max_attempts: int | None = None
    initial_delay: float = 0.5
    max_delay: float = 10.0
    factor: float = 2.0
    stall_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts is not None and self.max_attempts < 1:
            raise SourceError(f"reconnect attempts must be at least 1, got {self.max_attempts}")
        if self.initial_delay < 0 or self.max_delay < self.initial_delay:
            raise SourceError("reconnect delays must satisfy 0 <= initial_delay <= max_delay")
        if self.factor < 1:
            raise SourceError(f"reconnect back-off factor must be at least 1, got {self.factor}")
        if self.stall_timeout <= 0:
            raise SourceError(f"stall timeout must be positive, got {self.stall_timeout}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before reconnect ``attempt`` (1-based)."""
        return min(self.max_delay, self.initial_delay * self.factor ** (attempt - 1))

    def attempts(self) -> Iterator[int]:
        """Attempt numbers of one outage, 1, 2, … up to ``max_attempts`` (or forever)."""
        if self.max_attempts is None:
            return itertools.count(1)
        return iter(range(1, self.max_attempts + 1))

    def describe(self, attempt: int) -> str:
        """``3/5`` or ``3`` (unbounded), for log lines."""
        return f"{attempt}/{self.max_attempts}" if self.max_attempts else str(attempt)


class StallWatch:
    """Time since the last frame, on the monotonic clock: a clock change must not fake a stall."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._last = time.monotonic()

    def feed(self) -> None:
        self._last = time.monotonic()

    def silent_for(self) -> float:
        return time.monotonic() - self._last

    def remaining(self) -> float:
        """Seconds until the stream counts as stalled (<= 0: it already does)."""
        return self.timeout - self.silent_for()
