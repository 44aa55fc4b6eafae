"""Self-distillation keeps every training face's latest prediction and blends it into the target."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import keras
import tensorflow as tf

from train.config import ModelConfig
from train.labels import LABELS
from train.model import build_decoder, build_encoder, build_head, build_joint
from train.selfdistill import BlendSchedule, self_distilling


def test_table_fills_with_predictions_and_blend_grows_per_epoch() -> None:
    keras.utils.set_random_seed(0)
    cfg = ModelConfig(
        filters=(4, 8), convs_per_block=(1, 1), code_size=8, head_units=8, decoder_filters=(8, 4)
    )
    joint = build_joint(build_encoder(cfg), build_head(cfg), build_decoder(cfg))
    n = 20
    model = self_distilling(joint, samples=n)
    model.compile(
        optimizer="adam",
        loss={"probs": "categorical_crossentropy", "reconstruction": "mse"},
        metrics={"probs": ["accuracy"]},
    )
    rng = np.random.default_rng(0)
    x = rng.random((n, 48, 48, 1), dtype=np.float32)
    y = np.eye(len(LABELS), dtype=np.float32)[rng.integers(0, len(LABELS), n)]
    train = tf.data.Dataset.from_tensor_slices(
        (x, {"probs": y, "reconstruction": x, "index": np.arange(n, dtype=np.int32)})
    ).batch(8)
    holdout = tf.data.Dataset.from_tensor_slices((x, {"probs": y, "reconstruction": x})).batch(8)

    history = model.fit(
        train, validation_data=holdout, epochs=3, verbose=0, callbacks=[BlendSchedule(0.6, 3)]
    )

    table = model.previous.numpy()
    np.testing.assert_allclose(table.sum(axis=1), 1.0, rtol=1e-3)
    assert float(model.blend.numpy()) == pytest.approx(0.6 * 2 / 3)
    assert {"probs_accuracy", "val_probs_accuracy"} <= set(history.history)
    assert np.isfinite(history.history["loss"]).all()
