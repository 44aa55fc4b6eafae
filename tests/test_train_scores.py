"""Accuracy against labels with gaps, the calibration error, and the temperature fit."""

from __future__ import annotations

import numpy as np
import pytest

from train.scores import (
    OBJECTIVE,
    accuracy,
    expected_calibration_error,
    fit_temperature,
    holdout_objective,
    tempered,
)


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_accuracy_skips_faces_without_a_label() -> None:
    probs = np.asarray([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert accuracy(probs, np.asarray([0, 0, -1])) == 0.5
    assert accuracy(probs, np.asarray([-1, -1, -1])) is None


def test_calibration_error_is_the_weighted_gap_per_bin() -> None:
    # Ten faces at confidence 0.8, eight of them right: calibrated.
    probs = np.tile([[0.8, 0.2]], (10, 1))
    labels = np.asarray([0] * 8 + [1] * 2)
    assert expected_calibration_error(probs, labels) < 1e-9
    # All right at 0.8: under-confident by 0.2.
    assert abs(expected_calibration_error(probs, np.zeros(10, int)) - 0.2) < 1e-9


def test_the_fitted_temperature_undoes_an_over_confident_softmax() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (4000, 7))
    truth = softmax(logits)  # what the labels are drawn from
    labels = np.asarray([rng.choice(7, p=p) for p in truth])
    sharp = softmax(logits * 2.0)  # a model twice as confident as it should be
    temperature = fit_temperature([sharp], labels)
    assert 1.8 < temperature < 2.2
    before = expected_calibration_error(sharp, labels)
    after = expected_calibration_error(tempered([sharp], temperature), labels)
    assert after < before / 3


def test_the_holdout_objective_prefers_the_model_that_sees_every_class() -> None:
    """Accuracy and balanced accuracy choose differently here; the objective counts both."""
    labels = np.array([0] * 10 + [1] * 10 + [2] * 80)  # angry, disgust, neutral-like majority

    def probs_for(predicted: list[int]) -> np.ndarray:
        out = np.full((len(predicted), 3), 0.1)
        out[np.arange(len(predicted)), predicted] = 0.8
        return out

    # "mild": everything but a few angry faces called the common class: 82 % accurate.
    mild = probs_for([0, 0] + [2] * 8 + [2] * 10 + [2] * 80)
    # "balanced": finds most angry and disgust faces, at the cost of some common ones: 78 %.
    balanced = probs_for([0] * 8 + [2] * 2 + [1] * 8 + [2] * 2 + [2] * 62 + [0] * 9 + [1] * 9)
    assert accuracy(mild, labels) > accuracy(balanced, labels)
    assert holdout_objective(balanced, labels) > holdout_objective(mild, labels)
    assert holdout_objective(mild, labels) == pytest.approx((0.82 + (0.2 + 0.0 + 1.0) / 3) / 2)
    unlabelled = np.full(100, -1)
    assert holdout_objective(balanced, unlabelled) == 0.0
    assert "balanced accuracy" in OBJECTIVE
