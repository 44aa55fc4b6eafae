"""Video sources: turning a spec string from the command line or a config into a stream of frames.

``open_source("0")`` is a local camera, ``rtsp://…``/``http(s)://…`` a network stream (both live:
newest frame wins, reconnect on loss), a folder or an image file still images, ``demo`` the
built-in clip, and anything else a video file (every frame, in order).
"""

from __future__ import annotations

from pathlib import Path

from stream.sources.base import (
    BufferPolicy,
    Frame,
    SourceInfo,
    SourceKind,
    SourceState,
    StateChange,
    VideoSource,
)
from stream.sources.demo import DemoSource
from stream.sources.file import FileSource
from stream.sources.images import ImageSource
from stream.sources.live import LiveSource
from stream.sources.reconnect import ReconnectPolicy
from stream.sources.spec import camera_id_for, classify

__all__ = [
    "BufferPolicy",
    "Frame",
    "ReconnectPolicy",
    "SourceInfo",
    "SourceKind",
    "SourceState",
    "StateChange",
    "VideoSource",
    "camera_id_for",
    "open_source",
]


def open_source(
    spec: str,
    *,
    realtime: bool = False,
    loop: bool = False,
    read_ahead: int = 0,
    reconnect: ReconnectPolicy | None = None,
    transport: str = "tcp",
) -> VideoSource:
    """Open the source ``spec`` names; :class:`~stream.errors.SourceError` if it cannot be.

    ``realtime`` and ``loop`` apply to recorded sources (a live one is always both, and the
    10-second demo clip always loops), ``read_ahead`` (frames decoded ahead) to video files;
    ``reconnect`` and ``transport`` (RTSP over ``tcp`` or ``udp``) to live ones. The default
    policy reconnects forever, as a camera on an edge box should.
    """
    kind = classify(spec)
    if kind in (SourceKind.CAMERA, SourceKind.RTSP, SourceKind.HTTP):
        return LiveSource(spec, kind=kind, reconnect=reconnect, transport=transport)
    if kind is SourceKind.DEMO:
        return DemoSource(realtime=realtime, loop=True)
    if kind is SourceKind.FOLDER:
        return ImageSource.from_folder(Path(spec), loop=loop)
    if kind is SourceKind.IMAGE:
        return ImageSource.from_file(Path(spec), loop=loop)
    return FileSource(spec, realtime=realtime, loop=loop, prefetch=read_ahead)
