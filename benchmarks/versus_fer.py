"""Benchmark 2: emostream and the ``fer`` package side by side, on the same decoded frames.

Each runs as a child process of its own over the same video file, one after the other, never at
once: emostream in this environment (``emostream_worker.py``), fer in .bench-fer-venv
(``fer_worker.py``, built by ``benchmarks/fer_env.sh``). Both decode with OpenCV 4.11 and hash
every frame, so the report can show that they saw identical pixels. The goal is emostream at ten
times fer's frame rate or more.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.clips import clip_path, write_clip
from benchmarks.context import ROOT, BenchContext
from benchmarks.report import Section, Table
from benchmarks.stats import Summary

log = logging.getLogger(__name__)

NAME = "versus-fer"
TITLE = "Side by side with the fer package"
VIDEO = "videos/WolfgangLanger_Pexels.mp4"
GOAL = 10.0


def fer_python() -> Path:
    venv = Path(os.environ.get("FER_VENV", ".bench-fer-venv"))
    return (venv if venv.is_absolute() else ROOT / venv) / "bin" / "python"


def run_worker(command: list[str], timeout: float) -> dict[str, Any]:
    log.info("versus-fer: %s", " ".join(command[:3]))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        tail = "\n".join(result.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"{command[0]} {command[1]} failed ({result.returncode}):\n{tail}")
    return json.loads(lines[-1])


def fps(ms: list[float]) -> float:
    return 1000.0 * len(ms) / max(sum(ms), 1e-9)


def agreement(ours: dict[str, Any], fer: dict[str, Any]) -> tuple[int, int]:
    """Frames where both found exactly one face, and how many of those got the same label."""
    both = [
        (a, b)
        for a, b, na, nb in zip(ours["top"], fer["top"], ours["faces"], fer["faces"], strict=False)
        if na == 1 and nb == 1
    ]
    return sum(a == b for a, b in both), len(both)


def comparison_table(ours: dict[str, Any], fer: dict[str, Any]) -> Table:
    table = Table(
        f"emostream vs {fer['tool']}, same {ours['frames']} frames",
        ["", "emostream", fer["tool"], "emostream ÷ fer"],
    )
    both_end = [
        [d + p for d, p in zip(r["decode_ms"], r["process_ms"], strict=True)] for r in (ours, fer)
    ]
    rows: list[tuple[str, str, str, str]] = [
        ("frames", str(ours["frames"]), str(fer["frames"]), ""),
        (
            "per-frame ms without decode, p50 / p99",
            Summary.of(ours["process_ms"]).cell(),
            Summary.of(fer["process_ms"]).cell(),
            "",
        ),
        (
            "FPS without decode",
            f"{fps(ours['process_ms']):.1f}",
            f"{fps(fer['process_ms']):.1f}",
            f"{fps(ours['process_ms']) / fps(fer['process_ms']):.1f}×",
        ),
        (
            "FPS with decode",
            f"{fps(both_end[0]):.1f}",
            f"{fps(both_end[1]):.1f}",
            f"{fps(both_end[0]) / fps(both_end[1]):.1f}×",
        ),
        (
            "decode ms p50 / p99",
            Summary.of(ours["decode_ms"]).cell(),
            Summary.of(fer["decode_ms"]).cell(),
            "",
        ),
        (
            "frames with a face",
            str(sum(1 for n in ours["faces"] if n)),
            str(sum(1 for n in fer["faces"] if n)),
            "",
        ),
        ("faces found", str(sum(ours["faces"])), str(sum(fer["faces"])), ""),
        (
            "start-up s (imports, models, 3 warm-up frames)",
            f"{ours['startup_s']:.1f}",
            f"{fer['startup_s']:.1f}",
            "",
        ),
        (
            "peak RSS MiB",
            f"{ours['peak_rss_mib']:.0f}",
            f"{fer['peak_rss_mib']:.0f}",
            f"{ours['peak_rss_mib'] / fer['peak_rss_mib']:.2f}×",
        ),
    ]
    for row in rows:
        table.add(*row)
    return table


def run(ctx: BenchContext) -> Section:
    section = Section(NAME, TITLE, ctx.command(NAME))
    python = fer_python()
    if not python.exists():
        section.notes.append(
            f"Skipped: no fer environment at {python.parent.parent}; build it with "
            "`bash benchmarks/fer_env.sh` (pinned fer 25.10.3, TensorFlow CPU, no PyTorch)."
        )
        return section
    video = ctx.shared_path(VIDEO)
    if video is None:
        frames_in_clip = 48 if ctx.quick else 240
        size = (640, 360)
        video = write_clip(
            clip_path(ctx.work / "clips", 1, size, frames_in_clip), 1, size, frames_in_clip
        )
        section.notes.append(f"../shared/{VIDEO} is absent: a generated one-face clip is used.")
    limit = ["--frames", "48"] if ctx.quick else []
    timeout = 300 if ctx.quick else 1800
    ours = run_worker(
        [
            sys.executable,
            "-m",
            "benchmarks.emostream_worker",
            str(video),
            "--models",
            str(ctx.models),
            "--threads",
            str(ctx.threads),
            *limit,
        ],
        timeout,
    )
    fer = run_worker(
        [str(python), str(ROOT / "benchmarks" / "fer_worker.py"), str(video), *limit], timeout
    )
    section.tables.append(comparison_table(ours, fer))
    ratio = fps(ours["process_ms"]) / fps(fer["process_ms"])
    same, both = agreement(ours, fer)
    section.notes += [
        f"Video: {video.name}. Each tool decodes the file itself; "
        + (
            "the MD5 of all decoded frames is identical in both, so they saw the same pixels."
            if ours["digest"] == fer["digest"]
            else "**the decoded frames differ between the two environments** (MD5 mismatch)."
        ),
        f"Frame-rate ratio without decode: {ratio:.1f}× — goal ≥ {GOAL:.0f}×: "
        + ("met." if ratio >= GOAL else "**not met**."),
        f"emostream per frame: detect (MediaPipe short-range), crop, int8 encoder, head, quality "
        f"decoder, tracker, JSON message; models on {ctx.threads} CPU threads. fer per frame: "
        "`FER(mtcnn=False).detect_emotions(frame)` with its defaults (Haar cascade, quantized "
        "TFLite emotion model through TensorFlow's interpreter).",
        f"Top label agreement on the {both} frames where both found exactly one face: "
        f"{same} ({100.0 * same / max(both, 1):.0f} %); neither is ground truth.",
    ]
    return section


if __name__ == "__main__":
    from benchmarks.run import main

    raise SystemExit(main([*sys.argv[1:], "--only", NAME]))
