"""The dashboard page in a real headless Chromium, fed by real ZeroMQ messages.

The dashboard runs as a real ``python -m stream dashboard`` subprocess. The messages come from the
``message_source`` fixture: today a PUB socket sending realistic schema messages from a thread; a
variant driven by the real pipeline only needs to offer the same ``endpoint``, ``camera`` and
``stop()`` (the label-switching and malformed-message checks use the synthetic source's
``set_label`` and ``inject``). With ``EMOSTREAM_SAVE_SCREENSHOT=1`` it refreshes
``docs/dashboard.png`` and ``docs/dashboard-history.png``.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest
import skimage.data
import zmq

from stream.dashboard.auth import write_token
from stream.publish import schema
from tests.test_dashboard import healthy

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "Debian chromium is not installed (apt-get install chromium)", allow_module_level=True
    )

REPO = Path(__file__).resolve().parents[1]
SCREENSHOT = REPO / "docs" / "dashboard.png"
HISTORY_SCREENSHOT = REPO / "docs" / "dashboard-history.png"
# The screenshot in the docs is refreshed on request only, so test runs leave the tree clean.
SAVE_SCREENSHOT = os.environ.get("EMOSTREAM_SAVE_SCREENSHOT") == "1"
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip
STALE_AFTER_S = 1.5
UI_WAIT_MS = 10_000


class SyntheticSource:
    """A PUB socket sending one camera's frames at 20 Hz and stats once a second, from a thread.

    Face 1 shows ``label`` with high confidence; face 2 stays a less certain "neutral".
    """

    def __init__(self, camera: str = "lobby") -> None:
        self.camera = camera
        self.label = "happy"
        self._context = zmq.Context()
        self._sock = self._context.socket(zmq.PUB)
        self._sock.bind("tcp://127.0.0.1:*")
        self.endpoint = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._random = random.Random(7)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def set_label(self, label: str) -> None:
        self.label = label

    def inject(self, *frames: bytes) -> None:
        with self._lock:
            self._sock.send_multipart(list(frames))

    def _probs(self, label: str, confidence: float) -> dict[str, float]:
        noise = {name: self._random.random() for name in LABELS if name != label}
        scale = (1.0 - confidence) / sum(noise.values())
        return {name: confidence if name == label else noise[name] * scale for name in LABELS}

    def _face(
        self, face_id: int, label: str, confidence: float, x: float, yaw: float
    ) -> dict[str, Any]:
        probs = self._probs(label, confidence)
        frontal = abs(yaw) <= 30
        return {"id": face_id, "box": [x, 0.2, 0.2, 0.4], "score": 0.95,
                "eyes": [[x + 0.06, 0.32], [x + 0.14, 0.32]], "label": label,
                "confidence": probs[label], "probs": probs, "quality": 0.7,
                "uncertain": confidence < 0.5 or not frontal,
                "pose": {"yaw": yaw, "pitch": -3.0, "roll": 1.5}, "eyes_open": [0.9, 0.85],
                "mouth_open": 0.1, "frontal": frontal,
                "gaze": {"yaw": -20.0, "pitch": 4.0} if frontal else None}  # fmt: skip

    def _run(self) -> None:
        started = time.time()
        number = 0
        next_stats = started
        while not self._stop.wait(0.05):
            number += 1
            now = time.time()
            faces = [
                self._face(1, self.label, 0.7 + 0.2 * self._random.random(), 0.2, 6.0),
                self._face(2, "neutral", 0.45 + 0.1 * self._random.random(), 0.6, 48.0),
            ]
            stages = {"capture": 1.1, "detect": 6.2, "crop": 0.3, "encode": 0.9, "head": 0.1}
            latency = stages | {"total": sum(stages.values()) + self._random.random()}
            message = schema.frame_message(
                self.camera, number, now - 0.012, now, 640, 360, faces, latency
            )
            self.inject(schema.frame_topic(self.camera), schema.encode(message))
            if now >= next_stats:
                next_stats += 1.0
                stats = schema.stats_message(self.camera, now, 20.0, number, 2, 0, 1,
                                             now - started, "running")  # fmt: skip
                self.inject(schema.stats_topic(self.camera), schema.encode(stats))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def close(self) -> None:
        self.stop()
        self._context.destroy(linger=0)


@pytest.fixture
def message_source() -> Iterator[SyntheticSource]:
    source = SyntheticSource()
    yield source
    source.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DashboardProcess:
    """``python -m stream dashboard`` as a subprocess, its output kept in a log file."""

    def __init__(self, endpoint: str, port: int, log: Path, *extra: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "stream", "dashboard", "--connect", endpoint,
                 "--port", str(port), "--stale-after", str(STALE_AFTER_S), *extra],
                cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while not healthy(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"dashboard did not come up:\n{log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


@pytest.fixture
def start_dashboard(tmp_path: Path) -> Iterator[Callable[..., DashboardProcess]]:
    started: list[DashboardProcess] = []

    def start(endpoint: str, port: int, *extra: str) -> DashboardProcess:
        started.append(DashboardProcess(endpoint, port, tmp_path / "dashboard.log", *extra))
        return started[-1]

    yield start
    for dashboard in started:
        dashboard.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 540})
    page = context.new_page()
    page.set_default_timeout(UI_WAIT_MS)
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    context.close()


def frame_number(card: Any) -> int:
    return int(card.locator(".frame-no").inner_text().split()[-1])


def wait_for_new_frame(card: Any, after: int) -> None:
    deadline = time.monotonic() + UI_WAIT_MS / 1000
    while frame_number(card) <= after:
        assert time.monotonic() < deadline, f"the page is stuck at frame {after}"
        time.sleep(0.1)


def test_page_follows_labels_bars_and_timeline_and_survives_bad_messages(
    message_source: SyntheticSource, start_dashboard, page: Any, tmp_path: Path
) -> None:
    dashboard = start_dashboard(message_source.endpoint, free_port())
    page.goto(dashboard.url)
    card = page.locator(f'.card[data-camera="{message_source.camera}"]')
    expect(card).to_have_attribute("data-status", "live")
    expect(page.locator("#server")).to_have_text("dashboard: live")
    expect(page.locator("#link")).to_have_attribute("data-state", "connected")

    face = card.locator('.face[data-face-id="1"]')
    expect(face.locator(".face-label")).to_have_text("happy")
    expect(face.locator(".bar-row")).to_have_count(len(LABELS))
    happy_bar = face.locator('.bar-row[data-label="happy"]')
    assert float(happy_bar.get_attribute("data-p")) >= 0.7
    assert float(happy_bar.locator(".bar-fill").evaluate("e => e.offsetWidth")) > 0
    expect(card.locator('.face[data-face-id="2"] .face-label')).to_have_text("neutral")
    expect(face.locator(".looking")).to_have_text("looking")
    expect(face.locator(".openness")).to_have_text("eyes 90% / 85% · mouth 10%")
    expect(face.locator(".gaze")).to_have_text("gaze -20° +4°")
    gaze_dot = face.locator(".gaze-dot").evaluate(
        "e => [e.offsetLeft, e.parentElement.clientWidth]"
    )
    assert gaze_dot[0] < gaze_dot[1] / 2  # eyes to the image's left: left of centre
    away = card.locator('.face[data-face-id="2"]')
    expect(away.locator(".looking")).to_have_text("away")
    expect(away.locator(".tag")).to_be_visible()  # turned away: uncertain
    expect(away.locator(".gaze")).to_be_hidden()  # no gaze read
    dot = away.locator(".pose-dot").evaluate("e => [e.offsetLeft, e.parentElement.clientWidth]")
    assert dot[0] > dot[1] / 2  # the dot sits right of centre for a face turned right
    expect(card.locator('svg rect[data-label="happy"]').first).to_be_attached()
    expect(card.locator('[data-metric="fps"] .value')).to_have_text("20.0")
    expect(card.locator('[data-metric="reconnects"] .value')).to_have_text("1")
    expect(card.locator('[data-metric="latency"] .value')).to_contain_text(" ms")

    message_source.set_label("surprise")
    expect(face.locator(".face-label")).to_have_text("surprise")
    assert float(face.locator('.bar-row[data-label="surprise"]').get_attribute("data-p")) >= 0.7
    expect(card.locator('svg rect[data-label="surprise"]').first).to_be_attached()
    expect(card.locator(".legend")).to_contain_text("surprise")

    topic = schema.frame_topic(message_source.camera)
    message_source.inject(topic, b"{this is not json")
    message_source.inject(topic, b"\xff\xfe\xfd")
    message_source.inject(topic, b'{"schema": "emostream.frame/1"}', b"a third frame")
    expect(page.locator("#malformed")).to_have_text("malformed: 3")
    expect(card.locator('[data-metric="malformed"] .value')).to_have_text("3")
    wait_for_new_frame(card, frame_number(card))
    expect(face.locator(".face-label")).to_have_text("surprise")
    assert healthy(dashboard.url)

    ok, jpeg = cv2.imencode(
        ".jpg", cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)[:288:2, ::2]
    )
    assert ok
    message_source.inject(f"emostream/{message_source.camera}/preview".encode(), jpeg.tobytes())
    expect(card.locator("img.preview")).to_be_visible()
    page.wait_for_function("document.querySelector('img.preview').naturalWidth === 256")

    page.wait_for_timeout(1500)  # let the timeline grow a little for the picture
    shot = SCREENSHOT if SAVE_SCREENSHOT else tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size < 300_000
    assert page.errors == []


def test_browser_signs_in_with_the_token_and_sees_live_cards(
    message_source: SyntheticSource, start_dashboard, page: Any, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token = write_token(token_file)
    dashboard = start_dashboard(
        message_source.endpoint, free_port(), "--auth-file", str(token_file)
    )
    page.goto(dashboard.url)
    expect(page).to_have_url(f"{dashboard.url}/login")
    assert page.request.get(f"{dashboard.url}/api/state").status == 401
    refused = page.evaluate(
        """url => new Promise(done => {
            const ws = new WebSocket(url);
            ws.onopen = () => done("opened");
            ws.onerror = () => done("refused");
        })""",
        dashboard.url.replace("http", "ws") + "/ws",
    )
    assert refused == "refused"

    page.fill("#token", "not-the-token-at-all")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_have_text("Wrong token.")
    page.fill("#token", token)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{dashboard.url}/")
    card = page.locator(f'.card[data-camera="{message_source.camera}"]')
    expect(card).to_have_attribute("data-status", "live")
    expect(card.locator('.face[data-face-id="1"] .face-label')).to_have_text("happy")
    (cookie,) = page.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # script on the page cannot read the session

    page.context.clear_cookies()  # the session ends: the page goes back to sign in by itself
    page.evaluate("socket.close()")
    expect(page).to_have_url(f"{dashboard.url}/login")
    assert page.errors == []


def test_page_shows_stale_when_the_publisher_stops(
    message_source: SyntheticSource, start_dashboard, page: Any
) -> None:
    dashboard = start_dashboard(message_source.endpoint, free_port())
    page.goto(dashboard.url)
    card = page.locator(f'.card[data-camera="{message_source.camera}"]')
    expect(card).to_have_attribute("data-status", "live")
    message_source.stop()
    expect(card).to_have_attribute("data-status", "stale")
    expect(card.locator(".badge")).to_contain_text("STALE")
    assert page.errors == []


def test_page_reconnects_when_the_server_restarts(
    message_source: SyntheticSource, start_dashboard, page: Any
) -> None:
    port = free_port()
    first = start_dashboard(message_source.endpoint, port)
    page.goto(first.url)
    card = page.locator(f'.card[data-camera="{message_source.camera}"]')
    expect(card).to_have_attribute("data-status", "live")

    first.stop()
    expect(page.locator("#offline")).to_be_visible()
    expect(page.locator("#server")).to_have_attribute("data-state", "reconnecting")
    before = frame_number(card)

    start_dashboard(message_source.endpoint, port)
    expect(page.locator("#offline")).to_be_hidden()
    expect(page.locator("#server")).to_have_text("dashboard: live")
    wait_for_new_frame(card, before)
    expect(card).to_have_attribute("data-status", "live")
    assert page.errors == []


def test_page_follows_the_real_pipeline_on_a_generated_clip(
    make_clip, model_dir: Path, start_dashboard, page: Any, tmp_path: Path
) -> None:
    """`emostream run` on a clip of the astronaut photo → ZeroMQ → dashboard → browser."""
    clip = make_clip(frames=48, size=(480, 360))
    port = free_port()
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    log = (tmp_path / "pipeline.log").open("wb")
    pipeline = subprocess.Popen(
        [sys.executable, "-m", "stream", "run", "--source", str(clip), "--loop", "--realtime",
         "--publish", endpoint, "--camera-id", "clip", "--preview-fps", "2"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "EMOSTREAM_MODELS": str(model_dir)},
    )  # fmt: skip
    try:
        dashboard = start_dashboard(endpoint, port)
        page.goto(dashboard.url)
        card = page.locator('.card[data-camera="clip"]')
        expect(card).to_have_attribute("data-status", "live", timeout=30_000)
        face = card.locator(".face").first
        expect(face.locator(".face-label")).to_have_text(re.compile("|".join(LABELS)))
        expect(face.locator(".looking")).to_have_text("looking")  # the photo faces the camera
        bars = face.locator(".bar-row")
        expect(bars).to_have_count(len(LABELS))
        total = sum(float(bars.nth(i).get_attribute("data-p")) for i in range(len(LABELS)))
        assert abs(total - 1) < 0.02
        expect(card.locator("svg rect[data-label]").first).to_be_attached()
        expect(card.locator("img.preview")).to_be_visible(timeout=15_000)
        wait_for_new_frame(card, frame_number(card))
        pipeline.send_signal(signal.SIGTERM)
        pipeline.wait(timeout=30)
        expect(card).to_have_attribute("data-status", "stale")
        assert page.errors == []
    finally:
        if pipeline.poll() is None:
            pipeline.kill()
            pipeline.wait(timeout=10)
        log.close()


def seed_history(db: Path, now: float) -> None:
    """Three hours ago: two minutes of "lobby" (one 120 s track) and a camera seen only then."""
    from stream.store.database import Minute, Store

    start = (int(now) - 3 * 3600) // 60 * 60
    store = Store(str(db))
    unmeshed = (None,) * 9  # no face mesh: pose, eyes, mouth, frontal and gaze NULL
    faces = [("lobby", start + i * 0.5, i, 41, "happy" if i % 5 else "sad", 0.8, "{}", 0.6,
              *unmeshed) for i in range(241)]  # fmt: skip
    faces += [("garage", start + i, i, 1, "neutral", 0.7, "{}", 0.5, *unmeshed) for i in range(30)]
    minutes = {
        ("lobby", start): Minute(120, 120, {"happy": 96, "sad": 24}, 96.0, 0),
        ("lobby", start + 60): Minute(121, 121, {"happy": 97, "sad": 24}, 96.8, 0),
        ("garage", start): Minute(30, 30, {"neutral": 30}, 21.0, 0),
    }
    store.write(faces, minutes)
    store.close()


def stored_faces(db: Path) -> int:
    import sqlite3

    with contextlib.closing(sqlite3.connect(db)) as connection:
        return connection.execute("SELECT COUNT(*) FROM faces WHERE camera = 'lobby'").fetchone()[0]


def check_history(page: Any) -> None:
    lobby = page.locator('.card[data-camera="lobby"] .history')
    hour = lobby.locator('.history-chart[data-window="hour"]')
    day = lobby.locator('.history-chart[data-window="day"]')
    expect(hour.locator('path[data-label="happy"]')).to_be_attached()
    expect(day.locator('path[data-label="sad"]')).to_be_attached()
    assert int(day.get_attribute("data-minutes")) >= int(hour.get_attribute("data-minutes")) + 2
    summary = lobby.locator(".history-summary")
    expect(summary).to_contain_text("face results")
    assert int(summary.get_attribute("data-faces")) > 241
    assert int(summary.get_attribute("data-tracks")) >= 3  # the seeded one and both live faces
    longest = lobby.locator(".tracks li").first
    expect(longest).to_have_attribute("data-seconds", "120")
    expect(longest).to_contain_text("mostly happy")
    garage = page.locator('.card[data-camera="garage"]')
    expect(garage.locator(".badge")).to_have_text("HISTORY ONLY")
    expect(
        garage.locator('.history-chart[data-window="day"] path[data-label="neutral"]')
    ).to_be_attached()


def test_history_from_the_store_survives_a_reload(
    message_source: SyntheticSource, start_dashboard, page: Any, tmp_path: Path
) -> None:
    db = tmp_path / "history.db"
    seed_history(db, time.time())
    record = subprocess.Popen(
        [sys.executable, "-m", "stream", "record", "--connect", message_source.endpoint,
         "--db", str(db), "--batch-s", "0.5"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while stored_faces(db) <= 241:
            assert time.monotonic() < deadline, "record stored nothing"
            time.sleep(0.2)
        dashboard = start_dashboard(message_source.endpoint, free_port(), "--db", str(db))
        page.goto(dashboard.url)
        expect(page.locator('.card[data-camera="lobby"]')).to_have_attribute("data-status", "live")
        expect(page.locator("#history")).to_have_text("history: stored")
        check_history(page)
        page.reload()
        check_history(page)
        shot = HISTORY_SCREENSHOT if SAVE_SCREENSHOT else tmp_path / "history.png"
        page.locator('.card[data-camera="lobby"] .history').screenshot(path=str(shot))
        message_source.stop()
        expect(page.locator('.card[data-camera="lobby"]')).to_have_attribute("data-status", "stale")
        page.reload()
        check_history(page)
    finally:
        # SIGTERM, as a service manager stops it: a shell script that starts the suite in the
        # background hands its children SIGINT ignored, and Python then keeps it ignored.
        record.send_signal(signal.SIGTERM)
        record.communicate(timeout=30)
    assert page.errors == []
