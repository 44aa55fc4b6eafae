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
    """The LiteRT interpreter: XNNPACK on the CPU, or a delegate (Edge TPU, a library path)."""

    def __init__(self, path: str | Path, delegate: str = "cpu", threads: int = 2) -> None:
        self.path = _existing(path)
        self.delegate = delegate
        self._threads = threads
        self._interpreter = self._make_interpreter()
        input_detail = self._interpreter.get_input_details()[0]
        output_detail = self._interpreter.get_output_details()[0]
        self.input = TensorSpec.from_detail(input_detail)
        self.output = TensorSpec.from_detail(output_detail)
        # Tensor indices survive resizing; looking them up per call costs more than a small model.
        self._input_index = input_detail["index"]
        self._output_index = output_detail["index"]
        self._batch = 1
        self._resizable = delegate == "cpu"

    def _make_interpreter(self):
        delegates = [] if self.delegate == "cpu" else [load_delegate(self.delegate)]
        try:
            with quiet_native_stderr():
                interpreter = litert.Interpreter(
                    model_path=str(self.path),
                    num_threads=self._threads,
                    experimental_delegates=delegates or None,
                )
                interpreter.allocate_tensors()
        except ValueError as exc:
            if delegates:
                raise DelegateError(
                    f"delegate {self.delegate} cannot run {self.path.name}"
                ) from exc
            raise ModelError(f"{self.path} is not a valid TFLite model") from exc
        return interpreter

    def _resize(self, batch: int) -> bool:
        if batch == self._batch:
            return True
        if not self._resizable:
            return False
        try:
            with quiet_native_stderr():
                self._interpreter.resize_tensor_input(
                    self._input_index, [batch, *self.input.shape[1:]]
                )
                self._interpreter.allocate_tensors()
        except (RuntimeError, ValueError):
            log.info(
                "%s cannot be resized to batch %d; running faces one by one", self.path.name, batch
            )
            self._resizable = False
            self._interpreter = self._make_interpreter()
            self._batch = 1
            return False
        self._batch = batch
        return True

    def _invoke(self, batch: np.ndarray) -> np.ndarray:
        self._interpreter.set_tensor(self._input_index, batch)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output_index)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if self._resize(len(batch)):
            return self._invoke(batch).copy()
        return np.concatenate([self._invoke(batch[i : i + 1]) for i in range(len(batch))])


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
