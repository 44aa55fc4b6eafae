"""Video sources on real files written by OpenCV, images, the demo clip and a local HTTP stream."""

from __future__ import annotations

import gc
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream.errors import SourceError
from stream.faces.detector import FaceDetector
from stream.sources import (
    BufferPolicy,
    Frame,
    ReconnectPolicy,
    SourceKind,
    SourceState,
    StateChange,
    camera_id_for,
    open_source,
)
from stream.sources.demo import DEMO_FRAMES, DemoSource
from stream.sources.file import PREFETCH, FileSource

FrameNumber = Callable[[np.ndarray], int]


@pytest.fixture(scope="module")
def clip(make_clip: Callable[..., Path]) -> Path:
    return make_clip()


@pytest.fixture(scope="module")
def avi_clip(make_clip: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("avi") / "clip.avi")


def test_file_delivers_every_frame_in_order(clip: Path, clip_frame_number: FrameNumber) -> None:
    source = open_source(str(clip))
    assert source.buffer_policy is BufferPolicy.WAIT
    assert source.info.kind is SourceKind.FILE and not source.info.is_live
    assert (source.info.width, source.info.height, source.info.fps) == (320, 240, 24.0)
    assert source.info.frame_count == 48
    frames = list(source)
    assert [f.index for f in frames] == list(range(48))
    assert [clip_frame_number(f.image) for f in frames] == list(range(48))
    assert all(f.image.shape == (240, 320, 3) and f.image.dtype == np.uint8 for f in frames)
    assert all(f.capture_ms >= 0 and f.captured_at > 0 for f in frames)
    assert source.read() is None
    assert source.state is SourceState.ENDED
    assert source.dropped == 0


def test_state_changes_reach_listeners(clip: Path) -> None:
    changes: list[StateChange] = []
    with open_source(str(clip)) as source:
        source.add_listener(changes.append)
        assert source.state is SourceState.NOT_STARTED
        source.read()
        assert source.state is SourceState.RUNNING
    assert [(c.previous, c.state) for c in changes] == [
        (SourceState.NOT_STARTED, SourceState.RUNNING),
        (SourceState.RUNNING, SourceState.ENDED),
    ]
    assert source.read() is None


def test_loop_starts_again_after_the_last_frame(clip: Path, clip_frame_number: FrameNumber) -> None:
    with open_source(str(clip), loop=True) as source:
        frames = [source.read() for _ in range(48 * 2 + 5)]
    assert [f.index for f in frames] == list(range(48 * 2 + 5))
    assert [clip_frame_number(f.image) for f in frames] == [i % 48 for i in range(48 * 2 + 5)]


def test_realtime_paces_at_the_file_frame_rate(clip: Path) -> None:
    with open_source(str(clip), realtime=True) as source:
        start = time.monotonic()
        for _ in range(13):
            source.read()
        elapsed = time.monotonic() - start
    # 12 frame intervals at 24 fps are 0.5 s; sleeping can overshoot but never undershoot.
    assert elapsed >= 0.4


def test_a_faster_speed_paces_as_a_faster_camera(clip: Path) -> None:
    with FileSource(clip, realtime=True, speed=4.0) as source:
        start = time.monotonic()
        frames = [source.read() for _ in range(13)]
        elapsed = time.monotonic() - start
    assert all(f is not None for f in frames)
    assert elapsed >= 0.1  # 12 intervals at 96 fps are 0.125 s
    with pytest.raises(ValueError, match="speed must be above 0"):
        FileSource(clip, realtime=True, speed=0)


def test_truncated_video_ends_cleanly(avi_clip: Path, tmp_path: Path, clip_frame_number) -> None:
    data = avi_clip.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) * 6 // 10])
    frames = list(open_source(str(cut)))
    assert 0 < len(frames) < 48
    # the last frame may be only partly decoded; every one before it is whole and in order
    numbers = [clip_frame_number(f.image) for f in frames[:-1]]
    assert numbers == list(range(len(frames) - 1))


def own_clip(clip: Path, folder: Path, name: str) -> Path:
    """A copy of the clip under a name of its own, so its decoder thread can be told apart."""
    copy = folder / f"{name}.mp4"
    copy.write_bytes(clip.read_bytes())
    return copy


def decoding(path: Path) -> bool:
    return any(t.name == f"decode {path.name}" for t in threading.enumerate())


def test_a_file_decodes_each_frame_when_it_is_read(clip: Path, tmp_path: Path) -> None:
    clip = own_clip(clip, tmp_path, "on-demand")
    with FileSource(clip) as source:
        first = source.read()
        time.sleep(0.3)  # time enough to decode every frame, were any decoded ahead
        assert source.peek(1) is None
        frames = []
        for _ in range(5):
            asked = time.perf_counter()
            frame = source.read()
            assert frame is not None
            assert frame.ready_at > asked  # decoded for this read, not waiting before it
            frames.append(frame)
    assert first is not None and first.index == 0
    assert [f.index for f in frames] == [1, 2, 3, 4, 5]
    assert not decoding(clip)


def test_a_file_is_read_ahead_only_when_asked(clip: Path) -> None:
    with open_source(str(clip)) as taken, open_source(str(clip), read_ahead=2) as ahead:
        assert taken.read() is not None and ahead.read() is not None
        deadline = time.monotonic() + 10
        while ahead.peek(2) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ahead.peek(2) is not None and ahead.peek(3) is None
        assert taken.peek(1) is None


def test_reading_ahead_is_never_negative(clip: Path) -> None:
    with pytest.raises(ValueError, match="negative"):
        FileSource(clip, prefetch=-1)


def test_file_decodes_ahead_of_the_reader_but_only_a_few_frames(clip: Path, tmp_path: Path) -> None:
    clip = own_clip(clip, tmp_path, "ahead")
    with FileSource(clip, prefetch=PREFETCH) as source:
        first = source.read()
        time.sleep(0.3)  # decoding 48 small frames takes far less: the buffer fills and stops
        resumed = time.perf_counter()
        frames = [source.read() for _ in range(PREFETCH + 3)]
    assert first is not None and all(f is not None for f in frames)
    # only the buffer's frames were whole before reading resumed: the next waited for room
    # before it was decoded, so no frame waits uncounted
    assert sum(f.ready_at < resumed for f in frames) == PREFETCH
    assert [f.index for f in frames] == list(range(1, PREFETCH + 4))
    assert len({id(f.image) for f in frames}) == len(frames)  # no buffer is reused
    assert not decoding(clip)


def test_a_file_shows_the_frames_it_holds_without_handing_them_over(clip: Path) -> None:
    with FileSource(clip, prefetch=PREFETCH) as source:
        first = source.read()
        deadline = time.monotonic() + 10
        while source.peek(PREFETCH) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        held = [source.peek(ahead) for ahead in range(1, PREFETCH + 1)]
        assert source.peek(PREFETCH + 1) is None  # never decoded past the buffer, nor waited for
        assert source.peek(0) is None
        frames = [source.read() for _ in range(PREFETCH)]
    assert first is not None and first.index == 0
    assert [f.index for f in held if f is not None] == list(range(1, PREFETCH + 1))
    assert frames == held  # the very frames seen, each read in its turn


def test_a_file_dropped_without_closing_stops_decoding(clip: Path, tmp_path: Path) -> None:
    clip = own_clip(clip, tmp_path, "dropped")
    source = FileSource(clip)
    assert source.read() is not None
    assert decoding(clip)
    del source
    gc.collect()
    deadline = time.monotonic() + 10
    while decoding(clip) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not decoding(clip)


def test_closing_a_file_wakes_a_waiting_reader_and_stops_decoding(
    clip: Path, tmp_path: Path
) -> None:
    clip = own_clip(clip, tmp_path, "woken")
    source = FileSource(clip, realtime=True)  # 24 fps: a reader waits ~40 ms for each frame
    got: list[Frame | None] = []
    reader = threading.Thread(target=lambda: got.extend(iter(lambda: source.read(), None)))
    reader.start()
    time.sleep(0.2)
    source.close()
    reader.join(timeout=2.0)
    assert not reader.is_alive()
    assert 0 < len(got) < 48
    assert source.read() is None and source.state is SourceState.ENDED
    assert not decoding(clip)


def test_a_file_closed_before_reading_starts_no_decoder(clip: Path, tmp_path: Path) -> None:
    clip = own_clip(clip, tmp_path, "unread")
    source = FileSource(clip)
    source.close()
    source.close()
    assert source.read() is None
    assert not decoding(clip)


def test_a_decoding_failure_is_a_source_error(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stream.sources import file

    clip = own_clip(clip, tmp_path, "failing")
    decoded = 0
    real = file._read_timed

    def failing(capture: cv2.VideoCapture) -> tuple[np.ndarray | None, float, float]:
        nonlocal decoded
        decoded += 1
        if decoded > 5:
            raise cv2.error("corrupt packet\nin function 'read'\n")
        return real(capture)

    monkeypatch.setattr(file, "_read_timed", failing)
    source = FileSource(clip)
    frames = []
    with pytest.raises(SourceError, match="decoding failed at frame 5") as caught:
        while (frame := source.read()) is not None:
            frames.append(frame)
    assert len(frames) == 5 and "\n" not in str(caught.value)
    assert source.read() is None
    assert not decoding(clip)


def test_a_reader_of_a_paced_file_gets_a_timeout_not_a_hang(clip: Path) -> None:
    timeouts = 0
    with FileSource(clip, realtime=True) as source:
        source.read()
        for _ in range(5):  # each next frame is due ~40 ms later
            try:
                source.read(timeout=0.001)
            except TimeoutError:
                timeouts += 1
        assert source.read(timeout=1.0) is not None
    assert timeouts


def test_single_image_is_one_frame(tmp_path: Path, astronaut: np.ndarray) -> None:
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), astronaut)
    source = open_source(str(path))
    assert source.info.kind is SourceKind.IMAGE
    assert (source.info.width, source.info.height, source.info.frame_count) == (512, 512, 1)
    frame = source.read()
    assert frame is not None and np.array_equal(frame.image, astronaut)
    assert source.read() is None
    looped = open_source(str(path), loop=True)
    assert [looped.read().index for _ in range(3)] == [0, 1, 2]


def test_folder_plays_images_in_name_order_and_skips_unreadable(
    tmp_path: Path, clip: Path, clip_frame_number: FrameNumber
) -> None:
    capture = cv2.VideoCapture(str(clip))
    images = [capture.read()[1] for _ in range(11)]
    capture.release()
    for number in (10, 2, 1):
        cv2.imwrite(str(tmp_path / f"frame{number}.png"), images[number])
    (tmp_path / "frame3.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("not an image either")
    source = open_source(str(tmp_path))
    assert source.info.kind is SourceKind.FOLDER
    assert [clip_frame_number(f.image) for f in source] == [1, 2, 10]
    assert source.skipped == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.mp4", None, "no such file"),
        ("text.mp4", b"hello, not a video", "not a video"),
        ("empty.avi", b"", "not a video"),
        ("broken.jpg", b"\xff\xd8 not really a jpeg", "no readable image"),
        ("empty-folder", "folder", "no image files"),
    ],
)
def test_bad_sources_raise_one_line_source_errors(
    tmp_path: Path, name: str, content: bytes | str | None, message: str
) -> None:
    path = tmp_path / name
    if content == "folder":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(SourceError, match=message) as raised:
        open_source(str(path))
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("0", "cam0"),
        ("12", "cam12"),
        ("rtsp://admin:hunter2@10.1.1.20:554/Streaming/101", "rtsp-10-1-1-20-554-streaming-101"),
        ("rtsp://cam.local/live", "rtsp-cam-local-live"),
        ("https://example.org:8443/video.mjpg", "http-example-org-8443-video-mjpg"),
        ("recordings/Lobby Door 2.mp4", "lobby-door-2"),
        ("still/face.PNG", "face"),
        ("demo", "demo"),
        ("___.mp4", "camera"),
    ],
)
def test_camera_id_for_is_short_and_topic_safe(spec: str, expected: str | None) -> None:
    camera = camera_id_for(spec)
    if expected is not None:
        assert camera == expected
    assert camera and len(camera) <= 48
    assert all(c.isascii() and (c.isalnum() or c == "-") for c in camera)
    assert "hunter2" not in camera and "admin" not in camera


def test_camera_id_for_a_folder_is_its_name(tmp_path: Path) -> None:
    folder = tmp_path / "Front Gate"
    folder.mkdir()
    assert camera_id_for(str(folder)) == "front-gate"


def test_reconnect_policy_backs_off_exponentially() -> None:
    policy = ReconnectPolicy(max_attempts=6, initial_delay=0.5, max_delay=3.0, factor=2.0)
    assert [policy.delay(a) for a in policy.attempts()] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    forever = ReconnectPolicy(max_attempts=None)
    assert next(n for n in forever.attempts() if n == 1000) == 1000


@pytest.mark.parametrize(
    "settings",
    [{"max_attempts": 0}, {"initial_delay": -1.0}, {"factor": 0.5}, {"stall_timeout": 0.0}],
)
def test_nonsense_reconnect_settings_are_refused(settings: dict) -> None:
    with pytest.raises(SourceError):
        ReconnectPolicy(**settings)


def test_unknown_rtsp_transport_is_refused() -> None:
    with pytest.raises(SourceError, match="tcp or udp"):
        open_source("rtsp://127.0.0.1:9/x", transport="sctp")


def test_missing_camera_gives_up_after_the_configured_attempts() -> None:
    policy = ReconnectPolicy(max_attempts=2, initial_delay=0.05)
    with open_source("63", reconnect=policy) as source:
        assert source.info.kind is SourceKind.CAMERA and source.info.is_live
        with pytest.raises(SourceError, match="unreachable after 2 attempts"):
            source.read(timeout=30)
        assert source.state is SourceState.ERROR


def test_demo_clip_is_deterministic_and_moves() -> None:
    first = DemoSource(realtime=False, loop=False)
    second = open_source("demo")
    assert first.info.kind is SourceKind.DEMO
    assert (first.info.width, first.info.height) == (640, 360)
    a = [f.image for f in first]
    assert len(a) == DEMO_FRAMES == first.info.frame_count
    b = [second.read().image for _ in range(DEMO_FRAMES + 1)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=False))
    assert np.array_equal(b[DEMO_FRAMES], a[0]), "the demo clip loops"
    assert not np.array_equal(a[0], a[DEMO_FRAMES // 4])


def test_demo_frames_show_a_face() -> None:
    source = DemoSource(realtime=False, loop=False)
    images = [frame.image for frame in source][::5]
    sizes = []
    detector = FaceDetector("full", min_score=0.5, max_faces=1)
    try:
        for image in images:
            found = detector.detect_bgr(image)
            if found:
                sizes.append(found[0].box[2])
    finally:
        detector.close()
    assert len(sizes) >= 0.9 * len(images)
    assert max(sizes) > 1.5 * min(sizes), "the face changes size"


class _ClipServer(http.server.ThreadingHTTPServer):
    """Serves one video over HTTP, whole (``/clip``) or cut short and then silent (``/stall``)."""

    daemon_threads = True

    def __init__(self, clip: Path) -> None:
        self.data = clip.read_bytes()
        self.release = threading.Event()
        super().__init__(("127.0.0.1", 0), _ClipHandler)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ClipHandler(http.server.BaseHTTPRequestHandler):
    server: _ClipServer

    def do_GET(self) -> None:
        data = self.server.data
        self.send_response(200)
        self.send_header("Content-Type", "video/x-msvideo")
        self.end_headers()
        if self.path == "/clip":
            self.wfile.write(data)
        elif self.path == "/stall":
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.server.release.wait(timeout=20)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: request lines are not test output."""


@pytest.fixture
def clip_server(avi_clip: Path) -> Iterator[_ClipServer]:
    server = _ClipServer(avi_clip)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def test_live_stream_keeps_the_newest_frame_and_reconnects_at_its_end(
    clip_server: _ClipServer,
) -> None:
    policy = ReconnectPolicy(initial_delay=0.1, max_delay=0.5, stall_timeout=5.0)
    with open_source(f"{clip_server.base}/clip", reconnect=policy) as source:
        assert source.buffer_policy is BufferPolicy.DROP_OLDEST
        assert source.info.kind is SourceKind.HTTP and source.info.is_live
        first = source.read(timeout=10)
        deadline = time.monotonic() + 15
        while source.reconnects < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        latest = source.read(timeout=10)
        assert source.reconnects >= 2
        assert source.dropped > 0
        assert latest.index > first.index + 1


def test_stalled_stream_is_reconnected(clip_server: _ClipServer) -> None:
    changes: list[StateChange] = []
    policy = ReconnectPolicy(initial_delay=0.1, max_delay=0.5, stall_timeout=1.0)
    with open_source(f"{clip_server.base}/stall", reconnect=policy) as source:
        source.add_listener(changes.append)
        source.read(timeout=10)
        deadline = time.monotonic() + 15
        while source.reconnects < 1 and time.monotonic() < deadline:
            source.read(timeout=max(0.1, deadline - time.monotonic()))
        assert source.reconnects >= 1
        assert source.read(timeout=10) is not None
    lost = [c for c in changes if c.state is SourceState.RECONNECTING]
    assert lost and all(c.reason for c in lost)
