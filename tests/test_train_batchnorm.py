"""Batch-norm recalibration: running statistics become the plain mean over the given batches."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import keras

from train.batchnorm import recompute_batch_norm


def test_batch_norm_statistics_are_the_mean_over_all_batches() -> None:
    inputs = keras.Input((2,))
    norm = keras.layers.BatchNormalization(momentum=0.99)
    model = keras.Model(inputs, norm(inputs))
    rng = np.random.default_rng(0)
    batches = [rng.normal(loc, 2.0, (64, 2)).astype(np.float32) for loc in (0.0, 4.0, 8.0)]

    recompute_batch_norm(model, batches)

    np.testing.assert_allclose(norm.moving_mean.numpy(), np.mean(batches, axis=(0, 1)), rtol=1e-5)
    expected_var = np.mean([batch.var(axis=0) for batch in batches], axis=0)
    np.testing.assert_allclose(norm.moving_variance.numpy(), expected_var, rtol=1e-4)
    assert norm.momentum == 0.99
