"""Binds the dashboard's HTTP port ourselves, then hands the socket to uvicorn.

Binding first turns "port in use" into a one-line :class:`DashboardError` instead of uvicorn's
logged traceback and ``sys.exit``.
"""

from __future__ import annotations

import signal
import socket

import uvicorn
from starlette.applications import Starlette

from stream.errors import EmostreamError


class DashboardError(EmostreamError):
    """A dashboard address that cannot be listened on."""


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 picks a free one)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise DashboardError(f"cannot resolve --host {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise DashboardError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def build_server(app: Starlette) -> uvicorn.Server:
    """A uvicorn server for ``app``; quiet, because the command prints its own address line."""
    config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
    return uvicorn.Server(config)


def serve(app: Starlette, sock: socket.socket) -> None:
    """Serve until Ctrl-C or SIGTERM.

    After a graceful shutdown uvicorn raises the stopping signal again under the handler it
    found; with SIGTERM's default action that killed a cleanly stopped dashboard with status
    143, which service managers report as a failure. A no-op handler absorbs it: exit status 0.
    """
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        build_server(app).run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
