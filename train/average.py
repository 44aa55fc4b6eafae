"""Stochastic weight averaging (Izmailov et al., 2018) for the fine-tuned joint model.

Fine-tuning's holdout accuracy flattens while its train accuracy keeps climbing. Training on at a
constant learning rate and averaging the weights seen at each epoch's end lands in a wider optimum
that generalises better than any single checkpoint. The running batch-norm statistics belong to
none of the averaged weights, so they are recomputed for the average before it is used.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import keras
import numpy as np
from keras import layers

log = logging.getLogger(__name__)


class WeightAverage(keras.callbacks.Callback):
    """Running mean of the trainable weights at every epoch's end, kept on disk.

    The file is rewritten each epoch and read back on construction, so a run that
    ``BackupAndRestore`` resumes continues the same average, an epoch that was counted but not
    backed up is not counted twice, and a finished average is not trained again.
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.count = 0
        self.mean: list[np.ndarray] = []
        if self.path.exists():
            with np.load(self.path) as saved:
                self.count = int(saved["count"])
                self.mean = [saved[f"w{i}"] for i in range(len(saved.files) - 1)]
            log.info("average: resuming a mean of %d epochs", self.count)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch < self.count:
            return
        weights = [np.asarray(v.numpy(), np.float64) for v in self.model.trainable_weights]
        self.count += 1
        if not self.mean:
            self.mean = weights
        else:
            self.mean = [m + (w - m) / self.count for m, w in zip(self.mean, weights, strict=True)]
        partial = self.path.with_suffix(".partial")
        with partial.open("wb") as file:
            np.savez(file, count=self.count, **{f"w{i}": m for i, m in enumerate(self.mean)})
        partial.replace(self.path)

    def apply(self, model: keras.Model) -> None:
        """Give ``model`` the averaged weights (batch-norm statistics still need recomputing)."""
        for variable, mean in zip(model.trainable_weights, self.mean, strict=True):
            variable.assign(mean.astype(variable.dtype))


def recompute_batch_norm(model: keras.Model, batches: Iterable) -> None:
    """Replace every batch norm's running statistics by their mean over ``batches``.

    A momentum of ``i / (i + 1)`` at the ``i``-th batch turns Keras' exponential moving average
    into a plain cumulative mean, so every batch counts equally.
    """
    norms = [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, layers.BatchNormalization)
    ]
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.moving_mean.assign(np.zeros(norm.moving_mean.shape, np.float32))
        norm.moving_variance.assign(np.ones(norm.moving_variance.shape, np.float32))
    for i, (images, *_) in enumerate(batches):
        for norm in norms:
            norm.momentum = i / (i + 1)
        model(images, training=True)
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
