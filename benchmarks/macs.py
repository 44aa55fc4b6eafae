"""Multiply-accumulates per inference of a TFLite model, read from its graph.

Milliseconds change with the machine; MACs do not. Counted for the layers that carry nearly all
the work (convolutions, depthwise and transposed convolutions, fully connected layers) from the
tensor shapes LiteRT reports; element-wise ops, pooling and resizing are left out. A transposed
convolution is counted per input pixel, the work a scatter implementation does (counting per
output pixel, as if the inserted zeros were multiplied, gives four times as much at stride 2).

``python -m benchmarks.macs [MODEL.tflite ...]`` prints the count for each file, by default the
shipped expression models and the two face detectors.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from benchmarks.context import ROOT
from stream.codes.delegates import litert, quiet_native_stderr


def count_macs(path: Path) -> int:
    with quiet_native_stderr():
        interpreter = litert.Interpreter(
            model_path=str(path),
            experimental_op_resolver_type=litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
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
    return total


def default_models() -> list[Path]:
    models = [ROOT / "models" / f"{name}.tflite" for name in ("encoder", "head", "decoder")]
    return models + sorted((ROOT / "models" / "detector").glob("*.tflite"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.macs", description=__doc__)
    parser.add_argument("models", nargs="*", type=Path, help="TFLite files (default: shipped)")
    args = parser.parse_args(argv)
    print("| model | M MACs per inference |")
    print("| --- | --- |")
    for path in args.models or default_models():
        print(
            f"| {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} "
            f"| {count_macs(path) / 1e6:.3f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
