"""Check that a TFLite model can run whole on the Edge TPU, and compile it when the compiler exists.

The check needs no Edge TPU tools: it lists every op of the model (with the LiteRT
interpreter) and compares them with the ops the Edge TPU compiler maps (coral.ai, "TensorFlow
models on the Edge TPU", supported operations), and requires int8/uint8 activations and static
shapes, the compiler's other two conditions. ``export`` runs it on every model it writes and
fails on the first violation.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

log = logging.getLogger(__name__)

EDGETPU_OPS = frozenset(
    {
        "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D",
        "EXPAND_DIMS", "FULLY_CONNECTED", "HARD_SWISH", "L2_NORMALIZATION", "LOGISTIC",
        "LSTM", "MAXIMUM", "MAX_POOL_2D", "MEAN", "MINIMUM", "MUL", "PACK", "PAD", "PRELU",
        "QUANTIZE", "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6", "RELU_N1_TO_1", "RESHAPE",
        "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SLICE", "SOFTMAX",
        "SPACE_TO_DEPTH", "SPLIT", "SQUARED_DIFFERENCE", "SQUEEZE", "STRIDED_SLICE", "SUB",
        "SUM", "TANH", "TRANSPOSE", "TRANSPOSE_CONV",
    }
)  # fmt: skip
QUANTIZED_TYPES = (np.int8, np.uint8)


class EdgeTpuIncompatible(ValueError):
    """A model the Edge TPU compiler would not map whole; the message lists why."""


@dataclass(frozen=True)
class OpReport:
    """The ops of one model, and what keeps it off the Edge TPU (empty when nothing does)."""

    ops: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def inspect_model(path: str | Path) -> OpReport:
    interpreter = Interpreter(model_path=str(path))
    ops = tuple(op["op_name"] for op in interpreter._get_ops_details())
    problems: list[str] = []
    unsupported = sorted(set(ops) - EDGETPU_OPS)
    if unsupported:
        problems.append(f"ops not supported by the Edge TPU: {', '.join(unsupported)}")
    for detail in interpreter.get_input_details() + interpreter.get_output_details():
        if detail["dtype"] not in QUANTIZED_TYPES:
            problems.append(f"tensor {detail['name']} is {np.dtype(detail['dtype']).name}")
        if (np.asarray(detail["shape_signature"]) < 0).any():
            problems.append(f"tensor {detail['name']} has a dynamic shape")
    for tensor in interpreter.get_tensor_details():
        if np.dtype(tensor["dtype"]) == np.float32:
            problems.append(f"float tensor {tensor['name']} (model is not fully integer)")
            break
    return OpReport(ops, tuple(problems))


def check_model(path: str | Path) -> OpReport:
    """Raise :class:`EdgeTpuIncompatible` unless every op and tensor suits the Edge TPU."""
    report = inspect_model(path)
    if not report.ok:
        raise EdgeTpuIncompatible(f"{path}: {'; '.join(report.problems)}")
    return report


def compile_if_available(path: str | Path) -> Path | None:
    """Run ``edgetpu_compiler`` when it is on PATH; returns the ``*_edgetpu.tflite`` it wrote."""
    compiler = shutil.which("edgetpu_compiler")
    if compiler is None:
        return None
    path = Path(path)
    subprocess.run(
        [compiler, "--out_dir", str(path.parent), "--show_operations", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    compiled = path.with_name(f"{path.stem}_edgetpu.tflite")
    log.info("compiled %s", compiled)
    return compiled
