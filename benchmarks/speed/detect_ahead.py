"""Benchmark: detection ahead on a thread of its own against inline, on the same video.

Three questions, each answered in the same run:
1. Speed: the real ``Pipeline`` (file source, tracker, int8 models, ZeroMQ publisher with a live
   loopback subscriber) on the shared sample video at ``run``'s cadence, with ``--detection
   ahead`` and ``inline``, three rounds each, round-robin: frames a second, and p50 / p90 / p99
   of capture → publish (``latency_ms.total``) and of the detect stage as the frame sees it.
   The file is read as ``run`` reads it by default, each frame decoded when it is taken; and
   ``ahead`` once more with ``--read-ahead 4``, where each detection frame goes to the detector
   up to three frames early (``FORESIGHT``) and capture → publish counts the wait of every frame
   decoded ahead: more frames a second, each waiting longer. Then each
   schedule once more with the file played at its own frame rate (``--realtime``), as a camera
   hands frames over: there nothing is read ahead, and capture → publish is what a live viewer
   waits; and played 4 and 8 times faster, as cameras of 96 and 192 frames a second would, to
   show how much faster than the clip frames may come before they queue.
2. Labels: on every clip in ``../shared/videos``, how often the top label per tracked face and
   frame agrees between the two schedules, and whether two ``ahead`` runs give identical labels.
3. The detector's own cost: LiteRT on the BlazeFace short-range file (1 and 2 threads) against
   MediaPipe's Tasks call on a 640×360 frame, and our own part of that call (colour conversion
   and alignment), to see how much of the call is overhead around the model.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from ai_edge_litert import interpreter as litert

from benchmarks.common.clips import decode
from benchmarks.common.context import ROOT, BenchContext
from benchmarks.common.publishing import LoopbackBus, RecordingSink, decode_payloads
from benchmarks.common.report import Section, Table
from benchmarks.common.stats import Summary
from stream.assemble import (
    RecognizerOptions,
    open_detector,
    open_mesh,
    open_models,
    video_recognizer,
)
from stream.codes.delegates import quiet_native_stderr
from stream.faces.detector import FaceDetector, _aligned
from stream.models import Models
from stream.pipeline import Pipeline, PipelineOptions
from stream.publish import schema
from stream.recognizer import Recognizer
from stream.sources import FileSource
from stream.sources.file import PREFETCH

log = logging.getLogger(__name__)

NAME = "ahead"
TITLE = "Detection ahead on its own thread against inline: speed, latency and labels"
VIDEO = "videos/WolfgangLanger_Pexels.mp4"
CAMERA = "bench"
ROUNDS = 3
SCHEDULES = ("inline", "ahead")
FULL_SPEED = (("inline", 0), ("ahead", 0), ("ahead", PREFETCH))
"""Schedule and ``--read-ahead`` for the rounds at full speed: ``run``'s default reading with
each schedule, and reading ahead for frames a second."""
PACED = ((1.0, "inline"), (1.0, "ahead"), (4.0, "ahead"), (8.0, "ahead"), (8.0, "inline"))
"""The clip played as a camera would hand it over, at its own rate and faster (times, schedule):
a camera's latency, and how much faster a camera could be before frames queue."""
DETECTOR_FILE = ROOT / "models" / "detector" / "face_detection_short_range.tflite"


def _ms(values: Summary) -> str:
    return f"{values.p50:.2f} / {values.p90:.2f} / {values.p99:.2f}"


def pipeline_run(
    models: Models,
    path: Path,
    detection: str,
    max_frames: int | None,
    speed: float | None = None,
    read_ahead: int = 0,
) -> tuple[float, Summary, Summary]:
    """Frames a second, capture → publish and the detect stage, for one schedule; with a
    ``speed`` the file plays at that many times its own frame rate, as a camera of that rate
    hands frames over; ``read_ahead`` as ``run``'s."""
    options = RecognizerOptions(detection=detection)
    detector = open_detector(options)
    recognizer = video_recognizer(models, detector, open_mesh(options), options)
    try:
        first = cv2.VideoCapture(str(path))
        ok, image = first.read()
        first.release()
        if ok:  # the first inferences allocate and plan: not what a frame costs
            warm = Recognizer(models, detector)
            for _ in range(3):
                warm.recognize(image)
        with (
            LoopbackBus() as bus,
            FileSource(
                path, realtime=speed is not None, speed=speed or 1.0, prefetch=read_ahead
            ) as source,
        ):
            sink = RecordingSink(bus.publisher, schema.frame_topic(CAMERA))
            pipeline = Pipeline(
                source, recognizer, sink, PipelineOptions(CAMERA, max_frames=max_frames)
            )
            start = time.perf_counter()
            counters = pipeline.run()
            wall = time.perf_counter() - start
        latency = [m["latency_ms"] for m in decode_payloads(sink.payloads)]
    finally:
        recognizer.close()
        detector.close()
    return (
        counters.frames / wall,
        Summary.of([lat["total"] for lat in latency]),
        Summary.of([lat["detect"] for lat in latency]),
    )


def foresee_decoded(recognizer: Recognizer, frames: list[np.ndarray], index: int) -> None:
    """Hand the recognizer the detection frames it asks for ahead of frame ``index``, from frames
    decoded beforehand: every frame is at hand, as for ``run --read-ahead 4`` on a file."""
    while (distance := recognizer.foresight) and index + distance < len(frames):
        recognizer.foresee(frames[index + distance], distance)


def labels(
    models: dict[str, Models], frames: list[np.ndarray], detection: str
) -> dict[tuple[int, int], int]:
    """Top label per (frame, track id), through ``run``'s recognizer and cadence."""
    options = RecognizerOptions(detection=detection)
    detector = open_detector(options)
    recognizer = video_recognizer(models[detection], detector, open_mesh(options), options)
    top = {}
    try:
        for index, frame in enumerate(frames):
            foresee_decoded(recognizer, frames, index)
            for face in recognizer.recognize(frame).faces:
                top[index, face.id] = int(np.argmax(face.probs))
        return top
    finally:
        recognizer.close()
        detector.close()


def label_rows(models: dict[str, Models], clips: list[Path]) -> list[list[str]]:
    rows = []
    for clip in clips:
        frames = decode(clip)
        inline = labels(models, frames, "inline")
        ahead, again = labels(models, frames, "ahead"), labels(models, frames, "ahead")
        shared = set(inline) & set(ahead)
        agree = sum(inline[k] == ahead[k] for k in shared)
        only = len(set(inline) ^ set(ahead))
        rows.append(
            [
                clip.name,
                str(len(frames)),
                str(len(shared)),
                f"{100.0 * agree / max(len(shared), 1):.1f} %",
                str(only),
                "yes" if ahead == again else "**no**",
            ]
        )
    return rows


def _timed(call: object, repeat: int) -> float:
    assert callable(call)
    call()
    start = time.perf_counter()
    for _ in range(repeat):
        call()
    return (time.perf_counter() - start) / repeat * 1000.0


def detector_rows(frame: np.ndarray, repeat: int) -> list[list[str]]:
    """The model alone through LiteRT, MediaPipe's whole call, and our part of it."""
    rows = []
    blob = np.random.default_rng(0).random((1, 128, 128, 3), np.float32)
    for threads in (1, 2):
        with quiet_native_stderr():
            interpreter = litert.Interpreter(model_path=str(DETECTOR_FILE), num_threads=threads)
            interpreter.allocate_tensors()
        index = interpreter.get_input_details()[0]["index"]

        def invoke(interpreter: litert.Interpreter = interpreter, index: int = index) -> None:
            interpreter.set_tensor(index, blob)
            interpreter.invoke()

        rows.append(
            [
                f"BlazeFace short-range through LiteRT, {threads} thread(s)",
                f"{_timed(invoke, repeat):.2f}",
            ]
        )
    detector = FaceDetector("short", 0.5, 8)
    try:
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        size = f"{frame.shape[1]}×{frame.shape[0]}"
        rows.append([f"MediaPipe Tasks detect on a {size} RGB frame",
                     f"{_timed(lambda: detector.detect(rgb), repeat):.2f}"])  # fmt: skip
        kept = _aligned(np.empty(frame.shape, np.uint8))  # as FaceDetector.detect_bgr keeps it
        ours = _timed(lambda: cv2.cvtColor(frame, cv2.COLOR_BGR2RGB, dst=kept), repeat)
        rows.append([f"ours within it: BGR → RGB into its kept buffer, {size}", f"{ours:.2f}"])
    finally:
        detector.close()
    return rows


def measure(models_dir: Path, shared: Path, quick: bool) -> tuple[Table, Table, Table, list[str]]:
    models = {  # each schedule with `run`'s threads for it
        name: open_models(RecognizerOptions(models=models_dir, detection=name))[1]
        for name in SCHEDULES
    }
    video = shared / VIDEO
    max_frames = 60 if quick else None
    runs: dict[tuple[str, int], list[tuple[float, Summary, Summary]]] = {
        setting: [] for setting in FULL_SPEED
    }
    for _ in range(1 if quick else ROUNDS):
        for name, ahead in FULL_SPEED:
            runs[name, ahead].append(
                pipeline_run(models[name], video, name, max_frames, read_ahead=ahead)
            )
    speed = Table(
        f"`{VIDEO}` through the real pipeline, `run`'s cadence; at full speed the median-FPS "
        f"round of {len(runs['inline', 0])}; ms p50 / p90 / p99",
        ["detection", "frames/s", "capture → publish", "detect stage, as the frame sees it"],
    )
    fps = {}
    for (name, ahead), results in runs.items():
        best = sorted(results, key=lambda r: r[0])[len(results) // 2]
        fps[name, ahead] = best[0]
        label = f"{name}, full speed" + (f", --read-ahead {ahead}" if ahead else "")
        speed.add(label, f"{best[0]:.1f}", _ms(best[1]), _ms(best[2]))
    for times, name in PACED:  # one round each: the clip takes its own length to play
        rate, total, detect = pipeline_run(models[name], video, name, max_frames, speed=times)
        pace = "the clip's own rate" if times == 1 else f"{times:g}× the clip's rate"
        speed.add(f"{name}, at {pace}", f"{rate:.1f}", _ms(total), _ms(detect))
    clips = sorted(p for p in (shared / "videos").iterdir() if p.suffix in (".mp4", ".mov"))
    agreement = Table(
        "Top label per tracked face and frame, `ahead` against `inline`, on every shared clip",
        ["clip", "frames", "face-frames in both", "same label", "in one only", "ahead twice equal"],
        label_rows(models, clips[:1] if quick else clips),
    )
    frame = decode(video)[0]
    raw = Table(
        "The detector's cost, ms a call (after one warm-up call)",
        ["what", "ms"],
        detector_rows(frame, 20 if quick else 200),
    )
    notes = [
        f"At full speed ahead is {fps['ahead', 0] / fps['inline', 0]:.2f}× inline's frame rate "
        f"in this run, and --read-ahead {PREFETCH} {fps['ahead', PREFETCH] / fps['ahead', 0]:.2f}× "
        "run's default reading."
    ]
    return speed, agreement, raw, notes


def run(ctx: BenchContext) -> Section:
    if ctx.shared is None:
        return Section(NAME, TITLE, ctx.command(NAME), notes=["skipped: no ../shared/videos"])
    speed, agreement, raw, notes = measure(ctx.models, ctx.shared, ctx.quick)
    return Section(NAME, TITLE, ctx.command(NAME), tables=[speed, agreement, raw], notes=notes)


if __name__ == "__main__":
    from benchmarks.run import main

    raise SystemExit(main([*sys.argv[1:], "--only", NAME]))
