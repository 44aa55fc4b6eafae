"""Benchmark: where a frame's CPU goes with detection ahead, by thread, for each thread setting.

``run``'s recognizer (the fixed detection schedule, the face mesh, quality every 5th frame) on
the sample video's frames, decoded beforehand so that only the recognizer's own threads share
the cores. Four settings, alternated round by round: the expression models on 1 or 2 threads,
and OpenCV's pool of 1 or 2 threads. For each: frames a second, the CPU a frame costs in all
(``time.process_time``), and that CPU split by thread, read from ``/proc/self/task``. On a
small CPU whose second core already runs the detector and the mesh, a second model thread or a
second OpenCV thread mostly spins, waiting for a core: the CPU a frame costs shows it where the
frame rate, noisy on a shared machine, may not.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common.clips import decode
from benchmarks.common.context import BenchContext
from benchmarks.common.report import Section, Table
from benchmarks.speed.detect_ahead import foresee_decoded
from stream.assemble import RecognizerOptions, open_detector, open_mesh, video_recognizer
from stream.faces.detector import FaceDetector
from stream.models import Models, load_models
from stream.publish import schema
from stream.recognizer import Recognizer

NAME = "threads"
TITLE = "Detection ahead: the CPU a frame costs, by thread, with 1 or 2 model and OpenCV threads"
VIDEO = "videos/WolfgangLanger_Pexels.mp4"
ROUNDS = 4
SETTINGS = ((1, 1), (2, 1), (1, 2), (2, 2))  # (model threads, OpenCV threads)
TICK_MS = 1000.0 / os.sysconf("SC_CLK_TCK")


def thread_cpu_ms() -> dict[tuple[int, str], float]:
    """CPU ms so far of each live thread of this process, keyed (native id, role)."""
    named = {t.native_id: t.name for t in threading.enumerate()}
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        name = named.get(int(tid), stat[stat.index("(") + 1 : stat.rindex(")")])
        out[int(tid), role(name)] = (int(fields[11]) + int(fields[12])) * TICK_MS
    return out


def role(name: str) -> str:
    """A thread's role from its name: Python's threads by their own names (ours, and
    MediaPipe's dispatcher that calls into its graph), MediaPipe's graph threads by the OS name
    it gives them, and the unnamed rest: the interpreters' and OpenCV's pools."""
    if name == "MainThread":
        return "main"
    if name.startswith("face-mesh"):
        return "face mesh"
    if name == "face-detector":
        return "detector (ours)"
    if name == "drishti":
        return "MediaPipe graph"
    if name == "python":
        return "model and OpenCV pools"
    return "other Python threads"


def one_run(
    models: Models, detector: FaceDetector, frames: list[np.ndarray], opencv_threads: int
) -> tuple[float, float, Counter[str]]:
    """Frames a second, CPU ms a frame, and CPU ms a frame by thread role, for one pass."""
    options = RecognizerOptions()
    recognizer = video_recognizer(models, detector, open_mesh(options), options)
    cv2.setNumThreads(opencv_threads)  # over the recognizer's own choice
    before = thread_cpu_ms()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        for index, frame in enumerate(frames):
            foresee_decoded(recognizer, frames, index)
            faces = recognizer.recognize(frame).faces
            message = schema.frame_message(
                "bench",
                index,
                0.0,
                0.0,
                frame.shape[1],
                frame.shape[0],
                [face.to_message(recognizer.labels, False) for face in faces],
                {},
            )
            schema.encode(message)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        after = thread_cpu_ms()
    finally:
        recognizer.close()
    roles: Counter[str] = Counter()
    for key, ms in after.items():
        roles[key[1]] += (ms - before.get(key, 0.0)) / len(frames)
    return len(frames) / wall, 1000.0 * cpu / len(frames), roles


def measure(models_dir: Path, video: Path, quick: bool) -> tuple[Table, list[str]]:
    frames = decode(video)[: 90 if quick else None]
    detector = open_detector(RecognizerOptions())  # as run's: ahead, its threads behind
    models = {threads: load_models(models_dir, threads=threads) for threads, _ in SETTINGS}
    warm = Recognizer(models[1], detector)
    for _ in range(3):
        warm.recognize(frames[0])
    runs: dict[tuple[int, int], list[tuple[float, float, Counter[str]]]] = {s: [] for s in SETTINGS}
    try:
        for _ in range(1 if quick else ROUNDS):
            for setting in SETTINGS:
                runs[setting].append(one_run(models[setting[0]], detector, frames, setting[1]))
    finally:
        detector.close()
    roles = sorted({role for results in runs.values() for r in results for role in r[2]})
    table = Table(
        f"{len(frames)} decoded frames of `{VIDEO}`, `run`'s recognizer; each setting's "
        f"median-FPS round of {len(runs[SETTINGS[0]])}; CPU ms a frame",
        ["model threads", "OpenCV threads", "frames/s", "CPU a frame", *roles],
    )
    for setting, results in runs.items():
        fps, cpu, by_role = sorted(results, key=lambda r: r[0])[len(results) // 2]
        table.add(
            setting[0],
            setting[1],
            f"{fps:.1f}",
            f"{cpu:.2f}",
            *(f"{by_role.get(role, 0.0):.2f}" for role in roles),
        )
    medians = {s: float(np.median([r[1] for r in results])) for s, results in runs.items()}
    notes = [
        "Median CPU ms a frame over the rounds: "
        + ", ".join(f"{m} model / {c} OpenCV thread(s) {v:.2f}" for (m, c), v in medians.items())
        + f". `run`'s default with detection ahead is 1 / 1. Thread CPU comes in clock ticks "
        f"of {TICK_MS:.0f} ms, summed over the run."
    ]
    return table, notes


def run(ctx: BenchContext) -> Section:
    video = ctx.shared_path(VIDEO)
    if video is None:
        return Section(NAME, TITLE, ctx.command(NAME), notes=[f"skipped: no ../shared/{VIDEO}"])
    table, notes = measure(ctx.models, video, ctx.quick)
    return Section(NAME, TITLE, ctx.command(NAME), tables=[table], notes=notes)


if __name__ == "__main__":
    from benchmarks.run import main

    raise SystemExit(main([*sys.argv[1:], "--only", NAME]))
