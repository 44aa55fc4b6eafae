"""Weight averaging: the running mean survives a resume; batch-norm statistics are recomputed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import keras

from train.average import WeightAverage, recompute_batch_norm


def dense_model() -> keras.Model:
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(2)(inputs))


def set_kernel(model: keras.Model, value: float) -> None:
    model.set_weights([np.full(w.shape, value, np.float32) for w in model.get_weights()])


def test_running_mean_resumes_without_counting_an_epoch_twice(tmp_path: Path) -> None:
    model = dense_model()
    path = tmp_path / "average.npz"
    first = WeightAverage(path)
    first.set_model(model)
    for epoch, value in enumerate((1.0, 2.0)):
        set_kernel(model, value)
        first.on_epoch_end(epoch)

    resumed = WeightAverage(path)
    resumed.set_model(model)
    assert resumed.count == 2
    set_kernel(model, 100.0)
    resumed.on_epoch_end(1)  # retrained after a crash between the two saves: already counted
    set_kernel(model, 6.0)
    resumed.on_epoch_end(2)

    resumed.apply(model)
    for weights in model.get_weights():
        np.testing.assert_allclose(weights, 3.0)


def test_batch_norm_statistics_are_the_mean_over_all_batches() -> None:
    inputs = keras.Input((2,))
    norm = keras.layers.BatchNormalization(momentum=0.99)
    model = keras.Model(inputs, norm(inputs))
    rng = np.random.default_rng(0)
    batches = [rng.normal(loc, 2.0, (64, 2)).astype(np.float32) for loc in (0.0, 4.0, 8.0)]

    recompute_batch_norm(model, [(batch,) for batch in batches])

    np.testing.assert_allclose(norm.moving_mean.numpy(), np.mean(batches, axis=(0, 1)), rtol=1e-5)
    expected_var = np.mean([batch.var(axis=0) for batch in batches], axis=0)
    np.testing.assert_allclose(norm.moving_variance.numpy(), expected_var, rtol=1e-4)
    assert norm.momentum == 0.99
