"""The dashboard server against a real ZeroMQ publisher: state, health, staleness, bad messages.

Each test runs the real app under uvicorn on a free port in a thread, fed by a real PUB socket on
127.0.0.1, and reads it back over HTTP and WebSocket. PUB/SUB drops whatever is sent before the
subscription is up, so tests keep publishing until the dashboard shows what they expect.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import websockets.sync.client
import zmq
import zmq.auth

from stream.commands import dashboard as dashboard_command
from stream.dashboard.app import create_app
from stream.dashboard.auth import Credentials, FailureLimiter
from stream.dashboard.feed import Feed
from stream.dashboard.server import Tls, build_server, listen
from stream.dashboard.state import DashboardState
from stream.errors import EmostreamError, PublishError
from stream.publish import schema

REPO = Path(__file__).resolve().parents[1]
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
WAIT_S = 10.0


def probs_for(label: str, confidence: float = 0.8) -> dict[str, float]:
    rest = (1.0 - confidence) / (len(LABELS) - 1)
    return {name: confidence if name == label else rest for name in LABELS}


def face(face_id: int, label: str, confidence: float = 0.8) -> dict[str, Any]:
    return {
        "id": face_id,
        "box": [0.3, 0.2, 0.25, 0.4],
        "score": 0.95,
        "eyes": [[0.38, 0.32], [0.47, 0.32]],
        "label": label,
        "confidence": confidence,
        "probs": probs_for(label, confidence),
        "quality": 0.7,
        "uncertain": False,
    }


class Publisher:
    """A real PUB socket that sends schema messages for one or more cameras."""

    def __init__(self, sock: zmq.Socket, endpoint: str) -> None:
        self.sock = sock
        self.endpoint = endpoint
        self.frames: dict[str, int] = {}

    def frame(self, camera: str = "lobby", faces: list[dict[str, Any]] | None = None) -> int:
        number = self.frames.get(camera, 0) + 1
        self.frames[camera] = number
        now = time.time()
        message = schema.frame_message(
            camera,
            number,
            captured_at=now - 0.030,
            published_at=now - 0.005,
            width=640,
            height=360,
            faces=[face(1, "happy")] if faces is None else faces,
            latency_ms={"capture": 1.0, "detect": 6.0, "crop": 0.3, "encode": 0.9, "head": 0.1,
                        "total": 8.3},
        )  # fmt: skip
        self.sock.send_multipart([schema.frame_topic(camera), schema.encode(message)])
        return number

    def stats(self, camera: str = "lobby", **fields: Any) -> None:
        values = {"fps": 24.5, "frames": 100, "dropped_source": 3, "dropped_socket": 1,
                  "reconnects": 2, "uptime_s": 12.0, "source_state": "running"}  # fmt: skip
        message = schema.stats_message(camera, time.time(), **(values | fields))
        self.sock.send_multipart([schema.stats_topic(camera), schema.encode(message)])

    def raw(self, *frames: bytes) -> None:
        self.sock.send_multipart(list(frames))


@pytest.fixture
def zmq_context() -> Iterator[zmq.Context]:
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


@pytest.fixture
def publisher(zmq_context: zmq.Context) -> Publisher:
    sock = zmq_context.socket(zmq.PUB)
    sock.bind("tcp://127.0.0.1:*")
    return Publisher(sock, sock.getsockopt_string(zmq.LAST_ENDPOINT))


class Dashboard:
    """The app under a real uvicorn in a thread, on a free port of 127.0.0.1.

    A ``token`` (and a ``limiter`` with a test's own clock) guards it as ``--auth-file`` does, and
    :meth:`get` then sends it; ``tls`` serves it over HTTPS as ``--tls-cert/--tls-key`` do.
    """

    def __init__(
        self,
        endpoint: str,
        stale_after: float = 3.0,
        curve: tuple[Path, Path] | None = None,
        token: str | None = None,
        limiter: FailureLimiter | None = None,
        tls: Tls | None = None,
    ) -> None:
        self.state = DashboardState(endpoint, stale_after)
        secret, server_key = curve or (None, None)
        feed = Feed(
            endpoint, [schema.TOPIC_PREFIX], curve_secret=secret, curve_server_key=server_key
        )
        credentials = Credentials(token, secure=tls is not None) if token else None
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        app = create_app(self.state, feed, credentials=credentials, limiter=limiter)
        sock = listen("127.0.0.1", 0)
        self.host = f"127.0.0.1:{sock.getsockname()[1]}"
        self.url = f"{'https' if tls else 'http'}://{self.host}"
        self.server = build_server(app, tls)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]})
        self.thread.start()
        until(lambda: self.server.started, "uvicorn did not start")

    def get(self, path: str) -> Any:
        request = urllib.request.Request(self.url + path, headers=self.headers)
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)

    def camera(self, name: str = "lobby") -> dict[str, Any] | None:
        return next((c for c in self.get("/api/state")["cameras"] if c["camera"] == name), None)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def start_dashboard() -> Iterator[Callable[..., Dashboard]]:
    started: list[Dashboard] = []

    def start(
        endpoint: str, stale_after: float = 3.0, curve: tuple[Path, Path] | None = None
    ) -> Dashboard:
        started.append(Dashboard(endpoint, stale_after, curve))
        return started[-1]

    yield start
    for dashboard in started:
        dashboard.stop()
        assert not dashboard.thread.is_alive()


def until(check: Callable[[], Any], message: str, every: Callable[[], Any] | None = None) -> Any:
    """Poll ``check`` until it returns something truthy, running ``every`` before each try."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if every is not None:
            every()
        result = check()
        if result:
            return result
        time.sleep(0.05)
    pytest.fail(f"timed out after {WAIT_S} s: {message}")


def seen_frame(dashboard: Dashboard, number: int, camera: str = "lobby") -> bool:
    cam = dashboard.camera(camera)
    return bool(cam and cam["frame"] and cam["frame"]["frame"] >= number)


def connected(publisher: Publisher, dashboard: Dashboard, camera: str = "lobby") -> int:
    """Publish until the dashboard has a frame from ``camera``; the last frame number sent."""
    until(lambda: seen_frame(dashboard, 1, camera), "no frame reached the dashboard",
          every=lambda: publisher.frame(camera))  # fmt: skip
    return publisher.frames[camera]


def test_api_state_reflects_frames_and_stats(publisher: Publisher, start_dashboard) -> None:
    dashboard = start_dashboard(publisher.endpoint)
    connected(publisher, dashboard)
    number = publisher.frame(faces=[face(7, "surprise", 0.6), face(9, "sad", 0.9)])
    publisher.stats(fps=19.5, dropped_source=4)
    until(lambda: (c := dashboard.camera()) and c["stats"] and c["frame"]["frame"] == number,
          "frame and stats did not show up")  # fmt: skip

    cam = dashboard.camera()
    assert cam["status"] == "live"
    assert [(f["id"], f["label"]) for f in cam["frame"]["faces"]] == [(7, "surprise"), (9, "sad")]
    assert cam["frame"]["faces"][0]["probs"]["surprise"] == pytest.approx(0.6)
    assert cam["labels"] == list(LABELS)
    assert cam["stats"]["fps"] == 19.5
    assert cam["stats"]["dropped_source"] == 4
    assert cam["latency"]["total_ms"] == pytest.approx(8.3)
    assert cam["latency"]["capture_to_publish_ms"] == pytest.approx(25.0, abs=0.01)
    timeline = cam["timeline"]["dominant"]
    assert len(timeline) == 300
    assert {cam["labels"][i] for i in timeline if i is not None and i >= 0} >= {"happy"}

    health = dashboard.get("/healthz")
    assert health == {"status": "ok", "zmq": publisher.endpoint, "zmq_connected": True,
                      "cameras": 1, "malformed": 0}  # fmt: skip


def test_each_camera_has_its_own_state(publisher: Publisher, start_dashboard) -> None:
    dashboard = start_dashboard(publisher.endpoint)
    connected(publisher, dashboard, "lobby")
    connected(publisher, dashboard, "door")
    publisher.frame("door", faces=[])
    until(lambda: dashboard.camera("door")["frame"]["faces"] == [], "empty frame not shown")
    assert dashboard.camera("lobby")["frame"]["faces"][0]["label"] == "happy"
    assert dashboard.get("/healthz")["cameras"] == 2


def test_camera_goes_stale_when_messages_stop_and_recovers(
    publisher: Publisher, start_dashboard
) -> None:
    dashboard = start_dashboard(publisher.endpoint, stale_after=0.5)
    connected(publisher, dashboard)
    assert dashboard.camera()["status"] == "live"
    stale = until(lambda: (c := dashboard.camera())["status"] == "stale" and c, "never went stale")
    assert stale["age_s"] > 0.5
    until(lambda: dashboard.camera()["status"] == "live", "did not recover", every=publisher.frame)


def test_malformed_messages_are_counted_and_skipped(publisher: Publisher, start_dashboard) -> None:
    dashboard = start_dashboard(publisher.endpoint)
    connected(publisher, dashboard)
    topic = schema.frame_topic("lobby")
    good = json.loads(schema.encode(schema.frame_message("lobby", 1, 1.0, 1.0, 1, 1, [], {})))
    publisher.raw(topic, b"{not json")
    publisher.raw(topic, schema.encode(good | {"schema": "emostream.frame/2"}))
    publisher.raw(topic, schema.encode(good | {"faces": [{"id": 1, "label": "happy"}]}))
    publisher.raw(topic, b"\xff\xfe\x00 not utf-8")
    publisher.raw(topic)
    publisher.raw(topic, b"{}", b"extra frame")
    publisher.raw(b"emostream/\xff\xfe", schema.encode(good))
    publisher.raw(b"emostream/lobby/preview", b"not a jpeg")
    # One connection keeps order, so once the next good frame is in, every bad one was handled.
    number = publisher.frame(faces=[face(2, "fear")])
    until(lambda: seen_frame(dashboard, number), "good frame after bad ones never arrived")

    health = dashboard.get("/healthz")
    assert health["status"] == "ok"
    assert health["malformed"] == 8
    cam = dashboard.camera()
    assert cam["malformed"] == 7  # all but the one whose topic names no camera
    assert cam["frame"]["faces"][0]["label"] == "fear"
    state = dashboard.get("/api/state")
    assert state["last_malformed"]["topic"] == "emostream/lobby/preview"
    assert "JPEG" in state["last_malformed"]["reason"]


def test_websocket_pushes_updates(publisher: Publisher, start_dashboard) -> None:
    dashboard = start_dashboard(publisher.endpoint)
    connected(publisher, dashboard)
    ws_url = dashboard.url.replace("http://", "ws://") + "/ws"
    with websockets.sync.client.connect(ws_url, open_timeout=5, close_timeout=2) as ws:
        first = json.loads(ws.recv(timeout=5))
        assert first["cameras"][0]["camera"] == "lobby"
        number = publisher.frame(faces=[face(4, "angry", 0.9)])
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            cam = json.loads(ws.recv(timeout=5))["cameras"][0]
            if cam["frame"]["frame"] == number:
                break
        else:
            pytest.fail("the WebSocket never delivered the new frame")
    assert cam["frame"]["faces"][0]["label"] == "angry"
    assert cam["frame"]["faces"][0]["probs"]["angry"] == pytest.approx(0.9)


def test_preview_jpeg_is_served(publisher: Publisher, start_dashboard) -> None:
    dashboard = start_dashboard(publisher.endpoint)
    connected(publisher, dashboard)
    ok, jpeg = cv2.imencode(".jpg", np.full((36, 64, 3), 128, np.uint8))
    assert ok
    until(lambda: dashboard.camera()["preview"], "preview never arrived",
          every=lambda: publisher.raw(b"emostream/lobby/preview", jpeg.tobytes()))  # fmt: skip
    with urllib.request.urlopen(dashboard.url + "/api/preview/lobby", timeout=5) as response:
        assert response.headers["Content-Type"] == "image/jpeg"
        assert response.read() == jpeg.tobytes()
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(dashboard.url + "/api/preview/nowhere", timeout=5)
    assert missing.value.code == 404


def test_page_and_assets_are_served_locally(publisher: Publisher, start_dashboard) -> None:
    dashboard = start_dashboard(publisher.endpoint)
    with urllib.request.urlopen(dashboard.url + "/", timeout=5) as response:
        page = response.read().decode()
    assert "/static/dashboard.js" in page
    assert "http://" not in page and "https://" not in page  # nothing fetched from elsewhere
    for asset in ("dashboard.js", "dashboard.css"):
        with urllib.request.urlopen(f"{dashboard.url}/static/{asset}", timeout=5) as response:
            assert response.status == 200


def test_curve_subscriber_receives_from_curve_publisher(
    tmp_path: Path, zmq_context: zmq.Context, start_dashboard
) -> None:
    server_public, server_secret = zmq.auth.create_certificates(tmp_path, "server")
    _, client_secret = zmq.auth.create_certificates(tmp_path, "dashboard")
    zmq.auth.create_certificates(tmp_path, "other")
    sock = zmq_context.socket(zmq.PUB)
    sock.curve_secretkey = zmq.auth.load_certificate(server_secret)[1]
    sock.curve_publickey = zmq.auth.load_certificate(server_public)[0]
    sock.curve_server = True
    sock.bind("tcp://127.0.0.1:*")
    publisher = Publisher(sock, sock.getsockopt_string(zmq.LAST_ENDPOINT))

    dashboard = start_dashboard(publisher.endpoint, curve=(client_secret, server_public))
    connected(publisher, dashboard)
    assert dashboard.get("/healthz")["zmq_connected"] is True

    imposter = start_dashboard(publisher.endpoint, curve=(client_secret, tmp_path / "other.key"))
    for _ in range(20):
        publisher.frame()
        time.sleep(0.05)
    assert imposter.get("/api/state")["cameras"] == []
    assert imposter.get("/healthz")["zmq_connected"] is False


def test_state_timeline_and_missed_frames() -> None:
    state = DashboardState("tcp://x:1", stale_after=3.0, timeline_s=10)

    def add(number: int, at: float, *labels: str) -> None:
        faces = [face(i, label) for i, label in enumerate(labels)]
        message = schema.frame_message("cam", number, at, at, 64, 64, faces, {"total": 1.0})
        state.add_message(schema.frame_topic("cam"), message, now=at)

    add(1, 1000.1, "happy", "sad")
    add(2, 1000.5, "happy")
    add(5, 1001.2, "sad")
    add(6, 1003.4)
    cam = state.snapshot(now=1003.5)["cameras"][0]
    happy, sad = cam["labels"].index("happy"), cam["labels"].index("sad")
    assert cam["timeline"]["dominant"][-4:] == [happy, sad, None, -1]
    assert cam["timeline"]["dominant"][:-4] == [None] * 6
    assert cam["missed_frames"] == 2
    assert cam["rx_fps"] == 0  # nothing arrived during second 1002
    add(1, 1003.6, "fear")  # the pipeline restarted: a lower number is not a loss
    assert state.snapshot(now=1003.7)["cameras"][0]["missed_frames"] == 2
    assert state.snapshot(now=1007.0)["cameras"][0]["status"] == "stale"
    assert state.snapshot(now=1020.0)["cameras"][0]["timeline"]["dominant"] == [None] * 10


def _run_handler(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    dashboard_command.register(parser.add_subparsers())
    args = parser.parse_args(["dashboard", *argv])
    return args.handler(args)


@pytest.mark.parametrize(
    ("argv", "error", "text"),
    [
        (["--connect", "tcp://127.0.0.1:1", "--topic", "lobby"], PublishError, "emostream/lobby"),
        (["--connect", "nonsense://x"], PublishError, "cannot connect"),
        (["--connect", "tcp://127.0.0.1:1", "--curve-secret", "a"], PublishError, "needs both"),
        (["--connect", "tcp://127.0.0.1:1", "--stale-after", "0"], SystemExit, "2"),  # argparse
    ],
)
def test_bad_arguments_are_user_errors(argv: list[str], error: type, text: str) -> None:
    with pytest.raises(error, match=text):
        _run_handler(*argv, "--port", "0")


def test_missing_curve_key_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="not a readable CURVE key file"):
        _run_handler("--connect", "tcp://127.0.0.1:1", "--port", "0",
                     "--curve-secret", str(tmp_path / "no.key_secret"),
                     "--curve-server-key", str(tmp_path / "no.key"))  # fmt: skip


def test_port_in_use_is_one_line_error() -> None:
    taken = listen("127.0.0.1", 0)
    port = taken.getsockname()[1]
    try:
        with pytest.raises(EmostreamError, match="in use"):
            _run_handler("--connect", "tcp://127.0.0.1:1", "--port", str(port))
        result = subprocess.run(
            [sys.executable, "-m", "stream", "dashboard", "--connect", "tcp://127.0.0.1:1",
             "--port", str(port)],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        taken.close()
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "in use" in result.stderr


def test_sigterm_stops_the_dashboard_cleanly() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "stream", "dashboard", "--connect", "tcp://127.0.0.1:1",
         "--port", "0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = process.stdout.readline().split()[2].rstrip("/")  # "emostream dashboard: http://…"
        until(lambda: healthy(url), "the dashboard never answered /healthz")
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err


def healthy(url: str) -> bool:
    """Whether a dashboard at ``url`` (no trailing slash) answers /healthz with 200."""
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
