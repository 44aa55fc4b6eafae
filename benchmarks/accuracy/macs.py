"""Multiply-accumulates per inference of TFLite models (``stream.codes.macs``), as a table.

``python -m benchmarks.accuracy.macs [MODEL.tflite ...]`` prints the count for each file, by
default every installed member of the model family, the two face detectors, the face mesh and
the iris model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.common.context import ROOT
from stream.codes.macs import count_macs
from stream.family import members as family_members


def default_models() -> list[Path]:
    members = [m.path for m in family_members(ROOT / "models")]
    names = ("encoder", "head", "decoder")
    models = [member / f"{name}.tflite" for member in members for name in names]
    shipped = [ROOT / "models" / name for name in ("detector", "landmarks")]
    return models + [path for folder in shipped for path in sorted(folder.glob("*.tflite"))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.accuracy.macs", description=__doc__)
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
