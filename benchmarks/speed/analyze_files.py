"""Benchmark 7: ``emostream analyze`` on recordings, against fer's ``Video.analyze``.

Whole commands, timed from outside, imports and model loading included, as a researcher runs
them: ``emostream analyze`` on the sample video, then on 8 copies of it with ``--workers 1`` and
``--workers 2``, and fer's ``Video(path).analyze(FER(mtcnn=False))`` on the same file in the fer
environment (``benchmarks/peers/fer_env.sh``), side by side in one run. emostream writes its
table to CSV; fer keeps its results in memory and saves nothing (its cheapest setting).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common.context import PEERS, ROOT, BenchContext
from benchmarks.common.report import Section, Table
from benchmarks.speed.versus_fer import fer_python
from stream.recognizer import VIDEO_DETECT_EVERY, VIDEO_QUALITY_EVERY

log = logging.getLogger(__name__)

NAME = "analyze"
TITLE = "Offline analysis: emostream analyze against fer's Video.analyze"
VIDEO = "videos/WolfgangLanger_Pexels.mp4"
COPIES = 8


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(command[:4])} failed: {done.stderr.strip()[-300:]}")
    return time.perf_counter() - start


def frames_in(table: Path) -> int:
    with table.open() as handle:
        return len({tuple(line.split(",")[:2]) for line in list(handle)[1:]})


def measure(video: Path) -> tuple[Table, list[str]]:
    table = Table(
        "Whole commands, sample video (472 frames, 640×360)",
        ["command", "files", "frames", "wall s", "frames/s", "vs fer"],
    )
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="emostream-analyze-") as scratch:
        folder = Path(scratch)
        copies = []
        for i in range(COPIES):
            copies.append(folder / f"copy{i}.mp4")
            shutil.copy(video, copies[-1])
        emostream = [sys.executable, "-m", "stream", "analyze", "--quiet"]
        runs = [("emostream analyze", [str(video)], [])]
        runs += [(f"emostream analyze --workers {w}", list(map(str, copies)), ["--workers", str(w)])
                 for w in (1, 2)]  # fmt: skip
        fer_fps = None
        python = fer_python()
        if python.exists():
            worker = [str(python), str(PEERS / "fer_video_worker.py"), str(video)]
            start = time.perf_counter()
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
            done = subprocess.run(worker, capture_output=True, text=True, env=env)
            wall = time.perf_counter() - start
            if done.returncode == 0:
                frames = json.loads(done.stdout.strip().splitlines()[-1])["frames"]
                fer_fps = frames / wall
                table.add("fer Video.analyze (every frame)", 1, frames, f"{wall:.1f}",
                          f"{fer_fps:.1f}", "1.0×")  # fmt: skip
            else:
                notes.append(f"fer failed: {done.stderr.strip().splitlines()[-1:]}")
        else:
            notes.append(
                "fer skipped: build its environment with `bash benchmarks/peers/fer_env.sh`"
            )
        for label, inputs, extra in runs:
            out = folder / f"{len(inputs)}-{len(extra)}.csv"
            wall = timed([*emostream, *inputs, *extra, "--out", str(out)])
            frames = frames_in(out)
            ratio = f"{frames / wall / fer_fps:.1f}×" if fer_fps else "–"
            table.add(label, len(inputs), frames, f"{wall:.1f}", f"{frames / wall:.1f}", ratio)
    notes.append(
        "Wall time of each whole command from outside: interpreter start, imports, model "
        "loading, decoding and writing included. emostream uses `run`'s cadence (detection "
        f"every {VIDEO_DETECT_EVERY} frames, quality every {VIDEO_QUALITY_EVERY} per track); fer "
        "detects and classifies every frame (`frequency=1`), its Haar cascade and quantized "
        "TFLite model, saving nothing. With "
        f"`--workers 2` the {os.cpu_count()} cores split the model threads: one each."
    )
    return table, notes


def run(ctx: BenchContext) -> Section:
    video = ctx.shared_path(VIDEO)
    command = ctx.command(NAME)
    if video is None:
        return Section(NAME, TITLE, command, notes=[f"Skipped: ../shared/{VIDEO} is absent."])
    table, notes = measure(video)
    return Section(NAME, TITLE, command, tables=[table], notes=notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.speed.analyze_files", description=TITLE
    )
    parser.add_argument("--video", type=Path, default=ROOT.parent / "shared" / VIDEO)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    table, notes = measure(args.video)
    command = shlex.join(
        ["python", "-m", "benchmarks.speed.analyze_files", *(argv or sys.argv[1:])]
    )
    print(Section(NAME, TITLE, command, tables=[table], notes=notes).markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
