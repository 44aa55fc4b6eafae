"""CURVE keys and allow-lists: who may read an encrypted publisher, and clear errors on bad keys."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import zmq.auth

from stream.errors import PublishError
from stream.publish import schema
from stream.publish.curve import make_keypair
from stream.publish.publisher import Publisher
from stream.publish.subscriber import Subscriber

REPO = Path(__file__).resolve().parents[1]
ANY_PORT = "tcp://127.0.0.1:*"
WAIT_S = 10.0


def frame_bytes(n: int) -> tuple[bytes, bytes]:
    message = schema.frame_message("door", n, 1.0, 1.1, 320, 240, [], {"total": 1.0})
    return schema.frame_topic("door"), schema.encode(message)


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    """A server pair, an allowed client (its public key in clients/), and a stranger."""
    server_public, server_secret = make_keypair(tmp_path / "server", "server")
    _, allowed_secret = make_keypair(tmp_path / "allowed", "dashboard")
    (tmp_path / "clients").mkdir()
    (tmp_path / "clients" / "dashboard.key").write_bytes(
        (tmp_path / "allowed" / "dashboard.key").read_bytes()
    )
    _, stranger_secret = make_keypair(tmp_path / "stranger", "stranger")
    return {
        "server_public": server_public,
        "server_secret": server_secret,
        "clients": tmp_path / "clients",
        "allowed_secret": allowed_secret,
        "stranger_secret": stranger_secret,
    }


def test_make_keypair_writes_a_public_file_and_a_private_secret_file(tmp_path: Path) -> None:
    public, secret = make_keypair(tmp_path / "new" / "folder", "cam1")
    assert (public.name, secret.name) == ("cam1.key", "cam1.key_secret")
    public_key, no_secret = zmq.auth.load_certificate(public)
    same_public, secret_key = zmq.auth.load_certificate(secret)
    assert no_secret is None
    assert public_key == same_public
    assert len(public_key) == len(secret_key) == 40
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_the_secret_key_is_private_from_its_first_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Created 0600 by the open call itself, never wider and narrowed afterwards."""
    opened: dict[str, tuple[int, int]] = {}
    real_open = os.open

    def spy(path, flags, mode=0o777, *args, **kwargs):
        opened[Path(path).name] = (flags, mode)
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    monkeypatch.setattr(os, "chmod", lambda *_: pytest.fail("a mode narrowed after the fact"))
    previous = os.umask(0)
    try:
        public, secret = make_keypair(tmp_path, "cam1")
    finally:
        os.umask(previous)
    flags, mode = opened["cam1.key_secret"]
    assert mode == 0o600 and flags & os.O_CREAT and flags & os.O_EXCL
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o644


def test_make_keypair_never_overwrites_and_refuses_path_names(tmp_path: Path) -> None:
    make_keypair(tmp_path, "cam1")
    with pytest.raises(PublishError, match="already exists"):
        make_keypair(tmp_path, "cam1")
    for name in ("", "../cam", "sub/cam", ".hidden"):
        with pytest.raises(PublishError):
            make_keypair(tmp_path, name)


def test_only_an_allowed_client_key_receives(keys: dict[str, Path]) -> None:
    with (
        Publisher(
            ANY_PORT, curve_secret=keys["server_secret"], curve_clients=keys["clients"]
        ) as publisher,
        Subscriber(
            publisher.endpoint,
            curve_secret=keys["allowed_secret"],
            curve_server_key=keys["server_public"],
        ) as allowed,
        Subscriber(
            publisher.endpoint,
            curve_secret=keys["stranger_secret"],
            curve_server_key=keys["server_public"],
        ) as stranger,
        Subscriber(publisher.endpoint) as plaintext,
    ):
        assert publisher.wait_for_subscribers(1, timeout=WAIT_S)
        for n in range(20):
            publisher.send(*frame_bytes(n))
        message = allowed.receive(timeout=WAIT_S)
        assert message is not None and message.payload["frame"] == 0
        assert stranger.receive(timeout=1.0) is None
        assert plaintext.receive(timeout=0.2) is None
        assert publisher.subscriptions == 1


def test_bad_server_key_material_is_one_clear_line(keys: dict[str, Path], tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.key_secret"
    garbage.write_text('curve\n    public-key = "short"\n    secret-key = "short"\n')
    empty = tmp_path / "empty"
    empty.mkdir()
    bad_clients = tmp_path / "bad_clients"
    bad_clients.mkdir()
    (bad_clients / "x.key").write_text("not a certificate\n")
    cases = [
        (tmp_path / "missing.key_secret", keys["clients"], "not a readable"),
        (keys["server_public"], keys["clients"], "no secret key"),
        (garbage, keys["clients"], "malformed"),
        (keys["server_secret"], tmp_path / "nowhere", "does not exist"),
        (keys["server_secret"], empty, "holds no"),
        (keys["server_secret"], bad_clients, "not a readable"),
    ]
    for secret, clients, reason in cases:
        with pytest.raises(PublishError, match=reason) as caught:
            Publisher(ANY_PORT, curve_secret=secret, curve_clients=clients)
        assert "\n" not in str(caught.value)


def test_bad_client_key_material_is_one_clear_line(keys: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="not a readable"):
        Subscriber(
            "tcp://127.0.0.1:5556",
            curve_secret=keys["allowed_secret"],
            curve_server_key=tmp_path / "missing.key",
        )
    with pytest.raises(PublishError, match="both"):
        Subscriber("tcp://127.0.0.1:5556", curve_secret=keys["allowed_secret"])


def emostream(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stream", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_keys_command_writes_a_pair_and_refuses_to_overwrite_it(tmp_path: Path) -> None:
    done = emostream("keys", str(tmp_path / "keys"), "--name", "cam1")
    assert done.returncode == 0, done.stderr
    public, secret = tmp_path / "keys" / "cam1.key", tmp_path / "keys" / "cam1.key_secret"
    assert str(public) in done.stdout and str(secret) in done.stdout
    assert zmq.auth.load_certificate(secret)[1] is not None

    again = emostream("keys", str(tmp_path / "keys"), "--name", "cam1")
    assert again.returncode != 0
    assert again.stderr.strip().count("\n") == 0
    assert "already exists" in again.stderr
    assert "Traceback" not in again.stderr
