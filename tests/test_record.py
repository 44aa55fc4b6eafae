"""``emostream record`` into SQLite: every face stored, minutes, kill -9 and a locked file."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from stream.publish.subscriber import Message
from stream.store.database import Store, StoreError
from stream.store.history import History
from stream.store.recorder import Recorder
from stream.store.schema import MIGRATIONS, SCHEMA_VERSION
from tests.test_mqtt import Camera
from tests.test_rtsp import _free_port

WAIT_S = 30.0


def count(db: Path, table: str = "faces") -> int:
    """Rows in ``table``; 0 while ``record`` has created the file but not yet its tables."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        try:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return 0
            raise


def wait_for(check, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def frame_message(camera: str, frame: int, label: str = "happy", at: float = 1000.0) -> Message:
    face = {"id": 1, "label": label, "confidence": 0.8, "probs": {label: 0.8}, "quality": 0.5}
    payload = {"camera": camera, "frame": frame, "captured_at": at, "faces": [face]}
    return Message(f"emostream/{camera}", payload)


@pytest.mark.slow
def test_every_face_is_stored_and_kill_9_loses_at_most_the_last_batch(tmp_path: Path) -> None:
    camera, db = Camera("door"), tmp_path / "history.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "stream", "record", "--connect", camera.endpoint, "--db", str(db),
         "--batch-s", "0.2"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(db.exists, "the database")
        camera.send("happy")  # the slow joiner: resend the first frame until it is stored
        wait_for(lambda: (camera.send("happy"), count(db) > 0)[1], "the first stored face")
        time.sleep(1.0)  # the frames still in flight from that loop are stored too
        first = count(db)
        for i in range(150):
            camera.send("sad" if i % 3 else "happy")
            time.sleep(0.01)
        sent = first + 150
        wait_for(lambda: count(db) >= sent, "every face of the acknowledged batches")
        assert count(db) == sent
        for _ in range(20):
            camera.send("neutral")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
        camera.close()
    stored = count(db)
    assert sent <= stored <= sent + 20
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            str(SCHEMA_VERSION),
        )
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(faces)")}
        assert "faces_camera_time" in indexes
        frames, faces = conn.execute("SELECT sum(frames), sum(faces) FROM minutes").fetchone()
        assert faces == stored and frames == stored
        row = conn.execute("SELECT camera, track, label, probs FROM faces LIMIT 1").fetchone()
        assert row[0] == "door" and row[1] == 1 and row[2] in ("happy", "sad", "neutral")


def test_minutes_merge_across_batches_and_gaps_count_as_drops(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "h.db"))
    recorder = Recorder(store, batch_s=0.0)
    for frame, label in ((0, "happy"), (1, "happy"), (5, "sad")):
        recorder.take(frame_message("lobby", frame, label, at=120.5 + frame))
        assert recorder.flush()
    recorder.take(frame_message("lobby", 6, "sad", at=200.0))  # the next minute
    assert recorder.flush()
    rows = store.query("SELECT minute, frames, faces, shares, mean_confidence, drops FROM minutes")
    store.close()
    assert [r[:3] for r in sorted(rows)] == [(120, 3, 3), (180, 1, 1)]
    first = sorted(rows)[0]
    assert first[3] == '{"happy": 0.666667, "sad": 0.333333}' and first[4] == 0.8 and first[5] == 3


def test_a_locked_store_buffers_then_catches_up_and_memory_stays_bounded(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    store = Store(str(path))
    recorder = Recorder(store, batch_s=0.0, max_buffered=5)
    locker = sqlite3.connect(path, timeout=0, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    for frame in range(8):
        recorder.take(frame_message("lobby", frame))
    assert not recorder.flush() and recorder.counts.failed_flushes == 1
    assert recorder.counts.dropped == 3  # 8 faces, room for 5
    locker.execute("ROLLBACK")
    locker.close()
    assert recorder.flush()
    assert store.query("SELECT count(*) FROM faces") == [(5,)]
    store.close()


def test_old_rows_are_pruned_and_a_foreign_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    store = Store(str(path))
    now = time.time()
    recorder = Recorder(store, batch_s=0.0, keep_days=1)
    recorder.take(frame_message("lobby", 0, at=now - 3 * 86400))
    recorder.take(frame_message("lobby", 1, at=now))
    assert recorder.flush()
    assert store.query("SELECT count(*) FROM faces") == [(1,)]
    assert store.query("SELECT count(*) FROM minutes") == [(1,)]
    store.query("UPDATE meta SET value = '9' WHERE key = 'schema_version'")
    store.close()
    with pytest.raises(StoreError, match="schema version 9"):
        Store(str(path))
    with pytest.raises(StoreError, match="cannot open"):
        Store(str(tmp_path / "no" / "such" / "h.db"))


POSTGRES_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
psycopg = None  # imported by the postgres fixture, where it is installed


class Postgres:
    """A throwaway PostgreSQL server on a free loopback port, trusting local connections.

    PostgreSQL refuses to run as root, so as root (CI) it runs as the ``postgres`` user, in a
    folder that user owns.
    """

    def __init__(self) -> None:
        import psycopg

        self.bin = POSTGRES_BIN[-1]
        self.port = _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="emostream-pg-"))
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        data = self.folder / "data"
        subprocess.run(
            [*self.prefix, str(self.bin / "initdb"), "-D", str(data), "-U", "emostream",
             "--auth=trust", "-E", "UTF8"],
            check=True, capture_output=True,
        )  # fmt: skip
        self.process = subprocess.Popen(
            [*self.prefix, str(self.bin / "postgres"), "-D", str(data), "-p", str(self.port),
             "-k", str(self.folder), "-c", "listen_addresses=127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        self.url = f"postgresql://emostream@127.0.0.1:{self.port}/postgres"
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                assert self.process.poll() is None, self.process.stderr.read()
                assert time.monotonic() < deadline, "PostgreSQL did not start"
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=WAIT_S)
        shutil.rmtree(self.folder, ignore_errors=True)


VERSION_1 = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "INSERT INTO meta VALUES ('schema_version', '1')",
    "CREATE TABLE faces (camera TEXT NOT NULL, time DOUBLE PRECISION NOT NULL,"
    " frame BIGINT NOT NULL, track BIGINT NOT NULL, label TEXT NOT NULL,"
    " confidence DOUBLE PRECISION NOT NULL, probs TEXT NOT NULL, quality DOUBLE PRECISION)",
    "CREATE INDEX faces_camera_time ON faces (camera, time)",
    "CREATE TABLE minutes (camera TEXT NOT NULL, minute BIGINT NOT NULL, frames BIGINT NOT NULL,"
    " faces BIGINT NOT NULL, shares TEXT NOT NULL, mean_confidence DOUBLE PRECISION,"
    " drops BIGINT NOT NULL, PRIMARY KEY (camera, minute))",
    "INSERT INTO faces VALUES ('lobby', 1000.0, 0, 1, 'sad', 0.7, '{\"sad\": 0.7}', 0.5)",
)
"""A store as emostream wrote it before the face mesh (schema version 1), with one face."""
VERSION_2 = (
    *VERSION_1,
    *MIGRATIONS[1],
    "UPDATE meta SET value = '2' WHERE key = 'schema_version'",
)
"""The same store as version 2 left it: the face mesh's columns, no gaze."""

MESH_FACE = {"pose": {"yaw": 41.5, "pitch": -3.0, "roll": 2.0}, "eyes_open": [0.9, 0.1],
             "mouth_open": 0.4, "frontal": False, "gaze": {"yaw": 30.0, "pitch": 5.5}}  # fmt: skip


def mesh_message(camera: str, frame: int, at: float) -> Message:
    message = frame_message(camera, frame, at=at)
    message.payload["faces"][0].update(MESH_FACE)
    return message


def check_migrated(store: Store, now: float) -> None:
    """An old store opened by this emostream: migrated, its old row kept, new rows whole."""
    assert store.query("SELECT value FROM meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)
    ]
    recorder = Recorder(store, batch_s=0.0, keep_days=None)
    recorder.take(mesh_message("lobby", 1, now))
    recorder.take(frame_message("lobby", 2, at=now + 1))  # a publisher without the mesh
    assert recorder.flush()
    rows = store.query(
        "SELECT label, yaw, pitch, roll, eye_right, eye_left, mouth, frontal, gaze_yaw, "
        "gaze_pitch FROM faces ORDER BY time"
    )
    assert rows == [
        ("sad", *(None,) * 9),
        ("happy", 41.5, -3.0, 2.0, 0.9, 0.1, 0.4, 0, 30.0, 5.5),
        ("happy", *(None,) * 9),
    ]


@pytest.mark.parametrize("old", [VERSION_1, VERSION_2], ids=["version 1", "version 2"])
def test_an_old_store_still_opens_and_is_migrated(tmp_path: Path, old: tuple[str, ...]) -> None:
    path = tmp_path / "old.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        for statement in old:
            conn.execute(statement)
        conn.commit()
    history = History(str(path))  # the dashboard reads an old store as it is, read-only
    assert history.window("day", now=1000.0 + 60)["cameras"]["lobby"]["tracks"] == 1
    store = Store(str(path))
    try:
        check_migrated(store, time.time())
    finally:
        store.close()
    store = Store(str(path))  # a second open finds the current version: nothing to do
    store.close()


@pytest.fixture
def postgres():
    if not POSTGRES_BIN:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    global psycopg
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (the [store] extra)")
    server = Postgres()
    yield server
    server.stop()


@pytest.mark.slow
def test_record_into_postgresql_creates_the_schema_and_stores_every_face(postgres) -> None:
    camera = Camera("hall")
    process = subprocess.Popen(
        [sys.executable, "-m", "stream", "record", "--connect", camera.endpoint, "--db",
         postgres.url, "--batch-s", "0.2"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    store = None
    try:

        def stored() -> int:
            with psycopg.connect(postgres.url) as conn:
                exists = conn.execute("SELECT to_regclass('faces')").fetchone()[0]
                return conn.execute("SELECT count(*) FROM faces").fetchone()[0] if exists else 0

        wait_for(lambda: (camera.send("happy"), stored() > 0)[1], "the first stored face")
        time.sleep(1.0)
        first = stored()
        for i in range(50):
            camera.send("sad" if i % 2 else "surprise")
            time.sleep(0.01)
        wait_for(lambda: stored() >= first + 50, "every face")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=WAIT_S) == 130, process.stderr.read()
        store = Store(postgres.url)
        assert store.query("SELECT count(*) FROM faces") == [(first + 50,)]
        assert store.query("SELECT sum(faces) FROM minutes") == [(first + 50,)]
        assert store.query("SELECT value FROM meta WHERE key = 'schema_version'") == [
            (str(SCHEMA_VERSION),)
        ]
        assert store.query("SELECT indexname FROM pg_indexes WHERE tablename = 'faces'") == [
            ("faces_camera_time",)
        ]
        with_password = Store(postgres.url.replace("emostream@", "emostream:pw@"))
        assert with_password.redacted.startswith("postgresql://***@127.0.0.1:")
        with_password.close()
    finally:
        if process.poll() is None:
            process.kill()
        if store is not None:
            store.close()
        camera.close()


class BrokerPublisher:
    """Frame messages into a broker's frontend, as ``run --connect`` publishes them.

    While the broker is down ZeroMQ queues up to ``sndhwm`` messages for it and drops the rest,
    as ``run`` does with its ``--sndhwm``: those are the frames a subscriber can never get.
    """

    def __init__(self, frontend: str, name: str = "yard") -> None:
        import zmq

        from tests.test_mqtt import Camera

        self.camera = Camera.__new__(Camera)
        self.camera.name, self.camera.frame = name, 0
        self.camera.context = zmq.Context()
        self.camera.socket = self.camera.context.socket(zmq.PUB)
        self.camera.socket.setsockopt(zmq.LINGER, 0)
        self.camera.socket.setsockopt(zmq.SNDHWM, 10)
        self.camera.socket.connect(frontend)

    def send(self, label: str = "happy") -> None:
        self.camera.send(label)

    def close(self) -> None:
        self.camera.close()


def broker(frontend: str, backend: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "stream", "broker", "--frontend", frontend, "--backend", backend],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(0.5)
    return process


@pytest.mark.slow
def test_record_reconnects_after_a_broker_restart_and_counts_the_gap(tmp_path: Path) -> None:
    frontend, backend = (f"tcp://127.0.0.1:{_free_port()}" for _ in range(2))
    db, port = tmp_path / "history.db", _free_port()
    hub = broker(frontend, backend)
    publisher = BrokerPublisher(frontend)
    record = subprocess.Popen(
        [sys.executable, "-m", "stream", "record", "--connect", backend, "--db", str(db),
         "--batch-s", "0.2", "--metrics", f"127.0.0.1:{port}"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(db.exists, "the database")
        wait_for(lambda: (publisher.send(), count(db) > 0)[1], "the first stored face")
        before = count(db)
        hub.send_signal(signal.SIGTERM)
        hub.wait(timeout=WAIT_S)
        for _ in range(100):  # sent while the broker is down: all but a queue's worth are lost
            publisher.send()
            time.sleep(0.005)
        hub = broker(frontend, backend)
        wait_for(lambda: (publisher.send(), time.sleep(0.01), count(db) > before + 20)[2], "more")
        from tests.test_mqtt import scrape

        missed = scrape(port)["emostream_record_missed_total"]
    finally:
        record.send_signal(signal.SIGTERM)
        _, err = record.communicate(timeout=WAIT_S)
        hub.send_signal(signal.SIGTERM)
        hub.communicate(timeout=WAIT_S)
        publisher.close()
    assert missed >= 50
    with sqlite3.connect(db) as conn:
        drops = conn.execute("SELECT sum(drops) FROM minutes").fetchone()[0]
        faces, stored = conn.execute(
            "SELECT sum(faces), (SELECT count(*) FROM faces) FROM minutes"
        ).fetchone()
    assert drops == missed and faces == stored
    assert "Traceback" not in err


def _mount_tmpfs(where: Path, size: str) -> None:
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("a full disk is a small tmpfs, which needs root to mount")
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_recording_goes_on(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "1m")
    camera, db, port = Camera("attic"), disk / "history.db", _free_port()
    record = subprocess.Popen(
        [sys.executable, "-m", "stream", "record", "--connect", camera.endpoint, "--db", str(db),
         "--batch-s", "0.1", "--metrics", f"127.0.0.1:{port}"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        from tests.test_mqtt import scrape

        wait_for(db.exists, "the database")
        wait_for(lambda: (camera.send("happy"), count(db) > 0)[1], "the first stored face")
        filler, before = disk / "filler", scrape(port)
        with contextlib.suppress(OSError), filler.open("wb", buffering=0) as out:  # fill it
            while True:
                out.write(b"\0" * 4096)
                out.flush()
        wait_for(
            lambda: (camera.send("sad"), time.sleep(0.005),
                     scrape(port)["emostream_record_failed_flushes_total"] >= 3)[2],
            "writes refused by the full disk",
        )  # fmt: skip
        full = scrape(port)
        assert record.poll() is None
        filler.unlink()
        wait_for(
            lambda: (camera.send("happy"), time.sleep(0.005),
                     scrape(port)["emostream_record_buffered"] == 0)[2],
            "the buffer written once there is room",
        )  # fmt: skip
        after = scrape(port)
    finally:
        record.send_signal(signal.SIGTERM)
        _, err = record.communicate(timeout=WAIT_S)
        camera.close()
        subprocess.run(["umount", "-l", str(disk)], check=False)
    assert full["emostream_record_frames_total"] > before["emostream_record_frames_total"]
    assert full["emostream_record_buffered"] > 0  # received and counted while the disk was full
    written = full["emostream_record_faces_written_total"] + full["emostream_record_buffered"]
    assert after["emostream_record_faces_written_total"] >= written
    assert after["emostream_record_dropped_total"] == 0
    refused = [line for line in err.splitlines() if "cannot write" in line]
    assert len(refused) == 1 and "full" in refused[0], err
    assert "writing to" in err and "again" in err and "Traceback" not in err


def test_a_version_1_postgresql_store_is_migrated(postgres) -> None:
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        for statement in VERSION_1:
            conn.execute(statement)
    store = Store(postgres.url)
    try:
        check_migrated(store, time.time())
    finally:
        store.close()
