"""The int8 expression head: codes → probabilities over the seven expressions."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from stream.codes.runner import ModelRunner, TensorSpec
from stream.errors import ModelError


def requantizer(source: TensorSpec, target: TensorSpec) -> Callable[[np.ndarray], np.ndarray]:
    """A function moving int8 codes from one model's output scale to the next model's input.

    An 8-bit code has 256 values, so the move is a lookup table, built once: per frame it costs
    one indexing instead of a float round trip. Two exports' scales that agree to float32
    precision give the identity table, and then the codes pass through untouched.
    """
    if not (source.dtype.itemsize == target.dtype.itemsize == 1):
        return lambda codes: target.quantize(source.dequantize(codes))
    info = np.iinfo(source.dtype)
    values = np.arange(info.min, info.max + 1).astype(source.dtype)
    table = target.quantize(source.dequantize(values))
    if source.dtype == target.dtype and np.array_equal(table, values):
        return lambda codes: codes
    offset = -int(info.min)
    return lambda codes: table[codes.astype(np.intp) + offset]


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
        self._to_head = requantizer(code_spec, runner.input)
        if runner.output.shape[-1] != len(labels):
            raise ModelError(
                f"{runner.path.name} has {runner.output.shape[-1]} outputs, but the manifest "
                f"names {len(labels)} labels"
            )
        if runner.output.dtype.itemsize != 1:
            raise ModelError(
                f"{runner.path.name}: head output must be 8-bit quantized, not "
                f"{runner.output.dtype}"
            )
        self.temperature = temperature

    @property
    def temperature(self) -> float:
        return self._temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        """Every 8-bit output value, dequantized and tempered, in a table: one lookup a frame."""
        self._temperature = value
        spec = self.runner.output
        info = np.iinfo(spec.dtype)
        levels = np.arange(info.min, info.max + 1).astype(spec.dtype)
        out = np.clip(spec.dequantize(levels), 0.0, None)
        if value != 1.0:
            out = np.maximum(out, (spec.scale or 1e-6) / 2) ** (1.0 / value)
        self._tempered = out

    def probs(self, codes: np.ndarray) -> np.ndarray:
        """Quantized codes (N, code_size) → probabilities (N, labels), each row summing to 1."""
        raw = self.runner.run(self._to_head(codes))
        out = self._tempered[raw.astype(np.intp) - np.iinfo(raw.dtype).min]
        return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-6)
