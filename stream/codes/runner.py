"""Run one int8 TFLite model on a batch, whatever the delegate.

Models are exported with a static batch of 1 (the Edge TPU needs it). On the CPU the interpreter
is resized to the batch so a frame's faces run in one call; where resizing is refused (Edge TPU,
transpose-conv models), the batch runs one face at a time. The caller never sees the difference.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stream.codes.delegates import litert, load_delegate, quiet_native_stderr
from stream.errors import DelegateError, ModelError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TensorSpec:
    """Shape (batch 1), dtype and affine quantization (real = scale × (q − zero_point))."""

    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float
    zero_point: int

    @classmethod
    def from_detail(cls, detail: dict) -> TensorSpec:
        scale, zero_point = detail["quantization"]
        return cls(
            tuple(int(d) for d in detail["shape"]), np.dtype(detail["dtype"]), scale, zero_point
        )

    def quantize(self, real: np.ndarray) -> np.ndarray:
        info = np.iinfo(self.dtype)
        q = np.round(real / self.scale) + self.zero_point
        return np.clip(q, info.min, info.max).astype(self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return (q.astype(np.float32) - self.zero_point) * np.float32(self.scale)

    def to_dict(self) -> dict:
        return {
            "shape": list(self.shape),
            "dtype": self.dtype.name,
            "scale": self.scale,
            "zero_point": self.zero_point,
        }


class ModelRunner(ABC):
    """One model file on one delegate, taking and returning quantized arrays, batch first."""

    path: Path
    delegate: str
    input: TensorSpec
    output: TensorSpec

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Quantized input (N, *shape[1:]) → quantized output (N, ...)."""
        if batch.dtype != self.input.dtype:
            raise ValueError(f"{self.path.name} takes {self.input.dtype}, got {batch.dtype}")
        if len(batch) == 0:
            return np.empty((0, *self.output.shape[1:]), self.output.dtype)
        return self._run(batch)

    @abstractmethod
    def _run(self, batch: np.ndarray) -> np.ndarray: ...


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    return path


class InterpreterRunner(ModelRunner):
    """The LiteRT interpreter: XNNPACK on the CPU, or a delegate (Edge TPU, a library path).

    On the CPU each batch size in use gets an interpreter of its own, allocated once: resizing
    one interpreter reallocates its tensors (and XNNPACK re-plans) on every change in the
    number of faces, which a live stream makes all the time. A stream's batch sizes are few
    (up to ``max_faces``, twice that with the mirror), and each costs the model's activations
    once, not per frame.
    """

    def __init__(self, path: str | Path, delegate: str = "cpu", threads: int = 2) -> None:
        self.path = _existing(path)
        self.delegate = delegate
        self._threads = threads
        first = self._make_interpreter(1)
        input_detail = first.get_input_details()[0]
        output_detail = first.get_output_details()[0]
        self.input = TensorSpec.from_detail(input_detail)
        self.output = TensorSpec.from_detail(output_detail)
        # Tensor indices are the same in every interpreter of one file; looking them up per call
        # costs more than a small model.
        self._input_index = input_detail["index"]
        self._output_index = output_detail["index"]
        self._interpreters: dict[int, Any] = {1: first}
        self._resizable = delegate == "cpu"

    def _make_interpreter(self, batch: int) -> Any:
        delegates = [] if self.delegate == "cpu" else [load_delegate(self.delegate)]
        try:
            with quiet_native_stderr():
                interpreter = litert.Interpreter(
                    model_path=str(self.path),
                    num_threads=self._threads,
                    experimental_delegates=delegates or None,
                )
                if batch != 1:
                    index = interpreter.get_input_details()[0]["index"]
                    shape = interpreter.get_input_details()[0]["shape"]
                    interpreter.resize_tensor_input(index, [batch, *shape[1:]])
                interpreter.allocate_tensors()
        except ValueError as exc:
            if delegates:
                raise DelegateError(
                    f"delegate {self.delegate} cannot run {self.path.name}"
                ) from exc
            raise ModelError(f"{self.path} is not a valid TFLite model") from exc
        return interpreter

    def _interpreter_for(self, batch: int) -> Any | None:
        """The interpreter for ``batch`` faces at once, made on first use; None where the model
        cannot take a batch (a delegate's fixed shapes), so faces go one at a time."""
        interpreter = self._interpreters.get(batch)
        if interpreter is not None or not self._resizable:
            return interpreter
        try:
            interpreter = self._make_interpreter(batch)
        except (RuntimeError, ValueError, ModelError):
            log.info(
                "%s cannot be resized to batch %d; running faces one by one", self.path.name, batch
            )
            self._resizable = False
            return None
        self._interpreters[batch] = interpreter
        return interpreter

    def _invoke(self, interpreter: Any, batch: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(self._input_index, batch)
        interpreter.invoke()
        return interpreter.get_tensor(self._output_index)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        interpreter = self._interpreter_for(len(batch))
        if interpreter is not None:
            return self._invoke(interpreter, batch).copy()
        single = self._interpreters[1]
        return np.concatenate([self._invoke(single, batch[i : i + 1]) for i in range(len(batch))])


class CompiledModelRunner(ModelRunner):
    """LiteRT's ``CompiledModel`` API with the GPU accelerator (CPU fallback for the rest)."""

    def __init__(self, path: str | Path) -> None:
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator

        self.path = _existing(path)
        self.delegate = "gpu"
        try:
            with quiet_native_stderr():
                self._model = CompiledModel.from_file(
                    str(self.path), hardware_accel=HardwareAccelerator.GPU | HardwareAccelerator.CPU
                )
                self._inputs = self._model.create_input_buffers(0)
                self._outputs = self._model.create_output_buffers(0)
        except RuntimeError as exc:
            raise DelegateError(
                "LiteRT GPU accelerator unavailable: it needs a GPU with an OpenCL or "
                "WebGPU/Vulkan driver (no GPU adapter was found)"
            ) from exc
        probe = litert.Interpreter(model_path=str(self.path))
        self.input = TensorSpec.from_detail(probe.get_input_details()[0])
        self.output = TensorSpec.from_detail(probe.get_output_details()[0])

    def _run(self, batch: np.ndarray) -> np.ndarray:
        size = int(np.prod(self.output.shape))
        outputs = []
        for item in batch:
            self._inputs[0].write(np.ascontiguousarray(item[None]))
            self._model.run_by_index(0, self._inputs, self._outputs)
            outputs.append(
                self._outputs[0].read(size, self.output.dtype).reshape(self.output.shape)
            )
        return np.concatenate(outputs)


def open_runner(path: str | Path, delegate: str = "cpu", threads: int = 2) -> ModelRunner:
    if delegate == "gpu":
        return CompiledModelRunner(path)
    return InterpreterRunner(path, delegate, threads)
