"""``emostream broker``: one hub that many pipelines publish into and many dashboards read from."""

from __future__ import annotations

import argparse
import signal

from stream.publish.broker import Broker


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "broker",
        help="forward messages from many pipelines to many subscribers",
        description=(
            "Run an XSUB/XPUB forwarder: pipelines started with --connect FRONTEND publish into "
            "it, subscribers and dashboards connect to BACKEND. A slow subscriber only loses its "
            "own messages. Stops cleanly on Ctrl-C or SIGTERM."
        ),
    )
    parser.add_argument(
        "--frontend",
        default="tcp://127.0.0.1:5555",
        metavar="ENDPOINT",
        help="where pipelines connect (default tcp://127.0.0.1:5555: loopback only)",
    )
    parser.add_argument(
        "--backend",
        default="tcp://127.0.0.1:5556",
        metavar="ENDPOINT",
        help="where subscribers connect (default tcp://127.0.0.1:5556: loopback only)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    with Broker(args.frontend, args.backend) as broker:
        previous = signal.signal(signal.SIGTERM, lambda *_: broker.stop())
        try:
            broker.run()
        finally:
            signal.signal(signal.SIGTERM, previous)
    return 0
