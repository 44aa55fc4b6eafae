"""What a source spec string (``0``, ``rtsp://…``, ``clip.mp4``, ``frames/``, ``demo``) names."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from stream.errors import SourceError
from stream.sources.base import SourceKind
from stream.sources.images import IMAGE_SUFFIXES

_URL_KINDS = {
    "rtsp": SourceKind.RTSP,
    "rtsps": SourceKind.RTSP,
    "http": SourceKind.HTTP,
    "https": SourceKind.HTTP,
}
_MAX_ID = 48


def classify(spec: str) -> SourceKind:
    if spec == "demo":
        return SourceKind.DEMO
    if spec.isdigit():
        return SourceKind.CAMERA
    scheme = spec.partition("://")[0].lower() if "://" in spec else ""
    if scheme in _URL_KINDS:
        return _URL_KINDS[scheme]
    path = Path(spec)
    if path.is_dir():
        return SourceKind.FOLDER
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return SourceKind.IMAGE
    return SourceKind.FILE


def _port(uri: str) -> int | None:
    try:
        return urlsplit(uri).port
    except ValueError:
        raise SourceError(f"{uri.split('@')[-1]}: invalid port in URL") from None


def redact(uri: str) -> str:
    """The URI without its password, for logs, errors and ``SourceInfo.uri``."""
    if "://" not in uri:
        return uri
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    port = _port(uri)
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{port}" if port is not None else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:_MAX_ID].rstrip("-")


def camera_id_for(spec: str) -> str:
    """A short default camera id, safe in a ZeroMQ topic (lower-case letters, digits, ``-``).

    ``0`` → ``cam0``, ``rtsp://user:pw@10.0.0.5:8554/live/main`` → ``rtsp-10-0-0-5-8554-live-main``
    (never the credentials), ``videos/Lobby Door.mp4`` → ``lobby-door``, ``demo`` → ``demo``.
    """
    kind = classify(spec)
    if kind is SourceKind.DEMO:
        return "demo"
    if kind is SourceKind.CAMERA:
        return f"cam{int(spec)}"
    if kind in (SourceKind.RTSP, SourceKind.HTTP):
        parts, port = urlsplit(spec), _port(spec)
        port_part = f"-{port}" if port is not None else ""
        return _slug(f"{kind}-{parts.hostname or ''}{port_part}-{parts.path}") or str(kind)
    path = Path(spec)
    name = path.resolve().name if kind is SourceKind.FOLDER else path.stem
    return _slug(name) or "camera"
