"""The whole runtime end to end: `emostream run` as a real process publishing to a real subscriber.

Clips are written by OpenCV from the astronaut photo (tests/conftest.py); the models are the
shipped ones (or a tiny set trained for the tests before any are shipped).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream.faces.detector import FaceDetector
from stream.faces.tracker import IouTracker
from stream.models import load_models
from stream.pipeline import Pipeline, PipelineOptions
from stream.publish.schema import FRAME_SCHEMA, LATENCY_STAGES, STATS_SCHEMA, decode
from stream.publish.subscriber import Subscriber
from stream.recognizer import Recognizer
from stream.sources import Frame, SourceInfo, SourceKind, SourceState, VideoSource

SHARED_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "videos"


def free_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def emostream(*args: str, model_dir: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "stream", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**(os.environ if env is None else env), "EMOSTREAM_MODELS": str(model_dir)},
    )


def preview_socket(endpoint: str, camera: str):
    """A raw SUB socket on ``camera``'s preview JPEGs, 30 s receive timeout; close it after."""
    import zmq

    sock = zmq.Context.instance().socket(zmq.SUB)
    sock.setsockopt(zmq.SUBSCRIBE, f"emostream/{camera}/preview".encode())
    sock.setsockopt(zmq.RCVTIMEO, 30_000)
    sock.connect(endpoint)
    return sock


def collect(subscriber: Subscriber, frames: int, timeout: float = 60) -> tuple[list, list]:
    """Frame and stats payloads until ``frames`` frame messages arrived (bounded by ``timeout``)."""
    got, stats = [], []
    deadline = time.monotonic() + timeout
    while len(got) < frames and time.monotonic() < deadline:
        message = subscriber.receive(timeout=1.0)
        if message is None:
            continue
        (stats if message.is_stats else got).append(message.payload)
    return got, stats


def finish(process: subprocess.Popen, timeout: float = 30) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return process.returncode, out, err


def test_file_streams_every_frame_to_a_waiting_subscriber(
    make_clip, model_dir: Path, tmp_path: Path
) -> None:
    clip = make_clip(frames=24, faces=1)
    endpoint = free_endpoint()
    record = tmp_path / "annotated.mp4"
    process = emostream(
        "run", "--source", str(clip), "--publish", endpoint, "--camera-id", "lab",
        "--wait-subscribers", "1", "--wait-timeout", "30", "--send-codes",
        "--record", str(record), "--preview-fps", "50", model_dir=model_dir,
    )  # fmt: skip
    with Subscriber(endpoint, ["emostream/lab"]) as subscriber:
        frames, stats = collect(subscriber, 24)
        assert subscriber.malformed == 0  # the JPEG previews are skipped, not malformed
    code, _, err = finish(process)
    assert code == 0, err
    assert [f["frame"] for f in frames] == list(range(24))
    labels = set(load_models(model_dir).manifest.labels)
    for payload in frames:
        assert payload["schema"] == FRAME_SCHEMA and payload["camera"] == "lab"
        assert payload["image"] == {"width": 320, "height": 240}
        assert set(LATENCY_STAGES) <= set(payload["latency_ms"])
        assert payload["published_at"] >= payload["captured_at"]
    with_face = [f for f in frames if f["faces"]]
    assert len(with_face) >= 20
    face = with_face[-1]["faces"][0]
    assert face["label"] in labels and set(face["probs"]) == labels
    assert abs(sum(face["probs"].values()) - 1) < 0.01
    assert 0 <= face["quality"] <= 1 and isinstance(face["uncertain"], bool)
    assert all(-128 <= v <= 127 for v in face["code"])
    assert {f["faces"][0]["id"] for f in with_face} == {face["id"]}  # one stable track
    assert stats and stats[-1]["schema"] == STATS_SCHEMA
    capture = cv2.VideoCapture(str(record))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 24


def test_frames_without_faces_are_published_too(make_clip, model_dir: Path) -> None:
    clip = make_clip(frames=6, faces=0)
    endpoint = free_endpoint()
    process = emostream(
        "run", "--source", str(clip), "--publish", endpoint, "--wait-subscribers", "1",
        "--min-score", "0.7", model_dir=model_dir,
    )  # fmt: skip
    with Subscriber(endpoint) as subscriber:
        frames, _ = collect(subscriber, 6)
    assert finish(process)[0] == 0
    assert [f["faces"] for f in frames] == [[]] * 6


def test_sigterm_stops_a_looping_run_cleanly(make_clip, model_dir: Path, tmp_path: Path) -> None:
    clip = make_clip(frames=12)
    endpoint = free_endpoint()
    record = tmp_path / "loop.mp4"
    process = emostream(
        "run", "--source", str(clip), "--loop", "--publish", endpoint,
        "--record", str(record), model_dir=model_dir,
    )  # fmt: skip
    with Subscriber(endpoint) as subscriber:
        frames, _ = collect(subscriber, 15)
    assert len(frames) == 15  # it is looping past the clip's 12 frames
    process.send_signal(signal.SIGTERM)
    code, _, err = finish(process)
    assert code == 0, err
    assert "Traceback" not in err
    assert int(cv2.VideoCapture(str(record)).get(cv2.CAP_PROP_FRAME_COUNT)) >= 15


def test_sigterm_while_starting_up_exits_cleanly(
    monkeypatch: pytest.MonkeyPatch, make_clip
) -> None:
    """A real SIGTERM arriving while the models load ends ``run`` with 130, not death by signal."""
    from stream import assemble, cli

    def load_while_stopped(*_: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this
        raise AssertionError("SIGTERM did not interrupt start-up")

    monkeypatch.setattr(assemble, "load_models", load_while_stopped)
    before = signal.getsignal(signal.SIGTERM)
    clip = make_clip(frames=2)

    assert cli.main(["run", "--source", str(clip), "--publish", free_endpoint()]) == 130
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--source", "/nonexistent/clip.mp4"], "clip.mp4"),
        (["run", "--source", "{text}"], "not-a-video.mp4"),
        (["run", "--source", "{clip}", "--delegate", "edgetpu"], "Edge TPU"),
        (["run", "--source", "{clip}", "--delegate", "/no/such/delegate.so"], "unknown delegate"),
        (["run", "--source", "{clip}", "--publish", "tcp://nowhere:x"], "tcp://nowhere:x"),
        (["run", "--source", "{clip}", "--models", "/nonexistent"], "manifest.json"),
        (["run", "--source", "{clip}", "--show"], "display"),
        (["run", "--source", "{clip}", "--min-score", "2"], "between 0 and 1"),
        (["run", "--source", "{clip}", "--reconnect-attempts", "x"], "forever"),
        (["run", "--source", "{clip}", "--detect-every", "0"], "--detect-every"),
        (["run", "--source", "{clip}", "--read-ahead", "-1"], "--read-ahead"),
        (["run"], "--source"),
        (["evaluate", "/nonexistent"], "no such data folder"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(
    args: list[str], message: str, make_clip, model_dir: Path, tmp_path: Path
) -> None:
    text = tmp_path / "not-a-video.mp4"
    text.write_text("hello")
    clip = make_clip(frames=4)
    argv = [a.format(text=text, clip=clip) for a in args]
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    process = emostream(*argv, model_dir=model_dir, env=env)
    code, _, err = finish(process)
    lines = [line for line in err.splitlines() if line.strip() and "absl::" not in line]
    assert code != 0
    assert len(lines) == 1, err
    assert message in lines[0]


class ScriptedSource(VideoSource):
    """Hands out prepared images, some of them broken, then ends; all of them are at hand."""

    def __init__(self, images: list[np.ndarray]) -> None:
        super().__init__(SourceInfo("scripted", SourceKind.FILE, 0, 0, None, False, len(images)))
        self._images = list(images)
        self._index = 0
        self._set_state(SourceState.RUNNING)

    def read(self, timeout: float | None = None) -> Frame | None:
        if self._index >= len(self._images):
            return None
        self._index += 1
        return Frame(self._index - 1, self._images[self._index - 1], time.time(), 0.0)

    def peek(self, ahead: int) -> Frame | None:
        at = self._index + ahead - 1
        if ahead < 1 or at >= len(self._images):
            return None
        return Frame(at, self._images[at], time.time(), 0.0)

    def close(self) -> None:
        self._images = []


class ListSink:
    def __init__(self) -> None:
        self.dropped = 0
        self.messages: list[tuple[bytes, bytes]] = []

    def send(self, topic: bytes, payload: bytes) -> bool:
        self.messages.append((topic, payload))
        return True


def test_a_bad_frame_is_counted_and_the_pipeline_goes_on(astronaut, model_dir: Path) -> None:
    broken = [np.zeros((0, 0, 3), np.uint8), np.zeros((10, 10), np.float64)]
    source = ScriptedSource([astronaut, broken[0], astronaut, broken[1], astronaut])
    detector = FaceDetector()
    sink = ListSink()
    try:
        recognizer = Recognizer(load_models(model_dir), detector, IouTracker())
        counters = Pipeline(source, recognizer, sink, PipelineOptions("t")).run()
    finally:
        detector.close()
    assert (counters.frames, counters.errors, counters.faces) == (3, 2, 3)
    assert sum(1 for topic, _ in sink.messages if topic == b"emostream/t") == 3


@pytest.mark.skipif(not SHARED_VIDEOS.is_dir(), reason="../shared/videos is not available")
def test_real_video_finds_a_face_in_nearly_every_frame(model_dir: Path) -> None:
    video = SHARED_VIDEOS / "WolfgangLanger_Pexels.mp4"
    endpoint = free_endpoint()
    process = emostream(
        "run", "--source", str(video), "--publish", endpoint, "--wait-subscribers", "1",
        model_dir=model_dir,
    )  # fmt: skip
    with Subscriber(endpoint) as subscriber:
        frames, _ = collect(subscriber, 472, timeout=240)
    assert finish(process, timeout=60)[0] == 0
    assert len(frames) == 472
    found = sum(1 for f in frames if f["faces"])
    assert found >= 0.95 * len(frames)
    ids = [f["faces"][0]["id"] for f in frames if f["faces"]]
    assert max(set(ids), key=ids.count) == ids[-1]


def test_preview_jpegs_are_published_at_a_low_rate(make_clip, model_dir: Path) -> None:
    clip = make_clip(frames=48)
    endpoint = free_endpoint()
    sub = preview_socket(endpoint, "prev")
    process = emostream(
        "run", "--source", str(clip), "--publish", endpoint, "--camera-id", "prev",
        "--wait-subscribers", "1", "--preview-fps", "2", model_dir=model_dir,
    )  # fmt: skip
    try:
        topic, jpeg = sub.recv_multipart()
    finally:
        sub.close(linger=0)
    assert finish(process)[0] == 0
    assert topic == b"emostream/prev/preview"
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (240, 320, 3)


class StaleSource(ScriptedSource):
    """Frames that were ready a while before they were read, as a buffered source's are."""

    def read(self, timeout: float | None = None) -> Frame | None:
        frame = super().read(timeout)
        if frame is None:
            return None
        earlier = frame.ready_at - 0.2
        return Frame(frame.index, frame.image, frame.captured_at, 0.0, ready_at=earlier)


def test_capture_to_publish_counts_the_time_a_frame_waited_in_a_buffer(
    astronaut, model_dir: Path
) -> None:
    detector = FaceDetector()
    sink = ListSink()
    try:
        recognizer = Recognizer(load_models(model_dir), detector, IouTracker())
        Pipeline(StaleSource([astronaut] * 2), recognizer, sink, PipelineOptions("t")).run()
    finally:
        detector.close()
    frames = [decode(topic, payload) for topic, payload in sink.messages if topic == b"emostream/t"]
    assert len(frames) == 2
    assert all(f["latency_ms"]["total"] >= 200.0 for f in frames)
