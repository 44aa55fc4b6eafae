"""``emostream dashboard``: a live web page of every camera on a ZeroMQ endpoint."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from stream.commands.argtypes import positive_seconds
from stream.dashboard.app import create_app
from stream.dashboard.auth import Credentials, read_token, write_token
from stream.dashboard.feed import Feed
from stream.dashboard.server import DashboardError, Tls, listen, serve
from stream.dashboard.state import DashboardState
from stream.errors import PublishError
from stream.loopback import is_loopback
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
            "GET /api/history and GET /healthz. On loopback it is open to this machine's users; "
            "on any other address it needs --auth-file: programs send 'Authorization: Bearer "
            "TOKEN', browsers sign in at /login."
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
    access = parser.add_argument_group("access")
    who = access.add_mutually_exclusive_group()
    who.add_argument(
        "--auth-file",
        type=Path,
        metavar="FILE",
        help="require the secret token on this file's first line (mode 0600) for every route "
        "but /healthz; needed on any --host but loopback",
    )
    who.add_argument(
        "--no-auth",
        action="store_true",
        help="serve a non-loopback --host without credentials: anyone who reaches the port sees "
        "the faces and expressions",
    )
    who.add_argument(
        "--new-token",
        type=Path,
        metavar="FILE",
        help="write a fresh random token to FILE (a new file, mode 0600) and exit",
    )
    access.add_argument(
        "--tls-cert", type=Path, metavar="PEM", help="serve HTTPS with this certificate chain"
    )
    access.add_argument("--tls-key", type=Path, metavar="PEM", help="the certificate's key")
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


def _tls(args: argparse.Namespace) -> Tls | None:
    if (args.tls_cert is None) != (args.tls_key is None):
        raise DashboardError("TLS needs both --tls-cert and --tls-key")
    if args.tls_cert is None:
        return None
    tls = Tls(args.tls_cert, args.tls_key)
    tls.check()
    return tls


def _credentials(args: argparse.Namespace, secure: bool) -> Credentials | None:
    """The token to require, refusing an open dashboard beyond loopback unless asked for."""
    if args.auth_file is not None:
        return Credentials(read_token(args.auth_file), secure)
    if is_loopback(args.host):
        return None
    if not args.no_auth:
        raise DashboardError(
            f"--host {args.host} reaches beyond this machine: give --auth-file FILE "
            "(emostream dashboard --new-token FILE makes one), or --no-auth to serve it open"
        )
    logger.warning(
        "serving on %s with --no-auth: anyone who reaches this port sees the faces and "
        "expressions on it",
        args.host,
    )
    return None


def run(args: argparse.Namespace) -> int:
    if args.new_token is not None:
        write_token(args.new_token)
        print(f"wrote a new dashboard token to {args.new_token} (mode 0600)")
        return 0
    tls = _tls(args)
    credentials = _credentials(args, secure=tls is not None)
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
    host = f"[{args.host}]" if ":" in args.host else args.host
    scheme = "https" if tls else "http"
    access = "sign in with the token" if credentials else "open"
    print(
        f"emostream dashboard: {scheme}://{host}:{sock.getsockname()[1]}/ "
        f"(subscribed to {args.connect}, topics {' '.join(topics)}; {access})",
        flush=True,
    )
    state = DashboardState(args.connect, args.stale_after)
    serve(create_app(state, feed, history=history, credentials=credentials), sock, tls)
    return 0
