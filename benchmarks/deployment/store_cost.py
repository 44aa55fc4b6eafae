"""Benchmark: what one message costs ``record`` in SQLite and in PostgreSQL, side by side.

The same synthetic stream (frame messages of one camera with one or two faces, 7 probabilities
each, as the sample video gives) goes through the real :class:`~stream.store.recorder.Recorder`
into each store, one batch per ``BATCH`` messages as a second of a busy site would give. Per
message: ``record``'s own CPU (decode excluded: the messages are already parsed), the database
server's CPU (PostgreSQL's processes; SQLite has none, it runs inside ``record``), wall time,
and bytes on disk per face row.

PostgreSQL is a throwaway server started for the run (Debian's ``postgresql``, as the tests do);
without it that row says why it is missing.

``python -m benchmarks.deployment.store_cost [--messages 20000]``
"""

from __future__ import annotations

import argparse
import logging
import random
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from benchmarks.common.context import BenchContext
from benchmarks.common.report import Section, Table
from stream.publish.subscriber import Message
from stream.store.database import Store
from stream.store.recorder import Recorder

log = logging.getLogger(__name__)

NAME = "store"
TITLE = "History store: cost per message, SQLite and PostgreSQL"
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
BATCH = 400


@dataclass(frozen=True)
class Cost:
    store: str
    messages: int
    faces: int
    client_us: float
    server_us: float | None
    wall_us: float
    bytes_per_face: float


def messages(n: int, seed: int = 3) -> list[Message]:
    rng = random.Random(seed)
    out, start = [], time.time() - n / 100
    for frame in range(n):
        faces = []
        for track in range(1 if rng.random() < 0.8 else 2):
            weights = [rng.random() for _ in LABELS]
            total = sum(weights)
            probs = {label: round(w / total, 4) for label, w in zip(LABELS, weights, strict=True)}
            label = max(probs, key=probs.__getitem__)
            faces.append({"id": track + 1, "label": label, "confidence": probs[label],
                          "probs": probs, "quality": round(rng.random(), 4)})  # fmt: skip
        payload = {"camera": "cam1", "frame": frame, "captured_at": start + frame / 100,
                   "faces": faces}  # fmt: skip
        out.append(Message("emostream/cam1", payload))
    return out


def _server_cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    parent = psutil.Process(pid)
    total = 0.0
    for process in [parent, *parent.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def measure(target: str, stream: list[Message], server_pid: int | None, size) -> Cost:
    store = Store(target)
    recorder = Recorder(store, batch_s=3600.0)
    for message in stream[:BATCH]:  # warm-up: tables, statements, caches
        recorder.take(message)
    recorder.flush()
    timed = stream[BATCH:]
    faces = sum(len(m.payload["faces"]) for m in timed)
    server_before = _server_cpu(server_pid)
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    for i, message in enumerate(timed, 1):
        recorder.take(message)
        if i % BATCH == 0:
            recorder.flush()
    recorder.flush()
    client = time.process_time() - cpu_before
    wall = time.perf_counter() - wall_before
    server = _server_cpu(server_pid) - server_before
    bytes_per_face = size(store) / (faces + sum(len(m.payload["faces"]) for m in stream[:BATCH]))
    store.close()
    n = len(timed)
    kind = "PostgreSQL" if server_pid is not None else "SQLite (WAL)"
    return Cost(
        kind,
        n,
        faces,
        1e6 * client / n,
        1e6 * server / n if server_pid is not None else None,
        1e6 * wall / n,
        bytes_per_face,
    )


def _sqlite_size(path: Path):
    def size(store: Store) -> int:
        store.query("PRAGMA wal_checkpoint(TRUNCATE)")
        return path.stat().st_size

    return size


def _postgres_size(store: Store) -> int:
    sql = "SELECT pg_total_relation_size('faces') + pg_total_relation_size('minutes')"
    return store.query(sql)[0][0]


def measure_all(n: int) -> tuple[list[Cost], str | None]:
    stream = messages(n)
    with tempfile.TemporaryDirectory(prefix="emostream-store-") as scratch:
        path = Path(scratch) / "history.db"
        costs = [measure(str(path), stream, None, _sqlite_size(path))]
    try:
        import psycopg  # noqa: F401

        from tests.test_record import POSTGRES_BIN, Postgres
    except ImportError as exc:
        return costs, f"PostgreSQL row skipped: {exc}"
    if not POSTGRES_BIN:
        return costs, "PostgreSQL row skipped: Debian's postgresql is not installed"
    server = Postgres()
    try:
        costs.append(measure(server.url, stream, server.process.pid, _postgres_size))
    finally:
        server.stop()
    return costs, None


def section(costs: list[Cost], skipped: str | None, command: str) -> Section:
    table = Table(
        f"{costs[0].messages} frame messages, {costs[0].faces} faces, one batch per {BATCH} "
        "messages, through the real Recorder",
        ["store", "record CPU µs/message", "server CPU µs/message", "wall µs/message",
         "bytes on disk per face row"],
    )  # fmt: skip
    for c in costs:
        table.add(
            c.store,
            f"{c.client_us:.1f}",
            f"{c.server_us:.1f}" if c.server_us is not None else "– (in process)",
            f"{c.wall_us:.1f}",
            f"{c.bytes_per_face:.0f}",
        )
    notes = [
        "Record CPU is this process's CPU time (building rows, the driver, SQLite itself); "
        "server CPU is PostgreSQL's processes' user + system time over the same window. "
        "PostgreSQL runs on this machine over loopback TCP with default settings "
        "(synchronous commit on); SQLite in WAL mode with synchronous=NORMAL, as `record` "
        "opens it. Sizes include indexes.",
    ]
    if skipped:
        notes.append(skipped)
    return Section(NAME, TITLE, command, tables=[table], notes=notes)


def run(ctx: BenchContext) -> Section:
    costs, skipped = measure_all(4000 if ctx.quick else 40000)
    return section(costs, skipped, ctx.command(NAME))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.deployment.store_cost", description=TITLE
    )
    parser.add_argument("--messages", type=int, default=40000, help="messages per store")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    command = shlex.join(
        ["python", "-m", "benchmarks.deployment.store_cost", *(argv or sys.argv[1:])]
    )
    costs, skipped = measure_all(args.messages)
    print(section(costs, skipped, command).markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
