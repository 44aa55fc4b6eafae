"""CURVE encryption and client allow-lists for the publish sockets, in the ``zmq.auth`` key format.

The publisher is the CURVE server: it holds a secret key and a folder of the public keys of the
clients it lets in (pyzmq's "ironhouse" pattern). A subscriber is a CURVE client: it holds its own
key pair and the server's public key. Key files are made by ``emostream keys``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from stream.errors import PublishError

log = logging.getLogger(__name__)

_Z85_KEY_LENGTH = 40


def make_keypair(folder: Path, name: str) -> tuple[Path, Path]:
    """Write ``NAME.key`` (public, to hand out) and ``NAME.key_secret`` (owner-only permissions).

    Existing files are never overwritten: replacing a secret key silently locks out every peer
    that trusts the old one.
    """
    if not name or name != Path(name).name or name.startswith("."):
        raise PublishError(f"key name {name!r} must be a plain file name")
    public, secret = folder / f"{name}.key", folder / f"{name}.key_secret"
    for path in (public, secret):
        if path.exists():
            raise PublishError(f"{path} already exists; choose another --name or remove it")
    public_key, secret_key = zmq.curve_keypair()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_certificate(public, 0o644, public_key)
        _write_certificate(secret, 0o600, public_key, secret_key)
    except OSError as exc:
        raise PublishError(f"cannot write keys to {folder}: {exc.strerror or exc}") from None
    return public, secret


def _write_certificate(
    path: Path, mode: int, public_key: bytes, secret_key: bytes | None = None
) -> None:
    """A key file in ``zmq.auth``'s certificate format, created with ``mode`` from its first byte.

    ``zmq.auth.create_certificates`` writes with the default umask and leaves narrowing the
    secret's mode to the caller, so for a moment another user could read it; this never can.
    """
    kind = "Secret" if secret_key is not None else "Public"
    lines = [
        f"#   ZeroMQ CURVE {kind} Certificate, made by emostream keys",
        "#   Keep a secret key to its owner: never copy it to another machine or user."
        if secret_key is not None
        else "#   Hand this file to the peers that should trust this key.",
        "",
        "metadata",
        "curve",
        f'    public-key = "{public_key.decode()}"',
    ]
    if secret_key is not None:
        lines.append(f'    secret-key = "{secret_key.decode()}"')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")


def _load(path: Path, need_secret: bool) -> tuple[bytes, bytes | None]:
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError):
        raise PublishError(f"{path} is not a readable CURVE key file") from None
    if len(public) != _Z85_KEY_LENGTH or (secret is not None and len(secret) != _Z85_KEY_LENGTH):
        raise PublishError(f"{path} holds a malformed CURVE key")
    if need_secret and secret is None:
        raise PublishError(f"{path} has no secret key (use the .key_secret file)")
    return public, secret


def _allowed_clients(clients_dir: Path) -> int:
    if not clients_dir.is_dir():
        raise PublishError(f"client key folder {clients_dir} does not exist")
    keys = sorted(clients_dir.glob("*.key"))
    if not keys:
        raise PublishError(f"client key folder {clients_dir} holds no *.key public keys")
    for key in keys:
        _load(key, need_secret=False)
    return len(keys)


def secure_server(socket: zmq.Socket, secret_file: Path, clients_dir: Path) -> ThreadAuthenticator:
    """Make ``socket`` a CURVE server that admits only the clients in ``clients_dir``.

    Call before bind or connect. The returned authenticator answers the handshakes of every socket
    in ``socket``'s context, so that context must not be shared with another authenticator; stop
    it when the socket is closed. The folder is read once: restart to admit new clients.
    """
    public, secret = _load(secret_file, need_secret=True)
    admitted = _allowed_clients(clients_dir)
    log.info("CURVE: admitting the %d client keys in %s", admitted, clients_dir)
    authenticator = ThreadAuthenticator(socket.context)
    authenticator.start()
    authenticator.configure_curve(domain="*", location=str(clients_dir))
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.curve_server = True
    return authenticator


def secure_client(socket: zmq.Socket, secret_file: Path, server_key_file: Path) -> None:
    """Make ``socket`` a CURVE client of the server whose public key is in ``server_key_file``.

    Call before connect. A server that does not list this client's public key never completes
    the handshake, so such a client simply receives nothing.
    """
    public, secret = _load(secret_file, need_secret=True)
    server_public, _ = _load(server_key_file, need_secret=False)
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.curve_serverkey = server_public
