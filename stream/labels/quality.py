"""How face-like a crop is, from how well the int8 decoder reconstructs it from its code.

The autoencoder learnt faces; a crop far from the training faces (a hand, a wall, a profile)
reconstructs badly. ``quality`` is the share of training faces that reconstructed *worse* than
this crop (1: typical face, near 0: worse than almost every training face), read off the error
quantiles stored in the manifest. Below ``min_quality`` a face is flagged ``uncertain``.
"""

from __future__ import annotations

import numpy as np

from stream.codes.runner import ModelRunner, TensorSpec
from stream.labels.head import requantizer


class QualityScorer:
    def __init__(
        self, runner: ModelRunner, code_spec: TensorSpec, error_quantiles: list[float]
    ) -> None:
        self.runner = runner
        self._to_decoder = requantizer(code_spec, runner.input)
        self._errors = np.asarray(error_quantiles, np.float64)
        self._levels = np.linspace(0.0, 1.0, len(self._errors))

    def errors(self, crops: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Mean squared reconstruction error per crop, on the [0, 1] pixel scale."""
        recon = self.runner.output.dequantize(self.runner.run(self._to_decoder(codes)))
        target = crops.astype(np.float32) / 255.0
        return ((recon.reshape(target.shape) - target) ** 2).mean(axis=(1, 2))

    def quality(self, errors: np.ndarray) -> np.ndarray:
        return 1.0 - np.interp(errors, self._errors, self._levels)

    def score(self, crops: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Quality per crop (see the module docstring), from the crops and their codes."""
        return self.quality(self.errors(crops, codes))
