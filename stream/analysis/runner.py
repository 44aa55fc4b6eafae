"""Many recordings through the Analyzer: inputs expanded, files in parallel, results in order.

With ``workers`` > 1 each worker process loads the models once and takes whole files; the model
threads are split between the workers, so two workers on two cores do not fight over four
threads. Results come back in the order of the inputs, whatever order the files finish in, so
the output is identical to a sequential run. Progress goes through a queue to the parent, which
draws one bar per file.
"""

from __future__ import annotations

import glob
import logging
import multiprocessing
import multiprocessing.util
import queue
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stream.analysis.api import Analyzer
from stream.analysis.rows import frame_rows
from stream.errors import EmostreamError

log = logging.getLogger(__name__)

GLOB_CHARS = frozenset("*?[")


@dataclass
class Outcome:
    """What one input gave: its rows, or the one-line reason it gave none."""

    index: int
    source: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def expand(inputs: list[str]) -> list[str]:
    """Files and folders as given; glob patterns (``**`` too) replaced by their sorted matches.

    A pattern that matches nothing stays as it is, so it fails later with its own one line.
    """
    out: list[str] = []
    for spec in inputs:
        if GLOB_CHARS & set(spec) and not Path(spec).exists():
            matches = sorted(glob.glob(spec, recursive=True))
            out += matches or [spec]
        else:
            out.append(spec)
    return out


Progress = Callable[[int, int, int | None], None]  # input index, frames done, frames total


def analyze_one(analyzer: Analyzer, index: int, source: str, progress: Progress | None) -> Outcome:
    outcome = Outcome(index, source)
    report = None if progress is None else (lambda done, total: progress(index, done, total))
    try:
        for frame in analyzer.video(source, report):
            outcome.rows.extend(frame_rows(frame, analyzer.labels))
    except EmostreamError as exc:
        outcome.error = str(exc)
    if not outcome.rows and outcome.error is None:
        outcome.error = f"{source}: no frames"
    return outcome


_worker: Analyzer | None = None
_progress_queue: Any = None


def _start_worker(options: dict[str, Any], progress_queue: Any) -> None:
    global _worker, _progress_queue
    _worker = Analyzer(**options)
    _progress_queue = progress_queue
    # Close it as the worker process ends, before interpreter shutdown stops the thread pool
    # that mediapipe needs to close its detector (an atexit hook would come too late).
    multiprocessing.util.Finalize(None, _worker.close, exitpriority=10)


def _work(index: int, source: str) -> Outcome:
    assert _worker is not None
    send = None
    if _progress_queue is not None:
        send = lambda i, done, total: _progress_queue.put((i, done, total))  # noqa: E731
    return analyze_one(_worker, index, source, send)


def analyze_all(
    sources: list[str],
    options: dict[str, Any],
    workers: int,
    progress: Progress | None = None,
) -> Iterator[Outcome]:
    """Each source's :class:`Outcome`, in input order."""
    if workers <= 1 or len(sources) <= 1:
        with Analyzer(**options) as analyzer:
            for index, source in enumerate(sources):
                yield analyze_one(analyzer, index, source, progress)
        return
    context = multiprocessing.get_context("spawn")  # fork would copy the models' native threads
    progress_queue = context.Queue() if progress is not None else None
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(options, progress_queue)
    ) as pool:
        futures: list[Future[Outcome]] = [
            pool.submit(_work, index, source) for index, source in enumerate(sources)
        ]
        for future in futures:
            while progress is not None and not future.done():
                _drain(progress_queue, progress, timeout=0.1)
            if progress is not None:
                _drain(progress_queue, progress, timeout=0.0)
            yield future.result()


def _drain(progress_queue: Any, progress: Progress, timeout: float) -> None:
    """Pass on every progress report waiting in the queue, waiting ``timeout`` for the first."""
    try:
        item = progress_queue.get(timeout=timeout) if timeout else progress_queue.get_nowait()
        while True:
            progress(*item)
            item = progress_queue.get_nowait()
    except queue.Empty:
        return
