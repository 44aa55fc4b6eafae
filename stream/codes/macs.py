"""What a TFLite model costs, read from its graph: multiply-accumulates and parameters.

Milliseconds change with the machine; MACs do not. Counted for the layers that carry nearly all
the work (convolutions, depthwise and transposed convolutions, fully connected layers) from the
tensor shapes LiteRT reports; element-wise ops, pooling and resizing are left out. A transposed
convolution is counted per input pixel, the work a scatter implementation does (counting per
output pixel, as if the inserted zeros were multiplied, gives four times as much at stride 2).
Parameters are the elements of the constant tensors the ops read (weights and biases, after
batch norm is folded in), which is what ships.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from stream.codes.delegates import litert, quiet_native_stderr


def _interpreter(path: Path) -> Any:
    with quiet_native_stderr():
        return litert.Interpreter(
            model_path=str(path),
            experimental_op_resolver_type=litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )


def count_macs(path: Path) -> int:
    interpreter = _interpreter(path)
    shapes = {t["index"]: list(t["shape"]) for t in interpreter.get_tensor_details()}
    total = 0
    for op in interpreter._get_ops_details():
        name, inputs, outputs = op["op_name"], list(op["inputs"]), list(op["outputs"])
        if not outputs or outputs[0] < 0:
            continue
        out = shapes[outputs[0]]
        if name == "CONV_2D":
            _, kh, kw, cin = shapes[inputs[1]]
            total += math.prod(out) * kh * kw * cin
        elif name == "DEPTHWISE_CONV_2D":
            _, kh, kw, _ = shapes[inputs[1]]
            total += math.prod(out) * kh * kw
        elif name == "FULLY_CONNECTED":
            total += math.prod(out) * shapes[inputs[1]][-1]
        elif name == "TRANSPOSE_CONV":
            cout, kh, kw, _ = shapes[inputs[1]]
            total += math.prod(shapes[inputs[2]]) * kh * kw * cout
    return int(total)


def face_pass_macs(folder: Path, flip_average: bool = False) -> int:
    """What one face costs a member in ``folder``: encoder + head, twice with the mirror average.

    The decoder is left out: the quality score runs every few frames per track, not per face.
    """
    single = count_macs(folder / "encoder.tflite") + count_macs(folder / "head.tflite")
    return (2 if flip_average else 1) * single


def count_params(path: Path) -> int:
    interpreter = _interpreter(path)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()
    produced = {i for op in ops for i in op["outputs"]}
    graph_inputs = {d["index"] for d in interpreter.get_input_details()}
    constants = {
        i for op in ops for i in op["inputs"] if i >= 0 and i not in produced | graph_inputs
    }
    return int(sum(math.prod(tensors[i]["shape"].tolist()) for i in constants))
