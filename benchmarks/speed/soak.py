"""Soak run: ``emostream run`` on a looping clip at full speed for minutes, watched from outside.

The pipeline runs as the real command in a child process, publishing on loopback; one subscriber
reads every message it sends, and the child's resident memory is sampled once a second. A leak
shows as memory that keeps growing after the warm-up (the first seconds allocate model plans and
buffers on purpose); a stall shows as a gap in the frame messages; a broken heartbeat as a gap in
the stats messages or a frame counter that stops rising.

``python -m benchmarks.speed.soak --seconds 600`` prints the figures as Markdown and exits 1 when a
check fails; ``tests/test_reliability.py`` runs the same :func:`soak` for a minute.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from benchmarks.common.clips import clip_path, write_clip
from benchmarks.common.context import build_tiny_models
from stream.family import resolve_model_dir
from stream.publish.subscriber import Subscriber

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
CAMERA = "soak"
MB = 1024 * 1024
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
SAMPLE_EVERY_S = 1.0
RECEIVE_SLICE_S = 0.2


@dataclass(frozen=True)
class Limits:
    """What the soak must hold; generous on purpose, for a loaded two-core machine."""

    warmup_s: float = 15.0
    rss_growth_mb: float = 30.0
    frame_gap_s: float = 5.0
    heartbeat_gap_s: float = 5.0


@dataclass
class SoakResult:
    """Everything observed from outside the process; times are seconds since the first message."""

    seconds: float
    limits: Limits
    rss: list[tuple[float, int]] = field(default_factory=list)
    frame_times: list[float] = field(default_factory=list)
    frame_numbers: list[int] = field(default_factory=list)
    stats_times: list[float] = field(default_factory=list)
    stats: list[dict] = field(default_factory=list)
    cpu_s: float = 0.0
    exit_code: int | None = None
    stderr_tail: str = ""

    @property
    def rss_start_mb(self) -> float:
        return self.rss[0][1] / MB

    @property
    def rss_after_warmup_mb(self) -> float:
        return next((rss for t, rss in self.rss if t >= self.limits.warmup_s), self.rss[-1][1]) / MB

    @property
    def rss_end_mb(self) -> float:
        return self.rss[-1][1] / MB

    @property
    def rss_max_mb(self) -> float:
        return max(rss for _, rss in self.rss) / MB

    def rss_at_mb(self, fraction: float) -> float:
        """Memory when ``fraction`` of the run had passed: a leak rises steadily, warm-up levels."""
        at = fraction * self.seconds
        return next((rss for t, rss in self.rss if t >= at), self.rss[-1][1]) / MB

    @property
    def rss_growth_mb(self) -> float:
        return self.rss_end_mb - self.rss_after_warmup_mb

    @property
    def rss_slope_mb_per_min(self) -> float:
        """Least-squares slope of memory after the warm-up, in MB a minute."""
        points = [(t, rss / MB) for t, rss in self.rss if t >= self.limits.warmup_s]
        if len(points) < 2:
            return 0.0
        mean_t = sum(t for t, _ in points) / len(points)
        mean_m = sum(m for _, m in points) / len(points)
        spread = sum((t - mean_t) ** 2 for t, _ in points)
        if spread == 0:
            return 0.0
        return 60.0 * sum((t - mean_t) * (m - mean_m) for t, m in points) / spread

    @staticmethod
    def _max_gap(times: list[float]) -> float:
        return max((b - a for a, b in itertools.pairwise(times)), default=float("inf"))

    @property
    def max_frame_gap_s(self) -> float:
        return self._max_gap(self.frame_times)

    @property
    def max_heartbeat_gap_s(self) -> float:
        return self._max_gap(self.stats_times)

    @property
    def frames_processed(self) -> int:
        return self.stats[-1]["frames"] if self.stats else 0

    @property
    def frames_received(self) -> int:
        return len(self.frame_times)

    @property
    def frames_missed(self) -> int:
        """Frame numbers the subscriber never saw between the first and the last it saw."""
        if not self.frame_numbers:
            return 0
        span = self.frame_numbers[-1] - self.frame_numbers[0] + 1
        return span - len(set(self.frame_numbers))

    @property
    def frame_counter_rises(self) -> bool:
        counts = [s["frames"] for s in self.stats]
        steady = all(a <= b for a, b in itertools.pairwise(counts))
        return steady and len(counts) >= 2 and counts[-1] > counts[0]

    @property
    def fps(self) -> float:
        """Frames per second over the whole run, from the pipeline's own counter."""
        if len(self.stats) < 2:
            return 0.0
        first, last = self.stats[0], self.stats[-1]
        elapsed = last["uptime_s"] - first["uptime_s"]
        return (last["frames"] - first["frames"]) / elapsed if elapsed > 0 else 0.0

    def failures(self) -> list[str]:
        """Each check that did not hold, as a sentence; empty when the soak passed."""
        limits = self.limits
        problems = []
        if self.rss_growth_mb > limits.rss_growth_mb:
            problems.append(
                f"memory grew {self.rss_growth_mb:.1f} MB after the {limits.warmup_s:g} s "
                f"warm-up (limit {limits.rss_growth_mb:g} MB)"
            )
        if self.max_frame_gap_s > limits.frame_gap_s:
            problems.append(
                f"no frame message for {self.max_frame_gap_s:.1f} s "
                f"(limit {limits.frame_gap_s:g} s)"
            )
        if self.max_heartbeat_gap_s > limits.heartbeat_gap_s:
            problems.append(
                f"no stats heartbeat for {self.max_heartbeat_gap_s:.1f} s "
                f"(limit {limits.heartbeat_gap_s:g} s)"
            )
        if len(self.stats) < self.seconds / limits.heartbeat_gap_s:
            problems.append(f"only {len(self.stats)} heartbeats in {self.seconds:g} s")
        if not self.frame_counter_rises:
            problems.append("the heartbeat's frame counter did not keep rising")
        if self.exit_code != 0:
            problems.append(f"exit status {self.exit_code} after SIGTERM: {self.stderr_tail}")
        return problems


def free_endpoint() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


def _stop(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)
        return -9


def soak(
    clip: Path, models: Path, seconds: float, limits: Limits | None = None, threads: int = 2
) -> SoakResult:
    """Run ``emostream run --loop`` on ``clip`` for ``seconds`` after its first message."""
    result = SoakResult(seconds, limits or Limits())
    endpoint = free_endpoint()
    command = [
        sys.executable, "-m", "stream", "run", "--source", str(clip), "--loop",
        "--publish", endpoint, "--camera-id", CAMERA, "--threads", str(threads),
        "--wait-subscribers", "1", "--wait-timeout", str(START_TIMEOUT_S),
    ]  # fmt: skip
    topics = [f"emostream/{CAMERA}"]
    with tempfile.TemporaryFile("w+") as stderr, Subscriber(endpoint, topics) as sub:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
            env={**os.environ, "EMOSTREAM_MODELS": str(models)},
        )
        problem = None
        try:
            _watch(process, sub, result)
        except RuntimeError as exc:
            problem = str(exc)
        finally:
            try:
                result.cpu_s = sum(psutil.Process(process.pid).cpu_times()[:2])
            except psutil.Error:
                result.cpu_s = float("nan")
            result.exit_code = _stop(process)
            stderr.seek(0)
            result.stderr_tail = " | ".join(stderr.read().strip().splitlines()[-3:])
    if problem is not None:
        raise RuntimeError(f"{problem}: {result.stderr_tail}")
    return result


def _watch(process: subprocess.Popen, sub: Subscriber, result: SoakResult) -> None:
    watched = psutil.Process(process.pid)
    deadline = time.monotonic() + START_TIMEOUT_S
    message = None
    while message is None:
        if process.poll() is not None:
            raise RuntimeError(f"the pipeline exited with status {process.returncode} at start")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no message from the pipeline within {START_TIMEOUT_S:g} s")
        message = sub.receive(timeout=RECEIVE_SLICE_S)
    start = time.monotonic()
    next_sample = start
    while True:
        now = time.monotonic()
        if message is not None:
            elapsed = now - start
            if message.is_stats:
                result.stats_times.append(elapsed)
                result.stats.append(message.payload)
            else:
                result.frame_times.append(elapsed)
                result.frame_numbers.append(message.payload["frame"])
        if now >= next_sample:
            result.rss.append((now - start, watched.memory_info().rss))
            next_sample += SAMPLE_EVERY_S
        if now - start >= result.seconds:
            return
        if process.poll() is not None:
            raise RuntimeError(f"the pipeline exited early with status {process.returncode}")
        message = sub.receive(timeout=RECEIVE_SLICE_S)


def report(result: SoakResult, command: str) -> str:
    """The figures as Markdown, for benchmarks/RESULTS.md."""
    last = result.stats[-1] if result.stats else {}
    rows = [
        ("duration", f"{result.seconds:g} s after the first message"),
        ("frames processed (pipeline counter)", f"{result.frames_processed}"),
        ("mean FPS", f"{result.fps:.1f}"),
        ("frame messages received", f"{result.frames_received}"),
        ("frame numbers missed by the subscriber", f"{result.frames_missed}"),
        ("dropped at the socket / at the source", (
            f"{last.get('dropped_socket', '–')} / {last.get('dropped_source', '–')}"
        )),
        ("longest gap between frame messages", f"{result.max_frame_gap_s:.2f} s"),
        ("heartbeats received", f"{len(result.stats)}"),
        ("longest gap between heartbeats", f"{result.max_heartbeat_gap_s:.2f} s"),
        ("RSS at start", f"{result.rss_start_mb:.1f} MB"),
        (f"RSS after {result.limits.warmup_s:g} s warm-up", f"{result.rss_after_warmup_mb:.1f} MB"),
        ("RSS at 25 / 50 / 75 % of the run", " / ".join(
            f"{result.rss_at_mb(f):.1f}" for f in (0.25, 0.5, 0.75)
        ) + " MB"),
        ("RSS at end", f"{result.rss_end_mb:.1f} MB"),
        ("RSS max", f"{result.rss_max_mb:.1f} MB"),
        ("RSS growth after warm-up", f"{result.rss_growth_mb:+.1f} MB"),
        ("RSS slope after warm-up", f"{result.rss_slope_mb_per_min:+.2f} MB/min"),
        ("CPU time of the pipeline process", f"{result.cpu_s:.0f} s"),
        ("exit status after SIGTERM", f"{result.exit_code}"),
    ]  # fmt: skip
    failures = result.failures()
    lines = [f"Command: `{command}`", "", "| measure | value |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    lines.append("")
    lines.append(
        "Checks: " + ("all held." if not failures else "FAILED: " + "; ".join(failures) + ".")
    )
    return "\n".join(lines)


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    try:
        return int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=600.0, help="soak length (default 600)")
    parser.add_argument("--warmup", type=float, default=Limits.warmup_s, help="seconds (15)")
    parser.add_argument("--models", type=Path, help="model folder (default: as emostream run)")
    parser.add_argument("--faces", type=int, default=1, help="faces per frame (default 1)")
    parser.add_argument("--size", type=_size, default=(640, 360), help="frame size (640x360)")
    parser.add_argument("--threads", type=int, default=2, help="model CPU threads (default 2)")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)

    work = Path(tempfile.gettempdir()) / "emostream-bench"
    models = resolve_model_dir(models=args.models)
    if not (models / "manifest.json").is_file():
        models = build_tiny_models(work)
    clip = write_clip(clip_path(work, args.faces, args.size, 96), args.faces, args.size, 96)
    log.info("soaking %s with %s for %g s", clip.name, models, args.seconds)
    result = soak(clip, models, args.seconds, Limits(warmup_s=args.warmup), args.threads)
    command = "python -m benchmarks.speed.soak " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    text = report(result, command.strip())
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 1 if result.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
