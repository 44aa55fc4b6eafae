"""``emostream mqtt`` against a real Mosquitto, fed by a real ZeroMQ publisher.

Each test starts Mosquitto (Debian's ``mosquitto``, installed by ``.ci/run``) on a free loopback
port with a config of its own, publishes scripted frame messages on a real PUB socket, runs the
bridge as a subprocess and reads what reaches the broker with a paho-mqtt client. Skips, saying
so, where Mosquitto is absent.
"""

from __future__ import annotations

import getpass
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import zmq
from paho.mqtt.enums import CallbackAPIVersion

from stream.publish import schema
from tests.test_rtsp import _free_port

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
MOSQUITTO = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")
PASSWD = shutil.which("mosquitto_passwd")
WAIT_S = 30.0


class Mosquitto:
    """A Mosquitto on a free loopback port; ``restart()`` keeps the port, loses what it held."""

    def __init__(self, folder: Path, users: dict[str, str] | None = None) -> None:
        self.port = _free_port()
        config = [f"listener {self.port} 127.0.0.1", f"user {getpass.getuser()}"]
        config += ["persistence false", "log_dest stderr"]
        if users:
            passwords = folder / "passwords"
            passwords.touch()
            for user, password in users.items():
                subprocess.run([PASSWD, "-b", str(passwords), user, password], check=True)
            config += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            config.append("allow_anonymous true")
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(config) + "\n")
        self.process: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2):
                    return
            except OSError:
                assert self.process.poll() is None, self.process.stderr.read()
                time.sleep(0.05)
        raise AssertionError("mosquitto did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    server = Mosquitto(tmp_path)
    yield server
    server.stop()


class Inbox:
    """A paho client that keeps every message it receives and resubscribes on reconnect."""

    def __init__(
        self, port: int, topics: tuple[str, ...] = ("#",), auth: tuple[str, str] | None = None
    ) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        if auth is not None:
            self.client.username_pw_set(*auth)
        self.client.on_connect = lambda c, *_: [c.subscribe(t, qos=1) for t in topics]
        self.client.on_message = lambda c, u, m: self._keep(m)
        self.client.reconnect_delay_set(0.2, 1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _keep(self, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append(message)

    def on(self, topic: str) -> list[mqtt.MQTTMessage]:
        with self.lock:
            return [m for m in self.messages if m.topic == topic]

    def json(self, topic: str) -> list[dict]:
        return [json.loads(m.payload) for m in self.on(topic)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Camera:
    """A ZeroMQ PUB socket sending frame messages with one face whose label we choose."""

    def __init__(self, name: str = "lobby") -> None:
        self.name = name
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.PUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        port = self.socket.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.frame = 0

    def send(self, label: str | None, track: int = 1) -> None:
        faces = []
        if label is not None:
            probs = {name: (0.8 if name == label else 0.2 / 6) for name in LABELS}
            faces.append(
                {"id": track, "box": [0.4, 0.2, 0.2, 0.3], "score": 0.9, "label": label,
                 "confidence": 0.8, "probs": probs, "quality": 0.7, "uncertain": False}
            )  # fmt: skip
        message = schema.frame_message(
            self.name, self.frame, time.time(), time.time(), 640, 360, faces, {"total": 1.0}
        )
        self.socket.send_multipart([schema.frame_topic(self.name), schema.encode(message)])
        self.frame += 1

    def stats(self) -> None:
        message = schema.stats_message(
            self.name, time.time(), 25.0, self.frame, 0, 0, 0, 1.0, "running"
        )
        self.socket.send_multipart([schema.stats_topic(self.name), schema.encode(message)])

    def close(self) -> None:
        self.socket.close()
        self.context.term()


def bridge(camera: Camera, broker: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "stream", "mqtt", "--connect", camera.endpoint, "--broker", broker,
         "--rate", "20", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def feed_until(camera: Camera, label: str | None, done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        camera.send(label)
        if camera.frame % 10 == 0:
            camera.stats()
        if done():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def stop(process: subprocess.Popen) -> tuple[int, str]:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return process.returncode, err


STATE = "emostream/lobby/state"


def start_bridge(server: Mosquitto) -> tuple[Camera, Inbox, subprocess.Popen, int]:
    """A camera, an inbox reading everything, and the bridge with metrics on a free port, fed
    until its first state reached the broker."""
    camera, inbox = Camera(), Inbox(server.port)
    metrics_port = _free_port()
    process = bridge(camera, server.url, "--metrics", f"127.0.0.1:{metrics_port}")
    try:
        feed_until(camera, "happy", lambda: inbox.on(STATE), "a first state")
    except AssertionError:
        stop(process)
        raise
    return camera, inbox, process, metrics_port


@pytest.mark.slow
def test_states_events_discovery_retained_state_and_metrics(mosquitto: Mosquitto) -> None:
    camera, inbox, process, metrics_port = start_bridge(mosquitto)
    state_topic = STATE
    try:
        first = scrape(metrics_port)
        feed_until(
            camera,
            "sad",
            lambda: (
                any(s["dominant"] == "sad" for s in inbox.json(state_topic))
                and inbox.on("emostream/lobby/event")
            ),
            "the change to sad",
        )
        events = inbox.json("emostream/lobby/event")
        assert {"track": 1, "from": "happy", "to": "sad", "event_type": "sad"}.items() <= events[
            0
        ].items()
        state = inbox.json(state_topic)[-1]
        assert state["faces"] == 1 and state["dominant"] == "sad" and state["camera"] == "lobby"
        assert state["confidence"] == pytest.approx(0.8)

        late = Inbox(mosquitto.port, (state_topic, "emostream/availability", "homeassistant/#"))
        try:
            deadline = time.monotonic() + WAIT_S
            while not (late.on(state_topic) and late.on("emostream/availability")):
                assert time.monotonic() < deadline, "no retained state for a late subscriber"
                time.sleep(0.05)
            retained = late.on(state_topic)[0]
            assert retained.retain and json.loads(retained.payload)["dominant"] == "sad"
            assert late.on("emostream/availability")[0].payload == b"online"
            discovery = [m for m in late.messages if m.topic.startswith("homeassistant/")]
            assert len({m.topic for m in discovery}) == 4 and all(m.retain for m in discovery)
        finally:
            late.close()

        configs = [m for m in inbox.messages if m.topic.startswith("homeassistant/")]
        by_topic = {m.topic: json.loads(m.payload) for m in configs}
        node = "emostream_lobby"
        expected = {
            f"homeassistant/sensor/{node}/{key}/config"
            for key in ("expression", "faces", "confidence")
        }
        expected.add(f"homeassistant/event/{node}/expression_change/config")
        assert expected <= by_topic.keys()
        for config in by_topic.values():
            assert config["unique_id"].startswith(node) and config["name"]
            assert config["device"]["identifiers"] == [node]
            assert {a["topic"] for a in config["availability"]} == {
                "emostream/availability",
                "emostream/lobby/availability",
            }
        assert (
            by_topic[f"homeassistant/sensor/{node}/expression/config"]["state_topic"] == state_topic
        )
        assert (
            "{{ value_json.dominant }}"
            in by_topic[f"homeassistant/sensor/{node}/expression/config"]["value_template"]
        )
        assert set(
            by_topic[f"homeassistant/event/{node}/expression_change/config"]["event_types"]
        ) == set(LABELS)

        second = scrape(metrics_port)
        key = 'emostream_mqtt_received_total{camera="lobby",kind="frame"}'
        assert second[key] > first[key] > 0
        assert second["emostream_mqtt_connected"] == 1.0
        assert second['emostream_mqtt_published_total{kind="event"}'] >= 1
        assert second['emostream_camera_online{camera="lobby"}'] == 1.0
        assert second['emostream_mqtt_latency_seconds_count{camera="lobby"}'] > 0
    finally:
        code, err = stop(process)
        camera.close()
    assert code == 130 and "Traceback" not in err, err
    deadline = time.monotonic() + WAIT_S
    while inbox.on("emostream/availability")[-1].payload != b"offline":
        assert time.monotonic() < deadline, "the bridge did not mark itself offline"
        time.sleep(0.05)
    inbox.close()


@pytest.mark.slow
def test_the_broker_restarts_and_the_messages_resume(mosquitto: Mosquitto) -> None:
    camera, inbox, process, metrics_port = start_bridge(mosquitto)
    state_topic = STATE
    try:
        mosquitto.restart()
        before = len(inbox.on(state_topic))
        feed_until(
            camera,
            "surprise",
            lambda: any(s["dominant"] == "surprise" for s in inbox.json(state_topic)[before:]),
            "a state after the restart",
        )
        # The messages queued while the broker was away go out first, then the resync.
        deadline = time.monotonic() + WAIT_S
        while inbox.on("emostream/availability")[-1].payload != b"online":
            assert time.monotonic() < deadline, "the bridge did not come back online"
            time.sleep(0.05)
        assert scrape(metrics_port)["emostream_mqtt_reconnects_total"] >= 1
        assert process.poll() is None
    finally:
        code, err = stop(process)
        camera.close()
        inbox.close()
    assert code == 130 and "Traceback" not in err, err


@pytest.mark.slow
def test_a_wrong_password_is_one_line_and_non_zero(tmp_path: Path) -> None:
    if MOSQUITTO is None or PASSWD is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    server = Mosquitto(tmp_path, users={"bridge": "right"})
    camera = Camera()
    try:
        (tmp_path / "wrong").write_text("wrong\n")
        (tmp_path / "right").write_text("right\n")
        process = bridge(
            camera, server.url, "--username", "bridge", "--password-file", str(tmp_path / "wrong")
        )
        try:
            code, err = process.wait(timeout=WAIT_S), process.stderr.read()
        except subprocess.TimeoutExpired:
            code, err = stop(process)
        lines = [line for line in err.splitlines() if line.strip()]
        assert code not in (0, None) and len(lines) == 1, err
        assert (
            lines[0].startswith("emostream mqtt: error:") and "refused the connection" in lines[0]
        )

        # The right password: the bridge comes online.
        process = bridge(
            camera, server.url, "--username", "bridge", "--password-file", str(tmp_path / "right")
        )
        inbox = Inbox(server.port, ("emostream/availability",), auth=("bridge", "right"))
        try:
            deadline = time.monotonic() + WAIT_S
            while not inbox.on("emostream/availability"):
                assert time.monotonic() < deadline, "the bridge never came online"
                time.sleep(0.05)
            assert inbox.on("emostream/availability")[-1].payload == b"online"
        finally:
            inbox.close()
            stop(process)
    finally:
        camera.close()
        server.stop()
