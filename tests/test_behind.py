"""Work ahead of the frame runs behind it: lower priority for the threads that run ahead only."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from stream.behind import BEHIND_NICE, made_behind, run_behind
from stream.faces.detector import FaceDetector

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="only Linux keeps a nice value per thread"
)


def nice_of(thread_id: int = 0) -> int:
    return os.getpriority(os.PRIO_PROCESS, thread_id)


def behind_of(nice: int) -> int:
    return min(nice + BEHIND_NICE, 19)


def thread_ids() -> set[int]:
    return {int(tid) for tid in os.listdir("/proc/self/task")}


def test_run_behind_lowers_the_calling_thread_only() -> None:
    mine = nice_of()
    seen: list[int] = []

    def work() -> None:
        run_behind()
        seen.append(nice_of())

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == [behind_of(mine)]
    assert nice_of() == mine


def test_made_behind_returns_what_it_made_and_raises_what_it_raised() -> None:
    mine = nice_of()
    assert made_behind(nice_of) == behind_of(mine)
    assert nice_of() == mine

    def broken() -> None:
        raise FileNotFoundError("no model here")

    with pytest.raises(FileNotFoundError, match="no model here"):
        made_behind(broken)


@pytest.mark.parametrize("behind", [True, False])
def test_a_detector_made_behind_starts_its_graphs_threads_behind(behind: bool) -> None:
    mine = nice_of()
    before = thread_ids()
    detector = FaceDetector(behind=behind)
    try:
        started = thread_ids() - before
        assert started, "MediaPipe starts its graph's threads as the detector is made"
        nices = {nice_of(tid) for tid in started}
        assert nices == {behind_of(mine) if behind else mine}
        assert nice_of() == mine
    finally:
        detector.close()
