"""Fine-tuning's optimizers: weight decay shrinks kernels and leaves 1-D parameters alone."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import keras

from train.config import FinetuneConfig
from train.fit import finetune_optimizer


def _ones_model() -> tuple[keras.Model, keras.layers.Dense, keras.layers.BatchNormalization]:
    inputs = keras.Input((4,))
    dense = keras.layers.Dense(3)
    norm = keras.layers.BatchNormalization()
    model = keras.Model(inputs, norm(dense(inputs)))
    for variable in model.trainable_variables:
        variable.assign(np.ones(variable.shape, np.float32))
    return model, dense, norm


@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_weight_decay_shrinks_kernels_but_not_norms_or_biases(name: str) -> None:
    model, dense, norm = _ones_model()
    f = FinetuneConfig(optimizer=name, learning_rate=0.1, weight_decay=0.5, warmup_epochs=0)
    optimizer = finetune_optimizer(f, steps=10, variables=model.trainable_variables)

    # Zero gradients leave the optimizer's own step at zero, so any change is the decay alone.
    zeros = [keras.ops.zeros(v.shape) for v in model.trainable_variables]
    optimizer.apply_gradients(zip(zeros, model.trainable_variables, strict=True))

    np.testing.assert_allclose(dense.kernel.numpy(), 1 - 0.1 * 0.5, rtol=1e-6)
    for variable in (dense.bias, norm.gamma, norm.beta):
        np.testing.assert_array_equal(variable.numpy(), 1.0)


def test_sgd_steps_with_nesterov_momentum() -> None:
    model, dense, _ = _ones_model()
    f = FinetuneConfig(
        optimizer="sgd", learning_rate=0.1, momentum=0.9, weight_decay=0.0, warmup_epochs=0
    )
    optimizer = finetune_optimizer(f, steps=10, variables=model.trainable_variables)
    grads = [keras.ops.ones(v.shape) for v in model.trainable_variables]
    optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))

    # Nesterov's first step looks ahead along the new velocity: (1 + momentum) × rate × gradient,
    # where plain momentum would move by the rate × gradient alone.
    np.testing.assert_allclose(dense.kernel.numpy(), 1 - (1 + 0.9) * 0.1, rtol=1e-6)
