"""Summaries of timing samples (p50, p90, p99, mean) and of the process's resident memory."""

from __future__ import annotations

import resource
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import psutil


@dataclass(frozen=True)
class Summary:
    n: int
    p50: float
    p99: float
    mean: float
    p90: float = float("nan")

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if len(values) == 0:
            return cls(0, float("nan"), float("nan"), float("nan"))
        data = np.asarray(values, np.float64)
        return cls(
            len(data),
            float(np.percentile(data, 50)),
            float(np.percentile(data, 99)),
            float(data.mean()),
            float(np.percentile(data, 90)),
        )

    def cell(self, digits: int = 2) -> str:
        """``p50 / p99`` for a table; a dash where nothing was measured."""
        if self.n == 0:
            return "–"
        return f"{self.p50:.{digits}f} / {self.p99:.{digits}f}"

    def to_dict(self) -> dict[str, float]:
        return {"n": self.n, "p50": self.p50, "p90": self.p90, "p99": self.p99, "mean": self.mean}


class RssSampler:
    """The largest resident set seen at the sample points: a peak for one stretch of work.

    ``ru_maxrss`` only ever grows over a process's life, so it cannot tell one benchmark's peak
    from an earlier one's; sampling at every frame can.
    """

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.peak = self._process.memory_info().rss

    def sample(self) -> None:
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def peak_mib(self) -> float:
        return self.peak / (1 << 20)


def process_peak_rss_mib() -> float:
    """The peak resident set of this whole process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
