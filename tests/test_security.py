"""What the commands expose: loopback-only defaults, and CURVE from ``emostream keys`` end to end.

Real processes on real sockets, as in ``tests/test_reliability.py``: the listening sockets of
``emostream run``, ``broker`` and ``dashboard`` started with their defaults are read back from
the kernel with psutil, and an encrypted pipeline is read by ``emostream subscribe`` with the
right key, a key the publisher does not know, and no key at all.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from stream.publish.subscriber import Subscriber
from tests.test_pipeline import emostream, finish, free_endpoint
from tests.test_reliability import START_S, models_fixture, stop  # noqa: F401 (a fixture)

DEFAULT_PUBLISH_PORT = 5556
DEFAULT_BROKER_PORTS = (5555, 5556)  # the dashboard connects to 5556 by default
REFUSED_WAIT_S = 5  # an unknown or plain subscriber must hear nothing for this long


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as ZeroMQ and uvicorn do
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def listening(process: subprocess.Popen, count: int) -> list[tuple[str, int]]:
    """The (address, port) pairs ``process`` listens on, once it listens on ``count`` of them."""
    watched = psutil.Process(process.pid)
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _, err = process.communicate()
            if "in use" in err:
                pytest.skip(f"a default port is taken on this machine: {err.strip()}")
            pytest.fail(f"exited with status {process.returncode}: {err.strip()}")
        sockets = [
            (c.laddr.ip, c.laddr.port)
            for c in watched.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        ]
        if len(sockets) >= count:
            return sockets
        time.sleep(0.2)
    pytest.fail(f"not listening on {count} socket(s) within {START_S:g} s")


def assert_loopback_only(sockets: list[tuple[str, int]]) -> None:
    outside = [(ip, port) for ip, port in sockets if not ipaddress.ip_address(ip).is_loopback]
    assert not outside, f"listening beyond loopback: {outside}"


@pytest.fixture
def default_ports_free() -> None:
    taken = [port for port in DEFAULT_BROKER_PORTS if not port_is_free(port)]
    if taken:
        pytest.skip(f"default port(s) {taken} are in use on this machine")


@pytest.mark.usefixtures("default_ports_free")
def test_run_publishes_on_loopback_by_default(make_clip, models: Path) -> None:
    process = emostream("run", "--source", str(make_clip(frames=12)), "--loop", model_dir=models)
    try:
        sockets = listening(process, 1)
        with Subscriber(f"tcp://127.0.0.1:{DEFAULT_PUBLISH_PORT}") as subscriber:
            running = subscriber.receive(timeout=START_S)  # so SIGTERM finds it running
    finally:
        code, _, err = stop(process)
    assert running is not None
    assert code == 0, err
    assert_loopback_only(sockets)
    assert ("127.0.0.1", DEFAULT_PUBLISH_PORT) in sockets


@pytest.mark.usefixtures("default_ports_free")
def test_broker_and_dashboard_listen_on_loopback_by_default(models: Path) -> None:
    broker = emostream("broker", model_dir=models)
    dashboard = emostream("dashboard", "--port", "0", model_dir=models)
    try:
        broker_sockets = listening(broker, 2)
        dashboard_sockets = listening(dashboard, 1)
    finally:
        broker_code, _, broker_err = stop(broker)
        stop(dashboard)
    assert broker_code == 0, broker_err
    assert_loopback_only(broker_sockets)
    assert {port for _, port in broker_sockets} == set(DEFAULT_BROKER_PORTS)
    assert_loopback_only(dashboard_sockets)


def make_keys(folder: Path, name: str) -> tuple[Path, Path]:
    command = [sys.executable, "-m", "stream", "keys", str(folder), "--name", name]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return folder / f"{name}.key", folder / f"{name}.key_secret"


def test_curve_end_to_end_admits_only_listed_clients(
    make_clip, models: Path, tmp_path: Path
) -> None:
    server_public, server_secret = make_keys(tmp_path / "server", "server")
    client_public, client_secret = make_keys(tmp_path / "client", "client")
    _, stranger_secret = make_keys(tmp_path / "stranger", "stranger")
    other_server_public, _ = make_keys(tmp_path / "other", "other")
    clients = tmp_path / "clients"
    clients.mkdir()
    shutil.copy(client_public, clients)
    endpoint = free_endpoint()
    process = emostream(
        "run", "--source", str(make_clip(frames=12)), "--loop", "--publish", endpoint,
        "--camera-id", "secure", "--curve-secret", str(server_secret),
        "--curve-clients", str(clients), model_dir=models,
    )  # fmt: skip

    def subscribe(*args: str, timeout: float) -> subprocess.Popen:
        return emostream(
            "subscribe", endpoint, "--json", "--count", "1", "--timeout", str(timeout), *args,
            model_dir=models,
        )  # fmt: skip

    try:
        allowed = subscribe(
            "--curve-secret", str(client_secret), "--curve-server-key", str(server_public),
            timeout=START_S,
        )  # fmt: skip
        code, out, err = finish(allowed, timeout=START_S + 30)
        assert code == 0, err
        frames = [json.loads(line) for line in out.splitlines()]
        assert frames[-1]["topic"] == "emostream/secure"
        assert frames[-1]["payload"]["camera"] == "secure"
        # The pipeline is publishing now; none of these may hear a single message.
        refused = {
            "unknown client key": subscribe(
                "--curve-secret", str(stranger_secret), "--curve-server-key", str(server_public),
                timeout=REFUSED_WAIT_S,
            ),
            "wrong server key": subscribe(
                "--curve-secret", str(client_secret),
                "--curve-server-key", str(other_server_public), timeout=REFUSED_WAIT_S,
            ),
            "no CURVE": subscribe(timeout=REFUSED_WAIT_S),
        }  # fmt: skip
        results = {name: finish(p, timeout=START_S) for name, p in refused.items()}
        assert process.poll() is None, "the publisher died"
    finally:
        run_code, _, run_err = stop(process)
    assert run_code == 0, run_err
    for name, (code, out, err) in results.items():
        assert code == 1, f"{name}: {code} {out} {err}"
        assert out == "", f"{name} received: {out}"
        assert "no message" in err and "Traceback" not in err, f"{name}: {err}"
