"""``emostream dashboard``: a live web page of every camera on a ZeroMQ endpoint."""

from __future__ import annotations

import argparse
import ipaddress
import logging
from pathlib import Path

from stream.commands.argtypes import positive_seconds
from stream.dashboard.app import create_app
from stream.dashboard.feed import Feed
from stream.dashboard.server import DashboardError, listen, serve
from stream.dashboard.state import DashboardState
from stream.errors import PublishError
from stream.publish.schema import TOPIC_PREFIX
from stream.store.history import History

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dashboard",
        help="serve a live web dashboard of the published labels",
        description=(
            "Subscribe to an emostream ZeroMQ endpoint and serve a web page with one card per "
            "camera: labels and probabilities per face, a timeline of the dominant expression, "
            "FPS, latency, drops, and a stale state when a camera goes quiet. With --db, also "
            "the day's history from emostream record's store. Also serves GET /api/state, "
            "GET /api/history and GET /healthz."
        ),
    )
    parser.add_argument(
        "--connect",
        default="tcp://127.0.0.1:5556",
        metavar="ENDPOINT",
        help="publisher or broker endpoint to subscribe to (default: %(default)s)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to serve on (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8080, help="port to serve on (default: %(default)s)"
    )
    parser.add_argument(
        "--topic",
        action="append",
        metavar="PREFIX",
        help=f"topic prefix to subscribe to, repeatable (default: {TOPIC_PREFIX})",
    )
    parser.add_argument(
        "--curve-secret",
        type=Path,
        metavar="FILE",
        help="this subscriber's CURVE certificate (.key_secret); needs --curve-server-key",
    )
    parser.add_argument(
        "--curve-server-key",
        type=Path,
        metavar="FILE",
        help="the publisher's public CURVE certificate (.key)",
    )
    parser.add_argument(
        "--stale-after",
        type=positive_seconds,
        default=3.0,
        metavar="SECONDS",
        help="mark a camera stale after this long without messages (default: %(default)s)",
    )
    parser.add_argument(
        "--db",
        metavar="PATH|URL",
        help="show history from this emostream record store (SQLite file or postgresql:// URL): "
        "each camera's expressions per minute over the last hour and day, faces seen and the "
        "longest tracks",
    )
    parser.set_defaults(handler=run)


def _topics(prefixes: list[str] | None) -> list[str]:
    """The prefixes, refusing any that could never match an emostream topic."""
    topics = prefixes or [TOPIC_PREFIX]
    for topic in topics:
        if not (topic.startswith(TOPIC_PREFIX) or TOPIC_PREFIX.startswith(topic)):
            raise PublishError(
                f"--topic {topic!r} matches no emostream topic; did you mean {TOPIC_PREFIX}{topic}?"
            )
    return topics


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def run(args: argparse.Namespace) -> int:
    topics = _topics(args.topic)
    history = History(args.db) if args.db else None
    feed = Feed(
        args.connect,
        topics,
        curve_secret=args.curve_secret,
        curve_server_key=args.curve_server_key,
    )
    feed.open()
    try:
        sock = listen(args.host, args.port)
    except DashboardError:
        feed.close()
        raise
    if not _is_loopback(args.host):
        logger.warning(
            "serving on %s: the dashboard has no login, anyone there can read it", args.host
        )
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"emostream dashboard: http://{host}:{sock.getsockname()[1]}/ "
        f"(subscribed to {args.connect}, topics {' '.join(topics)})",
        flush=True,
    )
    state = DashboardState(args.connect, args.stale_after)
    serve(create_app(state, feed, history=history), sock)
    return 0
