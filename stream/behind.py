"""Threads whose work runs ahead of the frame yield the CPU to the frame on its way out.

With detection ahead, a small CPU runs more busy threads than it has cores: the frame being
labelled (crop, encoder, head, message), MediaPipe's detector on a frame three ahead, a face-mesh
reading a frame behind. The kernel shares the cores evenly among them, so the frame whose labels
are due waits behind work whose result is needed frames later. Run behind, at a lower priority,
that work takes whatever the frame leaves and is still done in time: the frame that needs it
waits on it, and then it has the core. On the sample clip, pre-decoded, on a 2-core AVX2 EPYC:
1.26 against 1.38 and 1.27 against 1.46 ms a frame (medians of eight and ten alternated rounds).

Linux keeps a nice value per thread: ``setpriority`` on the calling thread changes that thread
only, and the threads it starts inherit it. Elsewhere it would change the whole process, so
this is done on Linux only. No thread can win its priority back without privileges, so only
threads that run behind for their whole life are lowered.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

log = logging.getLogger(__name__)

BEHIND_NICE = 10
"""How much nicer than the frame's thread the work ahead runs: the kernel's weights for nice 0
and 10 are about 9 to 1, so a frame's thread sharing a core with it gets nine tenths. Less (3
or 5) won half the gain or less, measured alike."""

T = TypeVar("T")


def run_behind() -> None:
    """Lower the calling thread's priority by :data:`BEHIND_NICE` (Linux only)."""
    if sys.platform != "linux":
        return
    try:
        nice = os.getpriority(os.PRIO_PROCESS, 0)
        os.setpriority(os.PRIO_PROCESS, 0, min(nice + BEHIND_NICE, 19))
    except OSError as exc:  # a sandbox may refuse it: the work still runs, only not behind
        log.debug("could not lower a thread's priority: %s", exc)


def made_behind(make: Callable[[], T]) -> T:
    """``make()``, called on a short-lived thread that runs behind, so every thread it starts
    (MediaPipe's graph and its pools) runs behind for good; what it raises is raised here."""
    with ThreadPoolExecutor(1, thread_name_prefix="made-behind", initializer=run_behind) as pool:
        return pool.submit(make).result()
