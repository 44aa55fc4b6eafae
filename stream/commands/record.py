"""``emostream record``: store every face result, and a summary a minute, for history."""

from __future__ import annotations

import argparse

from stream.commands.argtypes import (
    add_curve_client_options,
    add_metrics_option,
    positive_seconds,
    retention_days,
)
from stream.store.service import DEFAULT_KEEP_DAYS, RecordOptions, run_recorder


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
    run_recorder(
        RecordOptions(
            connect=args.connect,
            db=args.db,
            keep_days=args.keep_days,
            batch_s=args.batch_s,
            metrics=args.metrics,
            curve_secret=args.curve_secret,
            curve_server_key=args.curve_server_key,
        )
    )
    return 0
