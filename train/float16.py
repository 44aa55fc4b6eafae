"""Store a float32 TFLite model's weights as float16, as MediaPipe ships its face mesh.

Each constant float32 tensor becomes a float16 tensor that a DEQUANTIZE op at the start of the
graph expands back to float32, so every kernel still computes in float32 and the file is about
half the size: what the TFLite converter's float16 option writes, done on a model we have only as
a .tflite (MediaPipe's iris model), with no SavedModel to convert from.
"""

from __future__ import annotations

from pathlib import Path

import flatbuffers
import numpy as np
from tensorflow.lite.python import schema_py_generated as schema

DEQUANTIZE_VERSION = 2
"""The op version a float16 input needs; MediaPipe's own float16 face mesh uses the same."""


def _dequantize_code(model: schema.ModelT) -> int:
    for index, code in enumerate(model.operatorCodes):
        if max(code.deprecatedBuiltinCode, code.builtinCode) == schema.BuiltinOperator.DEQUANTIZE:
            return index
    code = schema.OperatorCodeT()
    code.deprecatedBuiltinCode = code.builtinCode = schema.BuiltinOperator.DEQUANTIZE
    code.version = DEQUANTIZE_VERSION
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def halve(src: str | Path, dst: str | Path) -> int:
    """Write ``src`` with float16 weights to ``dst``; returns how many tensors were halved."""
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(Path(src).read_bytes(), 0))
    dequantize = _dequantize_code(model)
    halved = 0
    for graph in model.subgraphs:
        expand = []
        for index, tensor in enumerate(list(graph.tensors)):
            data = model.buffers[tensor.buffer].data
            if tensor.type != schema.TensorType.FLOAT32 or data is None or not len(data):
                continue
            weights = np.frombuffer(bytes(data), np.float32).astype(np.float16)
            stored = schema.BufferT()
            stored.data = np.frombuffer(weights.tobytes(), np.uint8)
            model.buffers.append(stored)
            model.buffers[tensor.buffer].data = None
            half = schema.TensorT()
            half.shape, half.name = tensor.shape, tensor.name + b"_fp16"
            half.type, half.buffer = schema.TensorType.FLOAT16, len(model.buffers) - 1
            graph.tensors.append(half)
            tensor.buffer = 0
            op = schema.OperatorT()
            op.opcodeIndex, op.inputs, op.outputs = dequantize, [len(graph.tensors) - 1], [index]
            expand.append(op)
        graph.operators = expand + graph.operators
        halved += len(expand)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    Path(dst).write_bytes(builder.Output())
    return halved
