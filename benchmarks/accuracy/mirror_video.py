"""Benchmark: on video, does tracking and smoothing already give what the mirror average gives?

The mirror average classifies every crop twice. On still crops the holdout decides whether it
pays; on video the tracker's smoothing also averages, over frames. This runs the real
``Recognizer`` at ``run``'s cadence over the real clips in ``../shared/videos`` in four settings
(mirror on/off × smoothing on at ``run``'s default 0.4 / off) and compares, on the same faces
(detections and track ids do not depend on the classifier):

- label changes per 100 face-frames: flicker a viewer sees;
- agreement with the full setting (mirror and smoothing), in % of face-frames: how much of what
  the mirror adds smoothing alone recovers;
- encode + head ms per frame: what the mirror costs.

No clip carries labels, so this measures stability and agreement, not accuracy.

``python -m benchmarks.accuracy.mirror_video``
"""

from __future__ import annotations

import dataclasses
import logging
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.common.clips import decode
from benchmarks.common.context import ROOT, BenchContext
from benchmarks.common.report import Section, Table
from stream.faces.detector import FaceDetector
from stream.faces.tracker import IouTracker
from stream.models import Models, load_models
from stream.recognizer import VIDEO_DETECT_EVERY, VIDEO_QUALITY_EVERY, Recognizer

log = logging.getLogger(__name__)

NAME = "mirror"
TITLE = "Mirror averaging on video, against tracking and smoothing"
CLIPS = ("videos/WolfgangLanger_Pexels.mp4", "videos/single_face.mp4", "videos/face_noface.mov")
SETTINGS = ((True, 0.4), (False, 0.4), (True, 1.0), (False, 1.0))
"""(mirror average, smoothing weight of the newest frame; 1.0 is no smoothing)."""


@dataclass(frozen=True)
class Labels:
    by_face: dict[tuple[int, int], int]  # (frame, track id) → label index
    head_ms: float


def label_run(models: Models, frames: list[np.ndarray], mirror: bool, alpha: float) -> Labels:
    manifest = dataclasses.replace(models.manifest, flip_average=mirror)
    detector = FaceDetector("short", 0.5, 8)
    try:
        recognizer = Recognizer(
            dataclasses.replace(models, manifest=manifest),
            detector,
            IouTracker(alpha=alpha),
            detect_every=VIDEO_DETECT_EVERY,
            quality_every=VIDEO_QUALITY_EVERY,
        )
        by_face: dict[tuple[int, int], int] = {}
        head_ms = 0.0
        for index, frame in enumerate(frames):
            result = recognizer.recognize(frame)
            head_ms += result.latency_ms.get("encode", 0.0) + result.latency_ms.get("head", 0.0)
            for face in result.faces:
                by_face[(index, face.id)] = int(np.argmax(face.probs))
    finally:
        detector.close()
    return Labels(by_face, head_ms / max(len(frames), 1))


def changes_per_100(labels: Labels) -> float:
    changes = 0
    last: dict[int, int] = {}
    for (_, track), label in sorted(labels.by_face.items()):
        if track in last and last[track] != label:
            changes += 1
        last[track] = label
    return 100.0 * changes / max(len(labels.by_face), 1)


def agreement(a: Labels, b: Labels) -> float:
    shared = set(a.by_face) & set(b.by_face)
    return 100.0 * sum(a.by_face[k] == b.by_face[k] for k in shared) / max(len(shared), 1)


def measure(shared: Path, models_dir: Path | None) -> list[tuple[str, int, dict]]:
    models = load_models(models_dir) if models_dir else load_models()
    out = []
    for clip in CLIPS:
        path = shared / clip
        if not path.exists():
            log.warning("missing %s", path)
            continue
        frames = decode(path)
        runs = {setting: label_run(models, frames, *setting) for setting in SETTINGS}
        out.append((path.name, len(frames), runs))
    return out


def table(results: list[tuple[str, int, dict]]) -> Table:
    out = Table(
        f"`run`'s cadence (detect every {VIDEO_DETECT_EVERY} frames, quality every "
        f"{VIDEO_QUALITY_EVERY}); the same detections and "
        "track ids in every setting",
        ["clip", "mirror", "smoothing", "face-frames", "label changes / 100", "agrees with mirror "
         "+ smoothing", "encode + head ms / frame"],
    )  # fmt: skip
    for clip, _, runs in results:
        reference = runs[(True, 0.4)]
        for (mirror, alpha), labels in runs.items():
            out.add(
                clip,
                "on" if mirror else "off",
                f"{alpha:g}" if alpha < 1 else "off",
                str(len(labels.by_face)),
                f"{changes_per_100(labels):.2f}",
                f"{agreement(labels, reference):.1f} %",
                f"{labels.head_ms:.2f}",
            )
    return out


NOTES = [
    "Smoothing: each track's probabilities are an exponential average with the newest frame "
    "weighted 0.4 (`run --smoothing`, the default); off is weight 1. Label: the top smoothed "
    "probability, as `run` publishes it. The clips carry no labels: agreement and flicker, not "
    "accuracy.",
]


def run(ctx: BenchContext) -> Section:
    command = ctx.command(NAME)
    if ctx.shared is None:
        return Section(NAME, TITLE, command, notes=["Skipped: ../shared is missing."])
    results = measure(ctx.shared, ctx.models)
    return Section(NAME, TITLE, command, tables=[table(results)], notes=NOTES)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.accuracy.mirror_video", description=TITLE
    )
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--models", type=Path, help="model folder (default: the family's)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    command = shlex.join(
        ["python", "-m", "benchmarks.accuracy.mirror_video", *(argv or sys.argv[1:])]
    )
    results = measure(args.shared, args.models)
    print(Section(NAME, TITLE, command, tables=[table(results)], notes=NOTES).markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
