"""Benchmark: what a change in the number of faces costs, with one interpreter resized on every
change (before) against one interpreter per batch size (``InterpreterRunner`` now).

A live stream's face count changes all the time (twice the faces with the mirror average; the
decoder sees only the faces due for a quality score). Both ways run the same model file, in one
process, in interleaved rounds, on the same random crops, so the ratio holds on any machine.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from ai_edge_litert import interpreter as litert

from benchmarks.common.context import BenchContext
from benchmarks.common.report import Section, Table, machine_header
from stream.codes.delegates import quiet_native_stderr
from stream.codes.runner import InterpreterRunner
from stream.family import resolve_model_dir

NAME = "batch"
TITLE = "Changing face counts: one resized interpreter against one per batch size"
PATTERNS = {
    "steady, 1 face": [1],
    "1 and 2 faces, alternating": [1, 2],
    "1 to 4 faces, cycling": [1, 2, 3, 4],
}
ROUNDS = 5


class ResizingRunner:
    """The old way: one interpreter, resized and reallocated whenever the batch size changes."""

    def __init__(self, path: Path, threads: int) -> None:
        with quiet_native_stderr():
            self.interpreter = litert.Interpreter(model_path=str(path), num_threads=threads)
            self.interpreter.allocate_tensors()
        detail = self.interpreter.get_input_details()[0]
        self.input, self.shape = detail["index"], list(detail["shape"])
        self.output = self.interpreter.get_output_details()[0]["index"]
        self.batch = 1

    def run(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) != self.batch:
            with quiet_native_stderr():  # as the runner did: LiteRT may log on a resize
                self.interpreter.resize_tensor_input(self.input, [len(batch), *self.shape[1:]])
                self.interpreter.allocate_tensors()
            self.batch = len(batch)
        self.interpreter.set_tensor(self.input, batch)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output).copy()


def _ms_a_call(runner: Any, batches: list[np.ndarray], calls: int) -> float:
    start = time.perf_counter()
    for i in range(calls):
        runner.run(batches[i % len(batches)])
    return (time.perf_counter() - start) / calls * 1000.0


def measure(model: Path, threads: int, calls: int) -> list[list[str]]:
    probe = InterpreterRunner(model, threads=threads)
    spec = probe.input
    probe.run(np.zeros((2, *spec.shape[1:]), spec.dtype))
    if not probe._resizable:
        raise SystemExit(f"{model.name} cannot take a batch: it runs one face at a time either way")
    rng = np.random.default_rng(0)
    rows = []
    for name, sizes in PATTERNS.items():
        batches = [rng.integers(-128, 127, (n, *spec.shape[1:])).astype(spec.dtype) for n in sizes]
        before, after = ResizingRunner(model, threads), InterpreterRunner(model, threads=threads)
        for runner in (before, after):  # warm: every size seen once
            for batch in batches:
                runner.run(batch)
        times: dict[str, list[float]] = {"before": [], "after": []}
        for _ in range(ROUNDS):
            times["before"].append(_ms_a_call(before, batches, calls))
            times["after"].append(_ms_a_call(after, batches, calls))
        b, a = float(np.median(times["before"])), float(np.median(times["after"]))
        rows.append([name, f"{b:.3f}", f"{a:.3f}", f"{b / a:.2f}×"])
    return rows


def run(ctx: BenchContext) -> Section:
    model = ctx.models / "encoder.tflite"
    rows = measure(model, ctx.component_threads, 50 if ctx.quick else 400)
    table = Table(
        f"`{model.relative_to(ctx.models.parent)}`, {ctx.component_threads} threads, ms a call "
        f"(median of {ROUNDS} interleaved rounds)",
        ["face counts", "resized each change", "one per batch size", "speed-up"],
        rows,
    )
    return Section(NAME, TITLE, ctx.command(NAME), tables=[table])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.batch_sizes")
    parser.add_argument(
        "--model", type=Path, help="a .tflite file (default: the default member's encoder)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args(argv)
    model = args.model or resolve_model_dir() / "encoder.tflite"
    command = shlex.join(["python", "-m", "benchmarks.speed.batch_sizes", *(argv or sys.argv[1:])])
    table = Table(
        f"`{model}`, {args.threads} threads, ms a call (median of {ROUNDS} interleaved rounds)",
        ["face counts", "resized each change", "one per batch size", "speed-up"],
        measure(model, args.threads, args.calls),
    )
    print(machine_header(Path.cwd(), model.parent, "shipped"))
    print(Section(NAME, TITLE, command, tables=[table]).markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
