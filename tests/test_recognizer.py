"""The recogniser's cadence: detection and quality scoring may skip frames, labelling never does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stream.faces.detector import FaceDetector
from stream.faces.tracker import IouTracker
from stream.models import load_models
from stream.recognizer import Recognizer


class Counting:
    """Wraps a callable and counts its calls."""

    def __init__(self, function) -> None:
        self.function = function
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.function(*args, **kwargs)


@pytest.fixture
def detector():
    detector = FaceDetector()
    yield detector
    detector.close()


def counted_recognizer(model_dir: Path, detector: FaceDetector, monkeypatch, **kwargs):
    models = load_models(model_dir)
    detect, score = Counting(detector.detect), Counting(models.quality.score)
    monkeypatch.setattr(detector, "detect", detect)
    monkeypatch.setattr(models.quality, "score", score)
    return Recognizer(models, detector, **kwargs), detect, score


def test_every_frame_by_default(astronaut, model_dir: Path, detector, monkeypatch) -> None:
    recognizer, detect, score = counted_recognizer(model_dir, detector, monkeypatch)
    for _ in range(4):
        assert len(recognizer.recognize(astronaut).faces) == 1
    assert (detect.calls, score.calls) == (4, 4)


def test_detection_and_quality_skip_frames_but_every_frame_is_labelled(
    astronaut, model_dir: Path, detector, monkeypatch
) -> None:
    recognizer, detect, score = counted_recognizer(
        model_dir, detector, monkeypatch, tracker=IouTracker(), detect_every=3, quality_every=4
    )
    results = [recognizer.recognize(astronaut) for _ in range(9)]
    assert detect.calls == 3  # frames 0, 3, 6
    assert score.calls == 3  # frames 0, 4, 8
    assert all(len(r.faces) == 1 for r in results)
    assert {r.faces[0].id for r in results} == {1}
    qualities = [r.faces[0].quality for r in results]
    assert qualities[:4] == [qualities[0]] * 4
    assert 0.0 <= min(qualities) <= max(qualities) <= 1.0
    reused = results[1]
    assert reused.latency_ms["detect"] < results[0].latency_ms["detect"]
    assert reused.faces[0].detection == results[0].faces[0].detection


def test_a_new_track_is_scored_at_once(astronaut, model_dir: Path, detector, monkeypatch) -> None:
    recognizer, _, score = counted_recognizer(
        model_dir, detector, monkeypatch, tracker=IouTracker(max_missed=0), quality_every=100
    )
    recognizer.recognize(astronaut)
    recognizer.recognize(np.zeros_like(astronaut))
    recognizer.recognize(np.zeros_like(astronaut))  # the track has expired by now
    assert recognizer.recognize(astronaut).faces[0].id == 2
    assert score.calls == 2


def test_quality_without_a_tracker_is_scored_every_frame(
    astronaut, model_dir: Path, detector, monkeypatch
) -> None:
    recognizer, _, score = counted_recognizer(model_dir, detector, monkeypatch, quality_every=5)
    for _ in range(3):
        recognizer.recognize(astronaut)
    assert score.calls == 3


@pytest.mark.parametrize("kwargs", [{"detect_every": 0}, {"quality_every": 0}])
def test_cadence_must_be_positive(model_dir: Path, detector, kwargs) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Recognizer(load_models(model_dir), detector, **kwargs)
