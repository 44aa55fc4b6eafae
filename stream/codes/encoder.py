"""The int8 encoder: aligned 48×48 grayscale face crops → compact int8 codes."""

from __future__ import annotations

import numpy as np

from stream.codes.runner import ModelRunner, TensorSpec


class FaceEncoder:
    """Feeds uint8 crops to the encoder, quantizing only when its input is not raw pixels."""

    def __init__(self, runner: ModelRunner) -> None:
        self.runner = runner
        spec = runner.input
        self.size = spec.shape[1]
        self._raw_pixels = (
            spec.dtype == np.uint8 and spec.zero_point == 0 and abs(spec.scale * 255 - 1) < 1e-3
        )

    @property
    def code_spec(self) -> TensorSpec:
        return self.runner.output

    def encode(self, crops: np.ndarray) -> np.ndarray:
        """uint8 crops (N, size, size) → quantized codes (N, code_size)."""
        batch = crops[..., None]
        if not self._raw_pixels:
            batch = self.runner.input.quantize(batch.astype(np.float32) / 255.0)
        return self.runner.run(np.ascontiguousarray(batch))
