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
    """The head, with the member's temperature applied to what it outputs.

    A network's softmax is usually over-confident; the temperature ``T`` fitted on the holdout
    (``inference.temperature`` in the manifest) fixes that without changing which label wins.
    The int8 head outputs probabilities, not logits, and softmax(logits / T) equals
    p^(1/T) renormalised, so it is applied to those. A probability quantized to 0 stands for
    anything below half a quantization step and is read as that.
    """

    def __init__(
        self,
        runner: ModelRunner,
        code_spec: TensorSpec,
        labels: tuple[str, ...],
        temperature: float = 1.0,
    ) -> None:
        self.runner = runner
        self.labels = labels
        self.temperature = temperature
        self._floor = (runner.output.scale or 1e-6) / 2
        self._to_head = requantizer(code_spec, runner.input)
        if runner.output.shape[-1] != len(labels):
            raise ValueError(f"head has {runner.output.shape[-1]} outputs for {len(labels)} labels")

    def probs(self, codes: np.ndarray) -> np.ndarray:
        """Quantized codes (N, code_size) → probabilities (N, labels), each row summing to 1."""
        out = self.runner.output.dequantize(self.runner.run(self._to_head(codes)))
        out = np.clip(out, 0.0, None)
        if self.temperature != 1.0:
            out = np.maximum(out, self._floor) ** (1.0 / self.temperature)
        return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-6)
