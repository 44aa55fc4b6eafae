"""Benchmark 6: from a camera frame to a Mosquitto subscriber, and what the bridge costs.

A small site, every part the real command: Mosquitto on a free loopback port, ``emostream
broker``, four ``emostream run --realtime --loop`` pipelines on the sample video (25 FPS each)
publishing into it, and ``emostream mqtt`` subscribed to the broker. A paho-mqtt subscriber
takes every state and event message; its latency is the time of arrival minus the frame's
capture time, which the message carries (one clock: everything runs on this machine).

Two phases, each with a fresh bridge:

- ``--rate 1000``: every changed state goes out at once: the most the bridge can be asked to do;
- ``--rate 2`` (the default): what a deployment sends, and what it costs the bridge.

Bridge CPU is its process's user + system time over the phase, in % of one core.

``python -m benchmarks.deployment.mqtt_bridge [--seconds 30]``; needs Debian's ``mosquitto``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.common.context import BenchContext
from benchmarks.common.report import Section, Table
from benchmarks.common.stats import Summary
from tests.test_mqtt import MOSQUITTO, Mosquitto
from tests.test_rtsp import _free_port

log = logging.getLogger(__name__)

NAME = "mqtt"
TITLE = "MQTT bridge: capture to a Mosquitto subscriber, and the bridge's CPU"
VIDEO = "videos/WolfgangLanger_Pexels.mp4"
CAMERAS = 4
WARMUP_S = 8.0


@dataclass(frozen=True)
class Phase:
    rate: float
    seconds: float
    states: int
    events: int
    latency_ms: Summary | None
    cpu_percent: float
    rss_mb: float


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "stream", *args]


class Arrivals:
    """Every state and event the subscriber receives, with its capture-to-arrival latency."""

    def __init__(self, port: int) -> None:
        self.lock = threading.Lock()
        self.latency_ms: list[float] = []
        self.states = self.events = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_: c.subscribe("emostream/+/+", qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client, userdata, message) -> None:
        now = time.time()
        kind = message.topic.rsplit("/", 1)[-1]
        if kind not in ("state", "event") or message.retain:
            return
        payload = json.loads(message.payload)
        captured = payload["updated_at"] if kind == "state" else payload["time"]
        with self.lock:
            self.latency_ms.append((now - captured) * 1000.0)
            if kind == "state":
                self.states += 1
            else:
                self.events += 1

    def reset(self) -> None:
        with self.lock:
            self.latency_ms.clear()
            self.states = self.events = 0

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def measure_phase(rate: float, seconds: float, backend: str, server: Mosquitto) -> Phase:
    arrivals = Arrivals(server.port)
    bridge = subprocess.Popen(
        _command("mqtt", "--connect", backend, "--broker", server.url, "--rate", str(rate)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(WARMUP_S)
        if bridge.poll() is not None:
            raise RuntimeError(f"the bridge exited: {bridge.stderr.read().strip()[-300:]}")
        process = psutil.Process(bridge.pid)
        arrivals.reset()
        cpu_before, start = process.cpu_times(), time.monotonic()
        time.sleep(seconds)
        cpu_after, wall = process.cpu_times(), time.monotonic() - start
        rss = process.memory_info().rss / 2**20
    finally:
        bridge.terminate()
        bridge.wait(timeout=30)
        arrivals.close()
    used = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    with arrivals.lock:
        latency = Summary.of(arrivals.latency_ms) if arrivals.latency_ms else None
        return Phase(rate, wall, arrivals.states, arrivals.events, latency, 100 * used / wall, rss)


def measure(video: Path, seconds: float) -> list[Phase]:
    with tempfile.TemporaryDirectory(prefix="emostream-mqtt-") as scratch:
        server = Mosquitto(Path(scratch))
        frontend, backend = (f"tcp://127.0.0.1:{_free_port()}" for _ in range(2))
        children = [
            subprocess.Popen(
                _command("broker", "--frontend", frontend, "--backend", backend),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        ]
        try:
            pipeline = ("run", "--source", str(video), "--realtime", "--loop", "--connect")
            for i in range(CAMERAS):
                children.append(
                    subprocess.Popen(
                        _command(*pipeline, frontend, "--camera-id", f"cam{i + 1}"),
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            return [measure_phase(rate, seconds, backend, server) for rate in (1000.0, 2.0)]
        finally:
            for child in children:
                child.terminate()
            for child in children:
                child.wait(timeout=30)
            server.stop()


def section(phases: list[Phase], command: str) -> Section:
    table = Table(
        f"{CAMERAS} cameras, sample video at 25 FPS each, through `emostream broker`",
        ["--rate", "states/s", "events/s", "capture → subscriber ms p50 / p99", "bridge CPU",
         "bridge RSS MiB"],
    )  # fmt: skip
    for p in phases:
        table.add(
            f"{p.rate:g}",
            f"{p.states / p.seconds:.1f}",
            f"{p.events / p.seconds:.1f}",
            p.latency_ms.cell() if p.latency_ms else "–",
            f"{p.cpu_percent:.1f} % of a core",
            f"{p.rss_mb:.0f}",
        )
    notes = [
        "Latency: arrival at a paho-mqtt subscriber minus the frame's capture time carried in "
        "the message (`updated_at` of states, `time` of events); it spans the pipeline, "
        "`emostream broker`, the bridge and Mosquitto. A state the rate limit holds back is "
        "replaced by each newer frame's until its slot comes, so what goes out is always the "
        "latest frame's: at `--rate 2` intermediate states are skipped, not delayed.",
        f"Each phase: {WARMUP_S:.0f} s warm-up with a fresh bridge, then the measured window; "
        "CPU is the bridge's user + system time over the window.",
    ]
    return Section(NAME, TITLE, command, tables=[table], notes=notes)


def run(ctx: BenchContext) -> Section:
    video = ctx.shared_path(VIDEO)
    command = ctx.command(NAME)
    if MOSQUITTO is None or video is None:
        missing = "mosquitto is not installed" if MOSQUITTO is None else f"../shared/{VIDEO}"
        return Section(NAME, TITLE, command, notes=[f"Skipped: {missing}."])
    return section(measure(video, 15.0 if ctx.quick else 60.0), command)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.deployment.mqtt_bridge", description=TITLE
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window per phase")
    parser.add_argument("--video", type=Path, default=Path(__file__).parents[3] / "shared" / VIDEO)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if MOSQUITTO is None:
        print("mosquitto is not installed (apt-get install mosquitto)", file=sys.stderr)
        return 2
    command = shlex.join(
        ["python", "-m", "benchmarks.deployment.mqtt_bridge", *(argv or sys.argv[1:])]
    )
    print(section(measure(args.video, args.seconds), command).markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
