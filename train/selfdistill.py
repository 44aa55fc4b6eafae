"""Progressive self-distillation for fine-tuning (PS-KD, Kim et al., ICCV 2021).

FER2013's labels are noisy (FER+ re-labelled about one face in ten), and a hard one-hot target
pushes the model to memorise the wrong ones. Here each face's target blends its label with what
the model itself predicted for that face one epoch earlier, and the blend's weight grows linearly
from 0 to ``final_weight`` over the run, so early epochs learn from labels and late ones are
softened by the model's own, smoother view. Unlike distilling from a teacher it costs no extra
forward pass: the predictions are the ones each training step makes anyway.
"""

from __future__ import annotations

from typing import Any

import keras

from train.labels import LABELS


class SelfDistillingModel(keras.Model):
    """The joint fine-tuning model, with a table of every training face's last prediction.

    Training batches carry each face's row number as ``y["index"]``; evaluation batches carry
    none and are scored against plain labels. The table is a model weight, so checkpoints and
    ``BackupAndRestore`` resume it with the rest; ``BlendSchedule`` sets the blend weight.
    """

    def __init__(self, inputs: Any, outputs: Any, samples: int, **kwargs: Any) -> None:
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.previous = self.add_weight(
            shape=(samples, len(LABELS)), initializer="zeros", trainable=False, name="previous"
        )
        self.blend = self.add_weight(shape=(), initializer="zeros", trainable=False, name="blend")

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        # Keras' JAX trainer also calls this, not training, on a training batch to build the
        # loss: the index goes either way, the blend only in training.
        if isinstance(y, dict) and "index" in y:
            index = y["index"]
            y = _without_index(y)
        else:
            index = None
        if training and index is not None:
            earlier = keras.ops.take(self.previous, index, axis=0)
            y["probs"] = (1.0 - self.blend) * y["probs"] + self.blend * earlier
            now = keras.ops.stop_gradient(keras.ops.cast(y_pred["probs"], "float32"))
            self.previous.assign(keras.ops.scatter_update(self.previous, index[:, None], now))
        return super().compute_loss(x, y, y_pred, sample_weight, training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return super().compute_metrics(x, _without_index(y), y_pred, sample_weight)


def _without_index(y: dict) -> dict:
    return {key: value for key, value in y.items() if key != "index"}


class BlendSchedule(keras.callbacks.Callback):
    """Sets the blend weight to ``final_weight × epoch / epochs`` as each epoch starts."""

    def __init__(self, final_weight: float, epochs: int) -> None:
        super().__init__()
        self.final_weight = final_weight
        self.epochs = epochs

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.model.blend.assign(self.final_weight * epoch / self.epochs)


def self_distilling(joint: keras.Model, samples: int) -> SelfDistillingModel:
    """``joint``'s layers, rewired into a model that keeps the prediction table."""
    return SelfDistillingModel(joint.input, joint.output, samples, name="joint_self_distilling")
