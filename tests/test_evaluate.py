"""`emostream evaluate` on labelled folders: direct crops, and full scenes through the detector."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream.evaluate import (
    Evaluation,
    balanced_accuracy,
    class_recall,
    evaluate_crops,
    evaluate_scenes,
    load_labelled_images,
    read_image,
    to_face,
)
from stream.faces.detector import FaceDetector
from stream.faces.paste import paste_face
from stream.models import load_models
from tests.tiny_models import astronaut_faces

REPO = Path(__file__).resolve().parents[1]
FER_VAL = REPO.parent / "shared" / "datasets" / "fer2013" / "val"
SHIPPED = (REPO / "models" / "base" / "manifest.json").exists()


def evaluate_cli(*args: str, model_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stream", "evaluate", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "EMOSTREAM_MODELS": str(model_dir)},
        timeout=300,
    )


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("labelled")
    rng = np.random.default_rng(3)
    for label in ("happy", "sad"):
        (root / label).mkdir()
        for i, face in enumerate(astronaut_faces(4, rng)):
            cv2.imwrite(str(root / label / f"{i}.png"), cv2.resize(face, (160, 160)))
    return root


def test_evaluate_json_counts_every_image(labelled: Path, model_dir: Path) -> None:
    result = evaluate_cli(str(labelled), "--json", model_dir=model_dir)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n"] == 8 and 0 <= report["accuracy"] <= 1
    assert set(report["recall"]) == set(load_models(model_dir).manifest.labels)
    assert np.asarray(report["confusion"]).sum() == 8
    present = [r for r in report["recall"].values() if r is not None]
    assert len(present) == 2  # only happy and sad have faces here
    assert report["balanced_accuracy"] == pytest.approx(np.mean(present), abs=1e-4)


def test_balanced_accuracy_is_the_mean_recall_over_the_classes_present() -> None:
    """A hand-made case: a model that calls most faces neutral, and a class with no faces."""
    confusion = np.array(
        [  # true angry, happy, neutral, fear (none); predicted the same order
            [10, 0, 90, 0],
            [0, 90, 10, 0],
            [0, 0, 300, 0],
            [0, 0, 0, 0],
        ]
    )
    assert class_recall(confusion) == [0.1, 0.9, 1.0, None]
    assert balanced_accuracy(confusion) == pytest.approx((0.1 + 0.9 + 1.0) / 3)
    result = Evaluation(("angry", "happy", "neutral", "fear"), confusion, ms_per_face=1.0)
    assert result.accuracy == pytest.approx(400 / 500)  # plain accuracy hides the blind spot
    assert result.recall()["fear"] is None
    assert result.to_dict()["balanced_accuracy"] == pytest.approx(0.6667, abs=1e-4)
    assert balanced_accuracy(np.zeros((3, 3), int)) == 0.0


def test_evaluate_detect_counts_images_without_a_face(labelled: Path, model_dir: Path) -> None:
    blank = labelled / "happy" / "blank.png"
    cv2.imwrite(str(blank), np.full((160, 160), 128, np.uint8))
    try:
        result = evaluate_cli(str(labelled), "--detect", "--json", model_dir=model_dir)
    finally:
        blank.unlink()
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n"] == 9 and report["no_face"] == 1


def test_evaluate_table_and_bad_folder(labelled: Path, model_dir: Path) -> None:
    table = evaluate_cli(str(labelled), model_dir=model_dir)
    assert table.returncode == 0
    assert "accuracy:" in table.stdout and "confusion matrix" in table.stdout
    assert "balanced accuracy:" in table.stdout
    assert "(mean recall over the 2 classes present)" in table.stdout
    assert "– (no faces)" in table.stdout
    (labelled / "bored").mkdir()
    try:
        bad = evaluate_cli(str(labelled), model_dir=model_dir)
    finally:
        (labelled / "bored").rmdir()
    assert bad.returncode != 0
    assert (
        bad.stderr.strip()
        .splitlines()[-1]
        .endswith("(expected angry, disgust, fear, happy, sad, surprise, neutral)")
    )
    assert len([line for line in bad.stderr.splitlines() if line.strip()]) == 1


@pytest.mark.skipif(not FER_VAL.is_dir(), reason="../shared/datasets/fer2013 is not available")
@pytest.mark.skipif(not SHIPPED, reason="needs the shipped models, trained on FER2013")
def test_pasted_training_faces_classify_as_well_as_the_faces_themselves() -> None:
    """The crop convention: a found face must score about as well as the same face fed directly.

    All of val, and the direct path scored on exactly the faces found: on a 100-a-class subset
    the paired difference alone swings by a couple of points.
    """
    models = load_models(REPO / "models" / "base")
    paths, targets = load_labelled_images(FER_VAL, models.manifest.labels)
    size = models.manifest.input_size
    faces = np.stack([to_face(read_image(path), size) for path in paths])
    rng = np.random.default_rng(0)
    frames = [paste_face(face, rng).frame for face in faces]
    detector = FaceDetector("short", 0.5, 1)
    try:
        scenes = evaluate_scenes(models, frames, targets, detector)
    finally:
        detector.close()
    assert scenes.found is not None
    assert scenes.no_face <= 0.12 * len(frames)  # missed faces: a detector limit, not the crop's
    same_faces = evaluate_crops(models, faces[scenes.found], targets[scenes.found])
    assert scenes.found_accuracy >= same_faces.accuracy - 0.04

    # The same predictions scored against other labels: the folder labels give the same figure,
    # and a face the detector missed counts as wrong.
    assert scenes.accuracy_against(targets) == pytest.approx(scenes.accuracy)
    assert same_faces.accuracy_against(targets[scenes.found]) == pytest.approx(same_faces.accuracy)
    unscored = np.full(len(targets), -1)
    assert scenes.accuracy_against(unscored) is None
