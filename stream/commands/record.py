"""``emostream record``: store every face result, and a summary a minute, for history."""

from __future__ import annotations

import argparse
import contextlib
import logging

from stream.commands.argtypes import (
    add_curve_client_options,
    add_metrics_option,
    positive_seconds,
    retention_days,
)
from stream.metrics import MetricsServer, RecordMetrics
from stream.publish.subscriber import Subscriber
from stream.store.database import Store
from stream.store.recorder import Recorder

log = logging.getLogger(__name__)

POLL_S = 0.1
DEFAULT_KEEP_DAYS = 30.0
"""A month of history, unless asked: expressions of identifiable people are personal data, kept
no longer than the dashboard's day view and a month's look back need."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "record",
        help="store every face result and a per-minute summary in SQLite or PostgreSQL",
        description=(
            "Subscribe to a pipeline or broker and store every face result (camera, time, "
            "frame, track, label, confidence, probabilities, quality) and one row per camera "
            "per minute (frames, faces, share of each expression, mean confidence, missed "
            "frames). Batched transactions, once a second; SQLite in WAL mode survives kill -9 "
            "with at most the last batch lost. Rows older than --keep-days are deleted. A new "
            "SQLite file is created readable by its owner alone (mode 0600). No images are "
            "stored. Tables: stream/store/schema.py."
        ),
    )
    parser.add_argument(
        "--connect", required=True, metavar="ENDPOINT", help="e.g. tcp://127.0.0.1:5556"
    )
    parser.add_argument(
        "--db",
        required=True,
        metavar="PATH|URL",
        help="an SQLite file (created when missing) or a postgresql:// URL",
    )
    parser.add_argument(
        "--keep-days",
        type=retention_days,
        default=DEFAULT_KEEP_DAYS,
        metavar="N|forever",
        help="delete rows older than N days, checked hourly (default: %(default)s; 'forever' "
        "keeps every row)",
    )
    parser.add_argument(
        "--batch-s", type=positive_seconds, default=1.0, metavar="S", help="seconds per batch"
    )
    add_curve_client_options(parser)
    add_metrics_option(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    store = Store(args.db)
    recorder = Recorder(store, batch_s=args.batch_s, keep_days=args.keep_days)
    with contextlib.ExitStack() as stack:
        stack.callback(store.close)
        subscriber = stack.enter_context(
            Subscriber(
                args.connect,
                curve_secret=args.curve_secret,
                curve_server_key=args.curve_server_key,
            )
        )
        if args.metrics:
            metrics = RecordMetrics(lambda: vars(recorder.counts) | {"buffered": recorder.buffered})
            stack.callback(MetricsServer(metrics.registry, args.metrics).close)
        stack.callback(_summary, recorder)
        stack.callback(recorder.flush)  # the last batch, on Ctrl-C or SIGTERM too
        log.info("recording %s into %s", args.connect, store.redacted)
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
