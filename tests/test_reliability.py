"""The running system under strain: a soak, a flapping camera, a stalled reader, broken input.

Everything is a real process on real loopback sockets: ``emostream run``, ``broker``, ``subscribe``
and ``dashboard`` are started as children, clips are written by OpenCV (``tests/conftest.py``),
the camera is Debian's GStreamer RTSP server (``tests/test_rtsp.py``). Every wait is bounded.
These tests check behaviour ("frames keep arriving"), never speed; the figures behind them come
from ``python -m benchmarks.speed.soak`` and are in ``benchmarks/RESULTS.md``.

``EMOSTREAM_SOAK_S`` (default 60) and ``EMOSTREAM_STALL_S`` (default 20) set how long the soak and
the stalled subscriber last. ``EMOSTREAM_MODELS``, when it names a model folder, is used instead
of the suite's ``model_dir``.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zmq

from benchmarks.speed.soak import Limits, report, soak
from stream.faces.detector import default_detector_dir
from stream.models import MANIFEST, MODEL_NAMES, sha256
from stream.publish import schema
from stream.publish.subscriber import Subscriber
from tests.damage import damaged_copy
from tests.test_pipeline import emostream, finish, free_endpoint
from tests.test_rtsp import RtspServer, _free_port, h264_clip, rtsp_server  # noqa: F401

log = logging.getLogger(__name__)

SOAK_S = float(os.environ.get("EMOSTREAM_SOAK_S", "60"))
STALL_S = float(os.environ.get("EMOSTREAM_STALL_S", "20"))
START_S = 90.0  # model loading and MediaPipe start-up on a loaded two-core machine
WAIT_S = 60.0
GAP_S = 5.0  # "keeps arriving": never silent for longer than this


@pytest.fixture(scope="session", name="models")
def models_fixture(request: pytest.FixtureRequest) -> Path:
    """``$EMOSTREAM_MODELS`` when it names a model folder (nothing to train), else ``model_dir``."""
    given = os.environ.get("EMOSTREAM_MODELS")
    if given and (Path(given) / MANIFEST).is_file():
        return Path(given)
    return request.getfixturevalue("model_dir")


class Tally:
    """Reads a subscriber and keeps what the tests ask about: frame numbers, times, heartbeats."""

    def __init__(self, subscriber: Subscriber, process: subprocess.Popen | None = None) -> None:
        self.subscriber = subscriber
        self.process = process
        self.frames: list[int] = []
        self.frame_times: list[float] = []
        self.stats: list[dict[str, Any]] = []
        self.stats_times: list[float] = []

    def pump(self, timeout: float) -> None:
        message = self.subscriber.receive(timeout=timeout)
        if message is None:
            return
        now = time.monotonic()
        if message.is_stats:
            self.stats.append(message.payload)
            self.stats_times.append(now)
        else:
            self.frames.append(message.payload["frame"])
            self.frame_times.append(now)

    def wait(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if self.process is not None and self.process.poll() is not None:
                _, err = self.process.communicate()
                pytest.fail(f"waiting for {what}, the process exited: {err.strip()[-800:]}")
            if time.monotonic() > deadline:
                last = self.stats[-1] if self.stats else None
                pytest.fail(f"no {what} within {timeout:g} s (last heartbeat: {last})")
            self.pump(0.5)

    def run_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.pump(min(left, 0.5))

    def frames_since(self, n: int) -> Callable[[], bool]:
        start = len(self.frames)
        return lambda: len(self.frames) >= start + n


def max_gap(times: list[float], start: float, end: float) -> float:
    """Longest silence between ``start`` and ``end``, counting the edges."""
    inside = [start, *(t for t in times if start <= t <= end), end]
    return max(b - a for a, b in itertools.pairwise(inside))


def stop(process: subprocess.Popen) -> tuple[int, str, str]:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return finish(process)


def frames_read_by(sock: zmq.Socket, seconds: float) -> list[int]:
    """The frame numbers a raw SUB socket reads in ``seconds`` (previews and heartbeats skipped)."""
    frames, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        if not sock.poll(100):
            continue
        topic, *rest = sock.recv_multipart()
        if topic.endswith((b"/stats", b"/preview")) or len(rest) != 1:
            continue
        frames.append(json.loads(rest[0])["frame"])
    return frames


def stalled_subscriber(endpoint: str, topic: str) -> zmq.Socket:
    """A SUB socket that never reads, with the smallest queue and kernel buffer it can have."""
    sock = zmq.Context.instance().socket(zmq.SUB)
    sock.setsockopt(zmq.RCVHWM, 1)
    sock.setsockopt(zmq.RCVBUF, 4096)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
    sock.connect(endpoint)
    return sock


# -- soak ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_soak_memory_frames_and_heartbeat_stay_steady(make_clip, models: Path) -> None:
    result = soak(make_clip(frames=48), models, SOAK_S, Limits(warmup_s=min(15.0, SOAK_S / 4)))
    log.info("soak figures:\n%s", report(result, f"EMOSTREAM_SOAK_S={SOAK_S:g}"))
    assert result.failures() == []
    assert result.frames_received > 0 and result.exit_code == 0


# -- a camera that goes away and comes back -----------------------------------------------------


@pytest.mark.slow
def test_pipeline_rides_out_three_camera_restarts(
    request: pytest.FixtureRequest, models: Path
) -> None:
    camera: RtspServer = request.getfixturevalue("rtsp_server")  # from test_rtsp, imported above
    endpoint = free_endpoint()
    process = emostream(
        "run", "--source", camera.url, "--publish", endpoint, "--camera-id", "flaky",
        "--wait-subscribers", "1", "--wait-timeout", str(START_S), model_dir=models,
    )  # fmt: skip
    try:
        with Subscriber(endpoint, ["emostream/flaky"]) as subscriber:
            tally = Tally(subscriber, process)
            tally.wait(tally.frames_since(5), START_S, "frames from the camera")
            for restart in range(1, 4):
                camera.kill()
                camera.start()
                tally.wait(
                    lambda n=restart: bool(tally.stats) and tally.stats[-1]["reconnects"] >= n,
                    WAIT_S,
                    f"heartbeat counting reconnect {restart}",
                )
                tally.wait(tally.frames_since(5), WAIT_S, f"frames after restart {restart}")
    finally:
        code, _, err = stop(process)
    assert code == 0, err
    assert "Traceback" not in err
    assert tally.stats[-1]["reconnects"] >= 3
    assert tally.frames == sorted(set(tally.frames))  # newest frames only, never one twice


def test_unreachable_camera_gives_up_with_one_error_line(models: Path) -> None:
    url = f"rtsp://viewer:secret@127.0.0.1:{_free_port()}/nothing"
    process = emostream(
        "run", "--source", url, "--reconnect-attempts", "3", "--publish", free_endpoint(),
        model_dir=models,
    )  # fmt: skip
    code, _, err = finish(process, timeout=START_S)
    lines = [line for line in err.splitlines() if line.strip() and "absl::" not in line]
    errors = [line for line in lines if line.startswith("emostream run: error:")]
    assert code != 0
    assert len(errors) == 1, err
    assert "unreachable after 3 attempts" in errors[0]
    assert "Traceback" not in err and "secret" not in err
    # Besides the error, only the source's own log of its reconnect attempts.
    assert all(" WARNING stream.sources." in line for line in lines if line not in errors), err


# -- a subscriber that stops reading -------------------------------------------------------------


@pytest.mark.slow
def test_a_stalled_subscriber_starves_no_one_and_costs_no_frame_rate(
    make_clip, models: Path
) -> None:
    """A subscriber that stops reading loses its own messages (ZeroMQ drops them at its queue),
    and nobody else's: the reading subscriber gets every frame, and the pipeline does not slow
    down. The stalled one sees its losses as gaps in ``frame`` when it reads again."""
    endpoint = free_endpoint()
    # JPEG previews, 50 a second, fill the stalled reader's socket buffers within seconds.
    process = emostream(
        "run", "--source", str(make_clip(frames=48)), "--loop", "--publish", endpoint,
        "--camera-id", "stall", "--wait-subscribers", "1", "--wait-timeout", str(START_S),
        "--preview-fps", "50", model_dir=models,
    )  # fmt: skip
    try:
        with Subscriber(endpoint, ["emostream/stall"]) as subscriber:
            tally = Tally(subscriber, process)
            tally.wait(lambda: len(tally.stats) >= 4, START_S, "four heartbeats")
            first, before = tally.stats[1], tally.stats[-1]
            received_before, stall_start = len(tally.frames), time.monotonic()
            stalled = stalled_subscriber(endpoint, "emostream/stall")
            try:
                tally.run_for(STALL_S)
                tally.wait(tally.frames_since(1), WAIT_S, "frames after the stall")
                late = frames_read_by(stalled, seconds=3.0)
            finally:
                stalled.close()
            missed_by_stalled = sum(b - a - 1 for a, b in itertools.pairwise(late) if b > a + 1)
            after = tally.stats[-1]
            missed_by_reader = sum(subscriber.missed.values())
    finally:
        code, _, err = stop(process)
    assert code == 0, err
    rate_before = (before["frames"] - first["frames"]) / (before["uptime_s"] - first["uptime_s"])
    rate_during = (after["frames"] - before["frames"]) / (after["uptime_s"] - before["uptime_s"])
    received = tally.frames[received_before:]
    log.info(
        "stall %.0f s: pipeline %.1f fps before, %.1f fps during; the reader got %d frames "
        "(missed %d), the stalled subscriber missed %d", STALL_S, rate_before, rate_during,
        len(received), missed_by_reader, missed_by_stalled,
    )  # fmt: skip
    assert missed_by_reader == 0 and received == list(range(received[0], received[-1] + 1))
    assert late and missed_by_stalled > 0, "the stalled subscriber lost nothing: no stall"
    assert rate_during > rate_before / 4
    assert after["source_state"] == "running"
    assert time.monotonic() - stall_start >= STALL_S


@pytest.mark.slow
def test_through_a_broker_a_stalled_subscriber_only_loses_its_own(make_clip, models: Path) -> None:
    frontend, backend = free_endpoint(), free_endpoint()
    broker = emostream("broker", "--frontend", frontend, "--backend", backend, model_dir=models)
    process = emostream(
        "run", "--source", str(make_clip(frames=48)), "--loop", "--connect", frontend,
        "--camera-id", "hub", "--wait-subscribers", "1", "--wait-timeout", str(START_S),
        model_dir=models,
    )  # fmt: skip
    try:
        with Subscriber(backend, ["emostream/hub"]) as subscriber:
            tally = Tally(subscriber, process)
            tally.wait(lambda: len(tally.stats) >= 2, START_S, "two heartbeats")
            before, received_before = tally.stats[-1], len(tally.frames)
            stall_start = time.monotonic()
            stalled = stalled_subscriber(backend, "emostream/hub")
            try:
                tally.run_for(STALL_S)
            finally:
                stalled.close()
            stall_end = time.monotonic()
            beats = zip(tally.stats, tally.stats_times, strict=True)
            during = [stats for stats, at in beats if at > stall_start]
            received_during = len(tally.frames) - received_before
    finally:
        code, _, err = stop(process)
        broker_code, _, broker_err = stop(broker)
    assert code == 0, err
    assert broker_code == 0, broker_err
    frame_gap = max_gap(tally.frame_times, stall_start, stall_end)
    beat_gap = max_gap(tally.stats_times, stall_start, stall_end)
    processed = during[-1]["frames"] - before["frames"] if during else 0
    log.info(
        "broker, stall %.0f s: reading subscriber got %d frame messages while the pipeline "
        "processed %d; longest silence %.2f s (frames), %.2f s (heartbeats); dropped_socket %s",
        STALL_S, received_during, processed, frame_gap, beat_gap,
        during[-1]["dropped_socket"] if during else "-",
    )  # fmt: skip
    assert frame_gap < GAP_S and beat_gap < GAP_S
    assert during and during[-1]["frames"] > before["frames"]


# -- broken input -------------------------------------------------------------------------------


def test_a_truncated_recording_plays_to_its_end_and_exits_0(
    make_clip, models: Path, tmp_path: Path
) -> None:
    data = make_clip(tmp_path / "clip.avi", frames=48).read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) * 6 // 10])
    endpoint = free_endpoint()
    process = emostream(
        "run", "--source", str(cut), "--publish", endpoint, "--camera-id", "cut",
        "--wait-subscribers", "1", "--wait-timeout", str(START_S), model_dir=models,
    )  # fmt: skip
    with Subscriber(endpoint, ["emostream/cut"]) as subscriber:
        tally = Tally(subscriber)
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:  # until the process ended and the socket went quiet
            received = len(tally.frames) + len(tally.stats)
            tally.pump(2.0)
            if process.poll() is not None and len(tally.frames) + len(tally.stats) == received:
                break
    code, _, err = finish(process)
    assert code == 0, err
    assert "Traceback" not in err
    assert 0 < len(tally.frames) < 48
    assert tally.frames == list(range(len(tally.frames)))
    assert tally.stats[-1]["frames"] == len(tally.frames)


def _resign(folder: Path) -> None:
    """Rewrite the manifest's sha256s to match the files, as a careless re-export would."""
    manifest = json.loads((folder / MANIFEST).read_text())
    for name in MODEL_NAMES:
        entry = manifest["models"][name]
        entry["sha256"] = sha256(folder / entry["file"])
    (folder / MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("damage", "resign", "message"),
    [
        ("empty", False, "does not match the sha256"),
        ("empty", True, "not a valid TFLite model"),
        ("swap", False, "does not match the sha256"),
        ("swap", True, "manifest says"),
    ],
)
def test_a_broken_model_folder_is_one_line_and_non_zero(
    damage: str, resign: bool, message: str, make_clip, models: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "models"
    shutil.copytree(models, folder)
    files = {n: e["file"] for n, e in json.loads((folder / MANIFEST).read_text())["models"].items()}
    head, decoder = folder / files["head"], folder / files["decoder"]
    if damage == "empty":
        head.write_bytes(b"")
    else:
        head_bytes = head.read_bytes()
        head.write_bytes(decoder.read_bytes())
        decoder.write_bytes(head_bytes)
    if resign:
        _resign(folder)
    process = emostream(
        "run", "--source", str(make_clip(frames=4)), "--models", str(folder),
        "--publish", free_endpoint(), model_dir=models,
    )  # fmt: skip
    code, _, err = finish(process, timeout=START_S)
    lines = [line for line in err.splitlines() if line.strip() and "absl::" not in line]
    assert code != 0
    assert len(lines) == 1, err
    assert lines[0].startswith("emostream run: error:") and message in lines[0]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing", "face detector model not found"),
        ("empty", "does not match the sha256"),
        ("junk, re-signed", "cannot load the short-range face detector"),
        ("no manifest", "no manifest.json"),
    ],
)
def test_a_broken_detector_folder_is_one_line_and_non_zero(
    damage: str, message: str, make_clip, models: Path, tmp_path: Path
) -> None:
    folder = damaged_copy(default_detector_dir(), tmp_path / "detector", "short", damage)
    process = emostream(
        "run", "--source", str(make_clip(frames=4)), "--publish", free_endpoint(),
        model_dir=models, env={**os.environ, "EMOSTREAM_DETECTOR_MODELS": str(folder)},
    )  # fmt: skip
    code, _, err = finish(process, timeout=START_S)
    lines = [line for line in err.splitlines() if line.strip() and "absl::" not in line]
    assert code != 0
    assert len(lines) == 1, err
    assert lines[0].startswith("emostream run: error:") and message in lines[0], lines[0]


def _junk() -> list[list[bytes]]:
    """Messages no emostream publisher sends: every way a frame can be wrong on the wire."""
    topic = b"emostream/lobby"
    valid = schema.encode(schema.frame_message("lobby", 1, 1.0, 1.1, 64, 48, [], {"total": 1.0}))
    return [
        [topic, b"not json at all"],
        [topic, b'{"schema": "emostream.frame/1", "camera": "lobby"}'],  # fields missing
        [topic, valid.replace(b"emostream.frame/1", b"emostream.frame/9")],
        [topic, b"[1, 2, 3]"],
        [topic, bytes(range(256))],
        [topic, b'{"frame": 1' + b"0" * 5000 + b"}"],
        [topic, valid, b"a third frame"],
        [topic],
        [b"emostream/\xff\xfe", valid],
    ]


def _valid_frame(number: int) -> list[bytes]:
    message = schema.frame_message("lobby", number, 1.0, 1.1, 64, 48, [], {"total": 1.0})
    return [schema.frame_topic("lobby"), schema.encode(message)]


def _raw_xpub(endpoint: str, *, connect: bool) -> zmq.Socket:
    sock = zmq.Context.instance().socket(zmq.XPUB)
    sock.setsockopt(zmq.LINGER, 0)
    if connect:
        sock.connect(endpoint)
    else:
        sock.bind(endpoint)
    return sock


def _await_subscription(sock: zmq.Socket) -> None:
    assert sock.poll(int(START_S * 1000)), "no subscription arrived"
    sock.recv()


def test_junk_through_a_real_broker_to_a_real_subscriber(models: Path) -> None:
    frontend, backend = free_endpoint(), free_endpoint()
    broker = emostream("-v", "broker", "--frontend", frontend, "--backend", backend,
                       model_dir=models)  # fmt: skip
    raw = _raw_xpub(frontend, connect=True)
    try:
        reader = emostream("subscribe", backend, "--json", "--count", "1", "--timeout",
                           str(START_S), model_dir=models)  # fmt: skip
        _await_subscription(raw)
        for message in _junk():
            raw.send_multipart(message)
        raw.send_multipart(_valid_frame(7))
        code, out, err = finish(reader, timeout=START_S)
        assert code == 0, err
        assert [json.loads(line)["payload"]["frame"] for line in out.splitlines()] == [7]
        assert "malformed" in err and "Traceback" not in err
        assert broker.poll() is None, "the broker died"
        with Subscriber(backend) as second:  # it still forwards, to a newcomer too
            deadline = time.monotonic() + WAIT_S
            got = None
            while got is None and time.monotonic() < deadline:
                for message in _junk():
                    raw.send_multipart(message)
                raw.send_multipart(_valid_frame(8))
                got = second.receive(timeout=0.5)
            assert got is not None and got.payload["frame"] == 8
    finally:
        raw.close()
        broker_code, _, broker_err = stop(broker)
    assert broker_code == 0, broker_err
    assert "Traceback" not in broker_err
    assert "malformed" in broker_err  # the 1- and 3-frame messages, dropped and counted


def _dashboard_url(process: subprocess.Popen) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], START_S)
    assert ready, "the dashboard printed no address"
    line = process.stdout.readline()
    assert "http://" in line, line
    return line.split()[2].rstrip("/")


def _get(url: str) -> tuple[int, dict[str, Any]]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, json.load(response)


def test_junk_at_a_real_dashboard_is_counted_and_it_stays_healthy(models: Path) -> None:
    raw = _raw_xpub("tcp://127.0.0.1:*", connect=False)
    endpoint = raw.getsockopt_string(zmq.LAST_ENDPOINT)
    dashboard = emostream("dashboard", "--connect", endpoint, "--port", "0", model_dir=models)
    try:
        url = _dashboard_url(dashboard)
        _await_subscription(raw)
        junk = _junk()
        for round_ in (1, 2):
            for message in junk:
                raw.send_multipart(message)
            raw.send_multipart(_valid_frame(round_))  # one connection keeps order
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline:
                status, health = _get(url + "/healthz")
                if health["malformed"] >= round_ * len(junk) and health["cameras"] == 1:
                    break
                time.sleep(0.2)
            assert status == 200 and health["status"] == "ok"
            assert health["malformed"] == round_ * len(junk)
            assert health["cameras"] == 1
        status, state = _get(url + "/api/state")
        assert status == 200 and state["cameras"][0]["frame"]["frame"] == 2
    finally:
        raw.close()
        code, _, err = stop(dashboard)
    # uvicorn shuts down cleanly, then re-raises the SIGTERM it caught, so the process ends by it.
    assert code in (0, -signal.SIGTERM), err
    assert "Traceback" not in err
