"""``emostream run --config``: a site file checked key by key, and a real supervised site.

The site tests run real camera processes on a generated clip, subscribe once to the site's
endpoint, kill a camera with SIGKILL and watch it come back with ``restarts`` in its heartbeat
and in the supervisor's metrics, then stop everything with SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stream.publish.subscriber import Subscriber
from tests.test_metrics import wait_for
from tests.test_pipeline import emostream, finish, free_endpoint
from tests.test_rtsp import _free_port

ROOT = Path(__file__).resolve().parents[1]
START_S = 90.0


def check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stream", "run", "--config", str(path), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_shipped_example_checks(tmp_path: Path) -> None:
    result = check(ROOT / "docs" / "site.toml")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "3 camera(s), publishing on tcp://127.0.0.1:5556" in lines[0]
    assert any(
        "front-door: emostream run --camera-id front-door --detect-every 4" in line
        for line in lines
    )
    assert any("replay:" in line and "--realtime --loop" in line for line in lines)


SITE = """
[site]
publish = "tcp://127.0.0.1:5556"
[defaults]
detect_every = 2
[cameras.front]
source = "demo"
"""


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("detect_every = 2", "detect_evry = 2", "[defaults] detect_evry: unknown key"),
        ("detect_every = 2", "detect_every = 0", "[defaults] detect_every: 0 must be at least 1"),
        ('source = "demo"', 'source = "demo"\nloop = "yes"', "[cameras.front] loop: must be true"),
        ('source = "demo"', 'source = "demo"\ndetector = "huge"', "detector: 'huge' is not one"),
        ('source = "demo"', 'source = "demo"\npublish = "x"', "[cameras.front] publish: not a"),
        ('source = "demo"', 'source = "demo"\nmin_score = 2', "min_score: 2.0 is not between"),
        ('source = "demo"', "realtime = true", "[cameras.front] source: missing"),
        ("[site]", "[site]\ncolour = 1", "[site] colour: unknown key"),
        ('publish = "tcp://127.0.0.1:5556"', "publish = 5556", "[site] publish: must be"),
        ("[site]", "[site]\nrestart_delay = 0", "[site] restart_delay: must be a number"),
        ("[site]", '[site]\nmetrics = "nowhere"', "[site] metrics: 'nowhere' is not HOST:PORT"),
        ("[cameras.front]", "[cameras.'front door']", "the camera id may hold letters"),
        ("[defaults]", "[defaults]\n[sites]", "unknown table [sites]"),
        ("[defaults]", "[defaults", "not valid TOML"),
        (
            '[site]\npublish = "tcp://127.0.0.1:5556"',
            '[site]\nmetrics = "127.0.0.1:9100"\n[cameras.b]\nsource = "0"\n'
            'metrics = "127.0.0.1:9100"',
            "[cameras.b] metrics: 127.0.0.1:9100 is already used by [site]",
        ),
    ],
)
def test_bad_site_files_name_file_table_and_key(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = tmp_path / "site.toml"
    path.write_text(SITE.replace(old, new, 1))
    result = check(path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert str(path) in result.stderr
    assert message in result.stderr


def test_missing_file_no_cameras_and_options_beside_config(tmp_path: Path) -> None:
    missing = check(tmp_path / "nowhere.toml")
    assert missing.returncode == 2 and "cannot read site file" in missing.stderr
    empty = tmp_path / "empty.toml"
    empty.write_text("[site]\n")
    result = check(empty)
    assert result.returncode == 2 and "no cameras" in result.stderr
    beside = subprocess.run(
        [sys.executable, "-m", "stream", "run", "--config", str(empty), "--source", "demo"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert beside.returncode == 2
    assert "set --source there instead" in beside.stderr and beside.stderr.count("\n") == 1
    alone = subprocess.run(
        [sys.executable, "-m", "stream", "run", "--check"], capture_output=True, text=True
    )
    assert alone.returncode == 2 and "--check needs --config" in alone.stderr


def camera_processes(supervisor: int) -> list[int]:
    """The supervisor's camera processes (spawned workers, not multiprocessing's tracker)."""
    children = subprocess.run(
        ["pgrep", "-P", str(supervisor)], capture_output=True, text=True
    ).stdout.split()
    found = []
    for pid in map(int, children):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
            found.append(pid)
    return found


def heartbeats(subscriber: Subscriber, cameras: set[str], timeout: float) -> dict[str, dict]:
    """The latest heartbeat of each camera once every one of ``cameras`` has sent one."""
    latest: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    while set(latest) != cameras and time.monotonic() < deadline:
        message = subscriber.receive(timeout=1.0)
        if message is not None and message.is_stats:
            latest[message.payload["camera"]] = message.payload
    assert set(latest) == cameras, f"heartbeats only from {sorted(latest)}"
    return latest


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds camera processes through /proc")
def test_site_restarts_a_killed_camera_and_stops_on_sigterm(
    make_clip, model_dir: Path, tmp_path: Path
) -> None:
    clip = make_clip(frames=48, faces=1)
    endpoint, port = free_endpoint(), _free_port()
    site = tmp_path / "site.toml"
    site.write_text(
        f'[site]\npublish = "{endpoint}"\nmetrics = "127.0.0.1:{port}"\nrestart_delay = 0.2\n'
        f'[defaults]\nsource = "{clip}"\nloop = true\nrealtime = true\nthreads = 1\n'
        "[cameras.east]\n[cameras.west]\ndetect_every = 2\n"
    )
    process = emostream("run", "--config", str(site), model_dir=model_dir)
    try:
        with Subscriber(endpoint) as subscriber:
            first = heartbeats(subscriber, {"east", "west"}, START_S)
            assert {beat["restarts"] for beat in first.values()} == {0}
            cameras = camera_processes(process.pid)
            assert len(cameras) == 2
            os.kill(cameras[0], signal.SIGKILL)
            restarted = 'emostream_restarts_total{camera="east"}'
            values = wait_for(
                port,
                lambda v: (
                    v[restarted] + v['emostream_restarts_total{camera="west"}'] == 1
                    and v['emostream_camera_process_up{camera="east"}'] == 1
                    and v['emostream_camera_process_up{camera="west"}'] == 1
                ),
            )
            killed = "east" if values[restarted] == 1 else "west"
            deadline = time.monotonic() + START_S
            while heartbeats(subscriber, {"east", "west"}, START_S)[killed]["restarts"] != 1:
                assert time.monotonic() < deadline, "the restarted camera never reported it"
            frames = [m for m in (subscriber.receive(timeout=5.0) for _ in range(20)) if m]
            assert {m.payload["camera"] for m in frames if not m.is_stats} == {"east", "west"}
        running = camera_processes(process.pid)
        process.send_signal(signal.SIGTERM)
        code, _, err = finish(process, timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0, err
    assert "restart 1" in err and "killed by SIGKILL" in err
    assert not [pid for pid in running if Path(f"/proc/{pid}").exists()]


def test_a_failing_camera_backs_off_exponentially(model_dir: Path, tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        f'[site]\npublish = "{free_endpoint()}"\nrestart_delay = 0.2\nrestart_max_delay = 0.8\n'
        f'[cameras.gone]\nsource = "{tmp_path / "missing.mp4"}"\n'
    )
    process = emostream("run", "--config", str(site), model_dir=model_dir)
    deadline = time.monotonic() + START_S
    err = ""
    try:
        lines: list[str] = []
        while time.monotonic() < deadline and sum("restarting in" in ln for ln in lines) < 4:
            line = process.stderr.readline()
            if not line:
                break
            lines.append(line)
        err = "".join(lines)
    finally:
        process.send_signal(signal.SIGINT)
        code, _, rest = finish(process, timeout=60)
    delays = [ln.rsplit("restarting in ", 1)[1].strip() for ln in lines if "restarting in" in ln]
    assert delays[:4] == ["0.2 s", "0.4 s", "0.8 s", "0.8 s"], err + rest
    assert "camera=gone" in err and "missing.mp4" in err
    assert code == 0
