"""RTSP sources against a real GStreamer RTSP server: TCP and UDP, a server restart, a dead URL."""

from __future__ import annotations

import select
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from stream.errors import SourceError
from stream.sources import (
    BufferPolicy,
    ReconnectPolicy,
    SourceKind,
    SourceState,
    StateChange,
    open_source,
)

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
_GST_CHECK = (
    "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
    "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
    "missing = [n for n in ('qtdemux', 'h264parse', 'rtph264pay') "
    "if Gst.ElementFactory.find(n) is None]; "
    "assert not missing, missing"
)


def _rtsp_missing() -> str | None:
    if shutil.which("ffmpeg") is None:
        return "ffmpeg is not installed (apt-get install ffmpeg)"
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} is missing"
    check = subprocess.run(
        [SYSTEM_PYTHON, "-c", _GST_CHECK], capture_output=True, text=True, timeout=30
    )
    if check.returncode != 0:
        return (
            "GStreamer RTSP server is not installed (apt-get install python3-gi "
            "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)"
        )
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RtspServer:
    """``tests/rtsp_server.py`` as a subprocess that can be killed and started again."""

    def __init__(self, clip: Path, port: int) -> None:
        self.clip = clip
        self.port = port
        self.url = f"rtsp://127.0.0.1:{port}/test"
        self._process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            process = subprocess.Popen(
                [SYSTEM_PYTHON, str(SERVER_SCRIPT), str(self.port), str(self.clip)],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            assert process.stdout is not None
            ready, _, _ = select.select([process.stdout], [], [], deadline - time.monotonic())
            if ready and process.stdout.readline().strip() == "ready":
                self._process = process
                return
            process.kill()
            process.wait(timeout=5)
            if time.monotonic() > deadline:
                raise RuntimeError(f"RTSP server did not start on port {self.port}")
            time.sleep(0.2)  # the port may still be held by the killed server

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=5)
            self._process = None


@pytest.fixture(scope="module")
def h264_clip(tmp_path_factory: pytest.TempPathFactory, make_clip: Callable[..., Path]) -> Path:
    reason = _rtsp_missing()
    if reason:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("rtsp") / "long.mp4"
    # 40 loops of the 2 s clip: longer than any test reads, since each client starts at 0.
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-stream_loop", "39"]
    command += ["-i", str(make_clip()), "-c:v", "libx264", "-preset", "ultrafast", "-g", "24"]
    subprocess.run(
        [*command, "-pix_fmt", "yuv420p", "-an", str(out)],
        check=True,
        timeout=120,
    )
    return out


@pytest.fixture
def rtsp_server(h264_clip: Path) -> Iterator[RtspServer]:
    server = RtspServer(h264_clip, _free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


def _quick_policy(**overrides: float | None) -> ReconnectPolicy:
    settings: dict = {"initial_delay": 0.2, "max_delay": 1.0, "stall_timeout": 3.0}
    return ReconnectPolicy(**(settings | overrides))


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_reads_frames_over_rtsp(
    rtsp_server: RtspServer, transport: str, clip_frame_number: Callable[[np.ndarray], int]
) -> None:
    with open_source(rtsp_server.url, transport=transport, reconnect=_quick_policy()) as source:
        frames = [source.read(timeout=10) for _ in range(12)]
        assert source.state is SourceState.RUNNING
        assert source.buffer_policy is BufferPolicy.DROP_OLDEST
        assert source.info.kind is SourceKind.RTSP and source.info.is_live
        assert (source.info.width, source.info.height) == (320, 240)
    indexes = [frame.index for frame in frames]
    assert indexes == sorted(set(indexes))
    for frame in frames:
        assert frame.image.shape == (240, 320, 3) and frame.image.dtype == np.uint8
        assert 0 <= clip_frame_number(frame.image) < 48
    assert source.state is SourceState.ENDED


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_reconnects_after_the_server_restarts(rtsp_server: RtspServer, transport: str) -> None:
    changes: list[StateChange] = []
    with open_source(rtsp_server.url, transport=transport, reconnect=_quick_policy()) as source:
        source.add_listener(changes.append)
        for _ in range(5):
            source.read(timeout=10)
        rtsp_server.kill()
        rtsp_server.start()
        after = []
        deadline = time.monotonic() + 25
        while len(after) < 5 and time.monotonic() < deadline:
            frame = source.read(timeout=max(0.1, deadline - time.monotonic()))
            if source.reconnects:
                after.append(frame)
        assert source.reconnects >= 1
        assert len(after) == 5
    states = [change.state for change in changes]
    assert SourceState.RECONNECTING in states
    assert SourceState.RUNNING in states[states.index(SourceState.RECONNECTING) :]


def test_unreachable_url_gives_up_after_the_configured_attempts() -> None:
    url = f"rtsp://viewer:secret@127.0.0.1:{_free_port()}/nothing"
    policy = ReconnectPolicy(max_attempts=3, initial_delay=0.05, max_delay=0.1)
    with open_source(url, reconnect=policy) as source:
        with pytest.raises(SourceError, match="unreachable after 3 attempts") as raised:
            source.read(timeout=20)
        assert source.state is SourceState.ERROR
    message = str(raised.value)
    assert "\n" not in message and "secret" not in message
