"""The int8 expression head: codes → probabilities over the seven expressions."""

from __future__ import annotations

import numpy as np

from stream.codes.runner import ModelRunner, TensorSpec


def requantizer(source: TensorSpec, target: TensorSpec):
    """A function moving int8 codes from one model's output scale to the next model's input."""
    if (source.dtype, source.scale, source.zero_point) == (
        target.dtype,
        target.scale,
        target.zero_point,
    ):
        return lambda codes: codes
    return lambda codes: target.quantize(source.dequantize(codes))


class ExpressionHead:
    def __init__(self, runner: ModelRunner, code_spec: TensorSpec, labels: tuple[str, ...]) -> None:
        self.runner = runner
        self.labels = labels
        self._to_head = requantizer(code_spec, runner.input)
        if runner.output.shape[-1] != len(labels):
            raise ValueError(f"head has {runner.output.shape[-1]} outputs for {len(labels)} labels")

    def probs(self, codes: np.ndarray) -> np.ndarray:
        """Quantized codes (N, code_size) → probabilities (N, labels), each row summing to 1."""
        out = self.runner.output.dequantize(self.runner.run(self._to_head(codes)))
        out = np.clip(out, 0.0, None)
        return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-6)
