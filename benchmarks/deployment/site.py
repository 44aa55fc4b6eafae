"""Benchmark: a site of N cameras from one file, and whether ``record`` keeps up with all of them.

Every part is the real command: ``emostream run --config`` with N cameras on the sample video,
looping at full speed (not paced), one process per camera under the supervisor, and ``emostream
record`` into SQLite subscribed to the site's one endpoint. Each camera waits for its first
subscriber (``wait_subscribers = 1``), which is ``record``, so nothing is published before the
store listens.

- Aggregate FPS: each camera's frames over the measured window, from its heartbeats, summed.
- Keeping up: at the end the site stops first (each camera logs the frames and faces it
  published; the broker forwards until idle), then ``record`` writes its last batch. Face rows
  in the store against faces published, and the frames ``record`` missed (gaps in ``frame``).

The one-camera site is the reference the four-camera one is read against; it is measured for
``REFERENCE_S`` seconds, the four-camera site for ``--seconds`` (ten minutes by default).

``python -m benchmarks.deployment.site [--seconds 600] [--cameras 1 4]``
"""

from __future__ import annotations

import argparse
import logging
import re
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from benchmarks.common.context import BenchContext
from benchmarks.common.report import Section, Table
from stream.publish.subscriber import Subscriber
from tests.test_rtsp import _free_port

log = logging.getLogger(__name__)

NAME = "site"
TITLE = "A site of cameras from one file, and record keeping up with it"
VIDEO = "videos/WolfgangLanger_Pexels.mp4"
WARMUP_S = 15.0
REFERENCE_S = 60.0
TOTALS = re.compile(r"camera=(\S+) .*: (\d+) frames, (\d+) faces, (\d+) published, (\d+) dropped")


@dataclass(frozen=True)
class SiteRun:
    cameras: int
    seconds: float
    fps: dict[str, float]
    published_frames: int
    published_faces: int
    dropped_socket: int
    stored_faces: int
    stored_minute_faces: int
    missed: int
    record_cpu_percent: float
    restarts: int

    @property
    def aggregate_fps(self) -> float:
        return sum(self.fps.values())


def _site_file(folder: Path, video: Path, cameras: int, endpoint: str) -> Path:
    lines = [
        "[site]",
        f'publish = "{endpoint}"',
        'log_level = "info"',
        "[defaults]",
        f'source = "{video}"',
        "loop = true",
        "threads = 1",
        "wait_subscribers = 1",
    ]
    lines += [f"[cameras.cam{i + 1}]" for i in range(cameras)]
    path = folder / f"site-{cameras}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _heartbeats(subscriber: Subscriber, seconds: float) -> dict[str, dict]:
    """The latest heartbeat per camera after listening for ``seconds``."""
    latest: dict[str, dict] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = subscriber.receive(timeout=0.5)
        if message is not None and message.is_stats:
            latest[message.payload["camera"]] = message.payload
    return latest


def measure(video: Path, cameras: int, seconds: float) -> SiteRun:
    with tempfile.TemporaryDirectory(prefix="emostream-site-") as scratch:
        folder = Path(scratch)
        endpoint, db = f"tcp://127.0.0.1:{_free_port()}", folder / "history.db"
        record = subprocess.Popen(
            [sys.executable, "-m", "stream", "-v", "record", "--connect", endpoint,
             "--db", str(db)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        site = subprocess.Popen(
            [sys.executable, "-m", "stream", "run", "--config",
             str(_site_file(folder, video, cameras, endpoint))],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            topics = [f"emostream/cam{i + 1}/stats" for i in range(cameras)]
            with Subscriber(endpoint, topics) as subscriber:
                first = _heartbeats(subscriber, WARMUP_S)
                recorder = psutil.Process(record.pid)
                cpu_before, start = recorder.cpu_times(), time.monotonic()
                last = _heartbeats(subscriber, seconds)
                cpu_after, wall = recorder.cpu_times(), time.monotonic() - start
            fps = {
                camera: (beat["frames"] - first[camera]["frames"])
                / (beat["uptime_s"] - first[camera]["uptime_s"])
                for camera, beat in last.items()
                if camera in first and beat["uptime_s"] > first[camera]["uptime_s"]
            }
            restarts = sum(beat.get("restarts", 0) for beat in last.values())
        finally:
            site.terminate()
            _, site_err = site.communicate(timeout=60)
            record.terminate()
            _, record_err = record.communicate(timeout=60)
        totals = [tuple(map(int, m.groups()[1:])) for m in TOTALS.finditer(site_err)]
        if len(totals) != cameras:
            raise RuntimeError(f"{len(totals)} of {cameras} cameras reported:\n{site_err[-2000:]}")
        with sqlite3.connect(db) as conn:
            stored = conn.execute("SELECT count(*) FROM faces").fetchone()[0]
            minute_faces, drops = conn.execute(
                "SELECT sum(faces), sum(drops) FROM minutes"
            ).fetchone()
        used = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
        log.info("record: %s", record_err.strip().splitlines()[-1:] if record_err else "")
        return SiteRun(
            cameras=cameras,
            seconds=wall,
            fps=fps,
            published_frames=sum(t[2] for t in totals),
            published_faces=sum(t[1] for t in totals),
            dropped_socket=sum(t[3] for t in totals),
            stored_faces=stored,
            stored_minute_faces=minute_faces or 0,
            missed=drops or 0,
            record_cpu_percent=100 * used / wall,
            restarts=restarts,
        )


def section(runs: list[SiteRun], command: str) -> Section:
    table = Table(
        "Sample video looping at full speed in every camera, 1 model thread each; "
        "`record` into SQLite on the same 2 cores",
        ["cameras", "aggregate FPS", "per camera", "faces published", "face rows stored",
         "frames record missed", "record CPU", "restarts"],
    )  # fmt: skip
    for r in runs:
        table.add(
            str(r.cameras),
            f"{r.aggregate_fps:.1f}",
            " / ".join(f"{v:.0f}" for v in r.fps.values()),
            str(r.published_faces),
            str(r.stored_faces),
            str(r.missed),
            f"{r.record_cpu_percent:.1f} % of a core",
            str(r.restarts),
        )
    notes = [
        "Measured windows: "
        + ", ".join(f"{r.seconds:.0f} s ({r.cameras} camera(s))" for r in runs)
        + f", each after {WARMUP_S:.0f} s of warm-up. "
        "FPS from each camera's heartbeats over the window. Faces published: the totals each "
        "camera logs when the site stops (frames published, faces in them; none dropped at "
        "a socket: "
        f"{sum(r.dropped_socket for r in runs)}). Face rows stored: `SELECT count(*) FROM faces` "
        "after `record` wrote its last batch; the minute rows sum to the same count "
        f"({', '.join(str(r.stored_minute_faces) for r in runs)}).",
    ]
    return Section(NAME, TITLE, command, tables=[table], notes=notes)


def run(ctx: BenchContext) -> Section:
    video = ctx.shared_path(VIDEO)
    command = ctx.command(NAME)
    if video is None:
        return Section(NAME, TITLE, command, notes=[f"Skipped: ../shared/{VIDEO} is missing."])
    seconds = 30.0 if ctx.quick else 600.0
    reference = min(seconds, REFERENCE_S)
    return section([measure(video, 1, reference), measure(video, 4, seconds)], command)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.deployment.site", description=TITLE)
    parser.add_argument("--seconds", type=float, default=600.0, help="measured window per site")
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 4], help="site sizes")
    parser.add_argument("--video", type=Path, default=Path(__file__).parents[3] / "shared" / VIDEO)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    command = shlex.join(["python", "-m", "benchmarks.deployment.site", *(argv or sys.argv[1:])])
    runs = [
        measure(args.video, n, min(args.seconds, REFERENCE_S) if n == 1 else args.seconds)
        for n in args.cameras
    ]
    print(section(runs, command).markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
