"""Binds the dashboard's HTTP port ourselves, then hands the socket to uvicorn.

Binding first turns "port in use" into a one-line :class:`DashboardError` instead of uvicorn's
logged traceback and ``sys.exit``.
"""

from __future__ import annotations

import signal
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class Tls:
    """A certificate chain and its key in PEM files, for HTTPS and WSS."""

    cert: Path
    key: Path

    def check(self) -> None:
        """Load both once now, so a bad file is one line before the server starts."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.cert, self.key)
        except FileNotFoundError as exc:
            raise DashboardError(f"no such TLS file {exc.filename}") from None
        except (OSError, ssl.SSLError) as exc:
            raise DashboardError(
                f"cannot use --tls-cert {self.cert} with --tls-key {self.key}: "
                f"{getattr(exc, 'reason', None) or exc.strerror or exc}"
            ) from None


def build_server(app: Starlette, tls: Tls | None = None) -> uvicorn.Server:
    """A uvicorn server for ``app``; quiet, because the command prints its own address line."""
    config = uvicorn.Config(
        app,
        lifespan="on",
        log_level="warning",
        access_log=False,
        ssl_certfile=tls.cert if tls else None,
        ssl_keyfile=tls.key if tls else None,
    )
    return uvicorn.Server(config)


def serve(app: Starlette, sock: socket.socket, tls: Tls | None = None) -> None:
    """Serve until Ctrl-C or SIGTERM.

    After a graceful shutdown uvicorn raises the stopping signal again under the handler it
    found; with SIGTERM's default action that killed a cleanly stopped dashboard with status
    143, which service managers report as a failure. A no-op handler absorbs it: exit status 0.
    """
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        build_server(app, tls).run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
