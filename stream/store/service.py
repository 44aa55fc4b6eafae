"""``emostream record``'s loop: the stream in, batches into the store, until a signal.

The command parses its options into :class:`RecordOptions` and calls :func:`run_recorder`. The
last batch is written on the way out, on Ctrl-C and SIGTERM too.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

from stream.metrics import MetricsServer, RecordMetrics
from stream.publish.subscriber import Subscriber
from stream.store.database import Store
from stream.store.recorder import Recorder

log = logging.getLogger(__name__)

POLL_S = 0.1
DEFAULT_KEEP_DAYS = 30.0
"""A month of history, unless asked: expressions of identifiable people are personal data, kept
no longer than the dashboard's day view and a month's look back need."""


@dataclass(frozen=True)
class RecordOptions:
    connect: str
    db: str
    keep_days: float | None = DEFAULT_KEEP_DAYS
    """None keeps every row."""
    batch_s: float = 1.0
    metrics: tuple[str, int] | None = None
    curve_secret: Path | None = None
    curve_server_key: Path | None = None


def run_recorder(options: RecordOptions) -> None:
    """Record until interrupted (KeyboardInterrupt, which the CLI turns into status 130)."""
    store = Store(options.db)
    recorder = Recorder(store, batch_s=options.batch_s, keep_days=options.keep_days)
    with contextlib.ExitStack() as stack:
        stack.callback(store.close)
        subscriber = stack.enter_context(
            Subscriber(
                options.connect,
                curve_secret=options.curve_secret,
                curve_server_key=options.curve_server_key,
            )
        )
        if options.metrics:
            metrics = RecordMetrics(lambda: vars(recorder.counts) | {"buffered": recorder.buffered})
            stack.callback(MetricsServer(metrics.registry, options.metrics).close)
        stack.callback(_summary, recorder)
        stack.callback(recorder.flush)  # the last batch, on Ctrl-C or SIGTERM too
        log.info("recording %s into %s", options.connect, store.redacted)
        while True:
            message = subscriber.receive(timeout=POLL_S)
            if message is not None:
                recorder.take(message)
            if recorder.due():
                recorder.flush()


def _summary(recorder: Recorder) -> None:
    c = recorder.counts
    log.info(
        "%d frames, %d face rows written, %d dropped, %d failed writes, %d frames missed",
        c.frames,
        c.faces_written,
        c.dropped,
        c.failed_flushes,
        c.missed,
    )
