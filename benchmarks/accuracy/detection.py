"""Benchmark 3: accuracy through the detection path against the same faces fed directly.

FER2013's validation faces are 48×48 crops. Fed directly (``stream.evaluate.evaluate_crops``)
they measure the models alone. Pasted into a larger frame (``stream.faces.paste``) and run through
``stream.evaluate.evaluate_scenes`` they also pay for detection (a face not found is a miss) and
for the crop convention (a found face framed differently from training). Scoring the direct path
on exactly the faces the detector found separates the two costs.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.common.context import BenchContext
from benchmarks.common.report import Section, Table
from stream.evaluate import (
    Evaluation,
    evaluate_crops,
    evaluate_scenes,
    load_labelled_images,
    read_image,
    to_face,
)
from stream.faces.detector import FaceDetector
from stream.faces.paste import paste_face
from stream.models import Models, load_models
from train.votes import load_votes, majority

log = logging.getLogger(__name__)

NAME = "accuracy"
TITLE = "Accuracy through the detection path vs direct on crops"
DATA = "datasets/fer2013/val"
VOTES = "datasets/fer2013/ferplus.csv"
QUICK_IMAGES = 150


@dataclass(frozen=True)
class Scene:
    frame: tuple[int, int]
    face_px: int
    detector: str

    @property
    def label(self) -> str:
        return f"{self.frame[0]}×{self.frame[1]} frame, {self.face_px} px face, {self.detector}"


SCENES = (
    Scene((320, 240), 144, "short"),  # the crop calibration's own setting
    Scene((640, 360), 144, "short"),  # the same face, a smaller share of the frame
    Scene((320, 240), 144, "full"),
)


def through_detection(
    models: Models, faces: np.ndarray, targets: np.ndarray, scene: Scene
) -> Evaluation:
    """Every face pasted into its own frame of the scene, then detected, cropped, classified."""
    rng = np.random.default_rng(0)
    frames = [paste_face(face, rng, scene.frame, scene.face_px).frame for face in faces]
    detector = FaceDetector(scene.detector, min_score=0.5, max_faces=1)
    try:
        return evaluate_scenes(models, frames, targets, detector)
    finally:
        detector.close()


def crowd_majority(votes: Path | None, root: Path, paths: list[Path]) -> np.ndarray:
    """Each face's FER+ majority label (-1: none, or no votes file), for the same run's figures
    against the crowd next to FER2013's own labels."""
    if votes is None:
        return np.full(len(paths), -1)
    names = [p.relative_to(root).as_posix() for p in paths]
    return majority(load_votes(votes, {"val": root})["val"].for_files(names))


def _pct(value: float | None) -> str:
    return f"{100 * value:.2f} %" if value is not None else "–"


def run(ctx: BenchContext) -> Section:
    section = Section(NAME, TITLE, ctx.command(NAME))
    root = ctx.shared_path(DATA)
    if root is None:
        section.notes.append(f"Skipped: ../shared/{DATA} is absent.")
        return section
    models = load_models(ctx.models, "cpu", ctx.component_threads)
    paths, targets = load_labelled_images(root, models.manifest.labels)
    total = len(paths)
    if ctx.quick:
        pick = np.random.default_rng(0).permutation(total)[:QUICK_IMAGES]
        paths, targets = [paths[i] for i in pick], targets[pick]
    size = models.manifest.input_size
    faces = np.stack([to_face(read_image(p), size) for p in paths])
    direct = evaluate_crops(models, faces, targets)
    crowd = crowd_majority(ctx.shared_path(VOTES), root, paths)
    table = Table(
        f"FER2013 val: {len(paths)} of {total} faces",
        [
            "path",
            "faces found",
            "accuracy (misses count wrong)",
            "accuracy on found faces",
            "direct, same faces",
            "FER+ majority (misses count wrong)",
            "ms per image",
        ],
    )
    table.add(
        "direct: 48×48 crop → encoder",
        "–",
        f"{100 * direct.accuracy:.2f} %",
        "–",
        "–",
        _pct(direct.accuracy_against(crowd)),
        f"{direct.ms_per_face:.2f}",
    )
    for scene in SCENES:
        log.info("accuracy: %s", scene.label)
        result = through_detection(models, faces, targets, scene)
        hits = result.found
        same = evaluate_crops(models, faces[hits], targets[hits]) if hits.any() else None
        table.add(
            f"pasted: {scene.label}",
            f"{100 * hits.mean():.1f} %",
            f"{100 * result.accuracy:.2f} %",
            f"{100 * result.found_accuracy:.2f} %" if hits.any() else "–",
            f"{100 * same.accuracy:.2f} %" if same is not None else "–",
            _pct(result.accuracy_against(crowd)),
            f"{result.ms_per_face:.2f}",
        )
    section.tables.append(table)
    section.notes += [
        "Direct: each face resized to the encoder input and classified in batches of 64 "
        "(`stream.evaluate.evaluate_crops`); ms per face. Pasted: each face upscaled to the "
        "given size at a seeded random spot on a smooth random texture (`stream.faces.paste`), "
        "then `stream.evaluate.evaluate_scenes`: detect, align, crop, classify; ms per image.",
        "FER+ majority: the same predictions scored against the majority of the ten FER+ "
        "taggers, on the faces whose largest vote is unique and one of our seven classes.",
        '"direct, same faces" scores the direct path on just the faces the detector found: '
        'its gap to "accuracy on found faces" is the cost of the crop convention, the gap '
        "between the found share and 100 % the cost of detection.",
    ]
    if ctx.quick:
        section.notes.append(f"Quick run: a seeded random {QUICK_IMAGES} of the {total} faces.")
    return section


if __name__ == "__main__":
    from benchmarks.run import main

    raise SystemExit(main([*sys.argv[1:], "--only", NAME]))
