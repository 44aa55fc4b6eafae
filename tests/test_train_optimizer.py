"""Fine-tuning's optimizer: weight decay shrinks kernels and leaves 1-D parameters alone."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import keras

from train.config import FinetuneConfig
from train.fit import finetune_optimizer


def test_weight_decay_shrinks_kernels_but_not_norms_or_biases() -> None:
    inputs = keras.Input((4,))
    dense = keras.layers.Dense(3)
    norm = keras.layers.BatchNormalization()
    model = keras.Model(inputs, norm(dense(inputs)))
    for variable in model.trainable_variables:
        variable.assign(np.ones(variable.shape, np.float32))
    f = FinetuneConfig(learning_rate=0.1, weight_decay=0.5, warmup_epochs=0)
    optimizer = finetune_optimizer(f, steps=10, variables=model.trainable_variables)

    # Zero gradients leave Adam's own step at zero, so any change is the decay alone.
    zeros = [keras.ops.zeros(v.shape) for v in model.trainable_variables]
    optimizer.apply_gradients(zip(zeros, model.trainable_variables, strict=True))

    np.testing.assert_allclose(dense.kernel.numpy(), 1 - 0.1 * 0.5, rtol=1e-6)
    for variable in (dense.bias, norm.gamma, norm.beta):
        np.testing.assert_array_equal(variable.numpy(), 1.0)
