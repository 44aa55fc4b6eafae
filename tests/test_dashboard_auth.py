"""Who may read the dashboard: the token file, sign-in, cookies, rate limits, TLS and odd requests.

Everything runs against the real app under a real uvicorn on a free loopback port, fed by a real
ZeroMQ publisher, and is read back over real HTTP and WebSocket connections. The command's own
rules (an open bind refused, ``--no-auth``'s warning, ``--new-token``) run it as a subprocess.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets.exceptions
import websockets.sync.client
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from stream.dashboard.auth import (
    MAX_FAILURES,
    SESSION_COOKIE,
    SESSION_MAX_AGE_S,
    AuthError,
    Credentials,
    FailureLimiter,
    read_token,
    write_token,
)
from stream.dashboard.server import DashboardError, Tls
from tests.test_dashboard import Dashboard, Publisher, connected, healthy, until

REPO = Path(__file__).resolve().parents[1]
TOKEN = "a-test-token-that-is-long-enough"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def publisher() -> Iterator[Publisher]:
    context = zmq.Context()
    sock = context.socket(zmq.PUB)
    sock.bind("tcp://127.0.0.1:*")
    yield Publisher(sock, sock.getsockopt_string(zmq.LAST_ENDPOINT))
    context.destroy(linger=0)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def guarded(publisher: Publisher, clock: Clock) -> Iterator[Dashboard]:
    dashboard = Dashboard(
        publisher.endpoint,
        token=TOKEN,
        limiter=FailureLimiter(clock=clock),
    )
    yield dashboard
    dashboard.stop()


def request(
    dashboard: Dashboard,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    context: ssl.SSLContext | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One real HTTP request; never follows redirects, so a test sees each step."""
    if context is None:
        connection = http.client.HTTPConnection(dashboard.host, timeout=10)
    else:
        connection = http.client.HTTPSConnection(dashboard.host, timeout=10, context=context)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_in(dashboard: Dashboard, token: str = TOKEN, **kwargs: Any) -> tuple[int, dict[str, str]]:
    status, headers, _ = request(
        dashboard,
        "POST",
        "/login",
        {"Content-Type": "application/x-www-form-urlencoded"},
        urllib.parse.urlencode({"token": token}).encode(),
        **kwargs,
    )
    return status, headers


def session_cookie(headers: dict[str, str]) -> str:
    return headers["set-cookie"].split(";", 1)[0]


def test_token_file_is_private_from_its_first_byte(tmp_path: Path) -> None:
    path = tmp_path / "token"
    previous = os.umask(0)  # even with no umask to narrow it, the file is born 0600
    try:
        token = write_token(path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_token(path) == token
    assert len(token) >= 40
    with pytest.raises(AuthError, match="exists"):
        write_token(path)
    assert read_token(path) == token  # an existing token is never overwritten


@pytest.mark.parametrize(
    ("content", "mode", "text"),
    [
        (None, 0o600, "--new-token"),
        (TOKEN, 0o640, "open to group or others"),
        (TOKEN, 0o604, "chmod 600"),
        ("short", 0o600, "at least 16 characters"),
        ("", 0o600, "at least 16 characters"),
    ],
)
def test_bad_token_files_are_refused(
    tmp_path: Path, content: str | None, mode: int, text: str
) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content + "\n")
        path.chmod(mode)
    with pytest.raises(AuthError, match=text):
        read_token(path)


def test_sessions_are_signed_and_expire(clock: Clock) -> None:
    credentials = Credentials(TOKEN, secure=True, clock=clock)
    value = credentials.new_session()
    assert credentials.session_valid(value)
    assert value != credentials.new_session()
    issued, nonce, signature = value.split(".")
    assert not credentials.session_valid(f"{int(issued) + 1}.{nonce}.{signature}")
    assert not credentials.session_valid(value[:-1] + ("0" if value[-1] != "0" else "1"))
    assert not Credentials(TOKEN + "x", secure=True, clock=clock).session_valid(value)
    for junk in ("", ".", "x.y.z", "1.2", "9" * 400):
        assert not credentials.session_valid(junk)
    clock.now += SESSION_MAX_AGE_S + 1
    assert not credentials.session_valid(value)
    cookie = credentials.set_cookie(value)
    assert {"HttpOnly", "SameSite=Strict", "Secure", "Path=/"} <= set(cookie.split("; "))


def test_limiter_counts_failures_per_client_in_a_window(clock: Clock) -> None:
    limiter = FailureLimiter(max_failures=3, window_s=60.0, clock=clock, max_clients=2)
    for _ in range(3):
        assert limiter.retry_after("a") == 0
        limiter.fail("a")
    assert limiter.retry_after("a") == pytest.approx(60.0)
    assert limiter.retry_after("b") == 0
    clock.now += 30
    assert limiter.retry_after("a") == pytest.approx(30.0)
    clock.now += 30
    assert limiter.retry_after("a") == 0
    limiter.fail("b")
    limiter.fail("c")  # over max_clients: the oldest client is forgotten, memory stays bounded
    assert len(limiter._failures) == 2


def test_every_data_route_needs_credentials(guarded: Dashboard, publisher: Publisher) -> None:
    for path in ("/api/state", "/api/history?window=hour", "/api/preview/lobby",
                 "/static/dashboard.js", "/ws"):  # fmt: skip
        status, headers, body = request(guarded, "GET", path)
        assert status == 401, path
        assert headers["www-authenticate"].startswith("Bearer")
        assert json.loads(body)["error"] == "sign in first"
    status, headers, _ = request(guarded, "GET", "/")
    assert (status, headers["location"]) == (303, "/login")
    assert request(guarded, "GET", "/healthz")[0] == 200
    status, _, page = request(guarded, "GET", "/login")
    assert status == 200 and b'name="token"' in page

    for name in ("Bearer wrong-token", "Basic " + TOKEN, TOKEN):
        assert request(guarded, "GET", "/api/state", {"Authorization": name})[0] == 401
    connected_to_feed = request(guarded, "GET", "/api/state", bearer())
    assert connected_to_feed[0] == 200
    connected(publisher, guarded)
    state = json.loads(request(guarded, "GET", "/api/state", bearer())[2])
    assert state["cameras"][0]["camera"] == "lobby"


def test_websocket_is_refused_without_credentials(guarded: Dashboard, publisher: Publisher) -> None:
    ws_url = f"ws://{guarded.host}/ws"
    for headers in ({}, bearer("wrong-token"), {"Cookie": f"{SESSION_COOKIE}=1.2.3"}):
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            websockets.sync.client.connect(ws_url, additional_headers=headers, open_timeout=5)
        assert refused.value.response.status_code == 403
    connected(publisher, guarded)
    _, signed_in = sign_in(guarded)
    for headers in (bearer(), {"Cookie": session_cookie(signed_in)}):
        with websockets.sync.client.connect(ws_url, additional_headers=headers) as ws:
            assert json.loads(ws.recv(timeout=5))["cameras"][0]["camera"] == "lobby"


def test_browser_sign_in_gives_a_strict_session_cookie(guarded: Dashboard) -> None:
    status, headers = sign_in(guarded)
    assert (status, headers["location"]) == (303, "/")
    attributes = set(headers["set-cookie"].split("; "))
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= attributes
    assert "Secure" not in attributes  # plain HTTP: a Secure cookie would never be sent back
    cookie = {"Cookie": session_cookie(headers)}
    assert request(guarded, "GET", "/api/state", cookie)[0] == 200
    assert request(guarded, "GET", "/", cookie)[0] == 200
    assert request(guarded, "GET", "/api/state", {"Cookie": cookie["Cookie"] + "0"})[0] == 401
    status, headers, _ = request(guarded, "GET", "/logout", cookie)
    assert status == 303 and "Max-Age=0" in headers["set-cookie"]
    assert sign_in(guarded, "")[0] == 401


def test_wrong_tokens_are_rate_limited_and_logged(
    guarded: Dashboard, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="stream.dashboard.auth")
    for _ in range(MAX_FAILURES - 1):
        assert sign_in(guarded, "wrong-token")[0] == 401
    assert request(guarded, "GET", "/api/state", bearer("another-wrong-token"))[0] == 401
    status, headers = sign_in(guarded)  # the right token, but too late: not even checked
    assert status == 429 and int(headers["retry-after"]) == 60
    assert request(guarded, "GET", "/api/state", bearer())[0] == 429
    assert request(guarded, "GET", "/healthz")[0] == 200
    failed = [r.getMessage() for r in caplog.records if "127.0.0.1" in r.getMessage()]
    assert sum("failed sign-in" in line for line in failed) == MAX_FAILURES - 1
    assert any("wrong bearer token" in line for line in failed)
    assert any("too many wrong tokens" in line for line in failed)
    clock.now += 61
    assert sign_in(guarded)[0] == 303


def _cli(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stream", "dashboard", "--connect", "tcp://127.0.0.1:1", *argv],
        cwd=REPO, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_open_bind_needs_a_token_or_no_auth(tmp_path: Path) -> None:
    refused = _cli("--host", "0.0.0.0", "--port", "0")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "--auth-file" in refused.stderr, refused.stderr

    token = tmp_path / "token"
    made = _cli("--new-token", str(token))
    assert made.returncode == 0 and stat.S_IMODE(token.stat().st_mode) == 0o600
    token.chmod(0o644)
    loose = _cli("--host", "0.0.0.0", "--port", "0", "--auth-file", str(token))
    assert loose.returncode == 2
    assert loose.stderr.count("\n") == 1 and "chmod 600" in loose.stderr, loose.stderr

    process = subprocess.Popen(
        [sys.executable, "-m", "stream", "dashboard", "--connect", "tcp://127.0.0.1:1",
         "--host", "0.0.0.0", "--port", "0", "--no-auth"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = process.stdout.readline()
        assert line.startswith("emostream dashboard: http://0.0.0.0:") and "open" in line
        port = line.split()[2].rstrip("/").rsplit(":", 1)[1]
        until(lambda: healthy(f"http://127.0.0.1:{port}"), "the open dashboard never answered")
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0
    assert "--no-auth" in err and "anyone who reaches this port" in err


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made by the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def wss_first_message(
    dashboard: Dashboard, headers: dict[str, str], context: ssl.SSLContext, timeout: float = 10.0
) -> Any:
    """Open ``/ws`` over TLS and return the first message the dashboard pushes.

    websockets' sans-I/O client on a socket this thread owns, with a deadline on every read,
    rather than its threaded client: when a handshake answer did not come in time (once, in CI),
    that client's reader thread stayed blocked on the TLS socket and held the suite for the
    whole test timeout. Here a missing answer is a plain ``TimeoutError``.
    """
    protocol = ClientProtocol(parse_uri(f"wss://{dashboard.host}/ws"))
    upgrade = protocol.connect()
    upgrade.headers.update(headers)
    protocol.send_request(upgrade)
    host, port = dashboard.host.rsplit(":", 1)
    with (
        socket.create_connection((host, int(port)), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        deadline = time.monotonic() + timeout
        while True:
            for data in protocol.data_to_send():
                tls.sendall(data)
            for event in protocol.events_received():
                if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    return json.loads(event.data)
            if protocol.handshake_exc is not None:
                raise protocol.handshake_exc
            tls.settimeout(max(deadline - time.monotonic(), 0.001))
            data = tls.recv(65536)
            if not data:
                raise ConnectionError("the dashboard closed the WebSocket before its first message")
            protocol.receive_data(data)


def test_tls_serves_https_and_a_secure_cookie(
    certificate: tuple[Path, Path], publisher: Publisher
) -> None:
    cert, key = certificate
    tls = Tls(cert, key)
    tls.check()
    dashboard = Dashboard(publisher.endpoint, token=TOKEN, tls=tls)
    try:
        context = ssl.create_default_context(cafile=str(cert))
        assert dashboard.url.startswith("https://")
        status, headers = sign_in(dashboard, context=context)
        assert status == 303 and "Secure" in headers["set-cookie"].split("; ")
        cookie = {"Cookie": session_cookie(headers)}
        assert request(dashboard, "GET", "/api/state", cookie, context=context)[0] == 200
        assert "cameras" in wss_first_message(dashboard, cookie, context)
        with pytest.raises(ssl.SSLError):  # nothing is served in the clear on that port
            request(dashboard, "GET", "/healthz", context=ssl.create_default_context())
    finally:
        dashboard.stop()


def test_bad_tls_files_are_one_line(certificate: tuple[Path, Path], tmp_path: Path) -> None:
    cert, key = certificate
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(DashboardError, match="no such TLS file"):
        Tls(tmp_path / "missing.pem", key).check()
    with pytest.raises(DashboardError, match="cannot use --tls-cert"):
        Tls(junk, key).check()
    result = _cli("--port", "0", "--tls-cert", str(cert))
    assert result.returncode == 2 and "both --tls-cert and --tls-key" in result.stderr
    result = _cli("--port", "0", "--tls-cert", str(key), "--tls-key", str(cert))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr


ROUTES = ("/", "/api/state", "/api/history", "/api/preview/lobby", "/healthz", "/login",
          "/logout", "/ws", "/static/dashboard.js", "/static/../app.py", "/nowhere")  # fmt: skip
header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200
)  # what http.client will put in a header


@pytest.fixture(scope="module")
def fuzz_target() -> Iterator[Dashboard]:
    dashboard = Dashboard(
        "tcp://127.0.0.1:1", token=TOKEN, limiter=FailureLimiter(max_failures=10**9)
    )
    yield dashboard
    dashboard.stop()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]),
    route=st.sampled_from(ROUTES),
    suffix=st.text(max_size=40).map(lambda t: urllib.parse.quote(t, safe="/?=&%")),
    authorization=st.one_of(st.none(), header_text, st.just(f"Bearer {TOKEN}")),
    cookie=st.one_of(st.none(), header_text, header_text.map(lambda t: f"{SESSION_COOKIE}={t}")),
    body=st.one_of(st.none(), st.binary(max_size=6000), header_text.map(lambda t: t.encode())),
)
def test_fuzzed_requests_get_answers_below_500(
    fuzz_target: Dashboard,
    method: str,
    route: str,
    suffix: str,
    authorization: str | None,
    cookie: str | None,
    body: bytes | None,
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    if cookie is not None:
        headers["Cookie"] = cookie
    status, _, _ = request(fuzz_target, method, route + suffix, headers, body)
    assert 200 <= status < 500, (method, route + suffix, status)


def test_malformed_and_oversized_requests_leave_the_server_serving(
    fuzz_target: Dashboard,
) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert request(fuzz_target, "POST", "/login", form, b"token=" + b"x" * 100_000)[0] == 413
    assert request(fuzz_target, "POST", "/login", form, b"&".join([b"a=1"] * 10))[0] == 400
    host, port = fuzz_target.host.split(":")
    for raw in (b"\x00\xff garbage\r\n\r\n", b"GET /api/state HTTP/9.9\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"y" * 70_000 + b"\r\n\r\n",
                b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: bad\r\n\r\n"):  # fmt: skip
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(raw)
            answer = sock.recv(100)
        assert answer == b"" or int(answer.split()[1]) < 500, answer
    until(lambda: request(fuzz_target, "GET", "/healthz")[0] == 200, "the server stopped")
    assert request(fuzz_target, "GET", "/api/state", bearer())[0] == 200


@pytest.mark.parametrize(
    "header", [bearer("nope"), {"Cookie": '"unclosed;;=='}, {"Origin": "evil"}]
)
def test_fuzzed_websocket_handshakes_are_refused(
    fuzz_target: Dashboard, header: dict[str, str]
) -> None:
    with pytest.raises(websockets.exceptions.InvalidStatus):
        websockets.sync.client.connect(
            f"ws://{fuzz_target.host}/ws", additional_headers=header, open_timeout=5
        )
    assert request(fuzz_target, "GET", "/healthz")[0] == 200
