"""Benchmark 4: int8 encoder latency per delegate, thread count and batch size.

On the CPU the LiteRT interpreter (XNNPACK) runs with 1, 2 and 4 threads, on a batch of 1 face
and of 8 (one frame's worth at ``--max-faces 8``). Each delegate emostream knows is tried the way
``emostream run --delegate`` tries it; one that cannot load is reported as not present, with its
reason. Besides the encoder alone, the second column times all three models as the recognizer
runs them per frame (``classify_crops``: encoder, head, quality decoder).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable

import numpy as np

from benchmarks.common.context import BenchContext
from benchmarks.common.report import Section, Table
from benchmarks.common.stats import Summary
from stream.codes.delegates import load_delegate
from stream.errors import EmostreamError
from stream.models import Manifest, Models, load_models
from stream.recognizer import classify_crops

log = logging.getLogger(__name__)

NAME = "encoder"
TITLE = "Encoder latency per delegate"
THREADS = (1, 2, 4)
BATCHES = (1, 8)
ACCELERATORS = ("edgetpu", "gpu")
WARMUP = 10


def time_calls(call: Callable[[], object], iterations: int) -> Summary:
    for _ in range(WARMUP):
        call()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000.0)
    return Summary.of(samples)


def measure(table: Table, models: Models, label: str, threads: str, iterations: int) -> None:
    size = models.manifest.input_size
    crops = np.random.default_rng(0).integers(0, 256, (max(BATCHES), size, size), np.uint8)
    for batch in BATCHES:
        faces = crops[:batch]
        encoder = time_calls(lambda f=faces: models.encoder.encode(f), iterations)
        everything = time_calls(lambda f=faces: classify_crops(models, f), iterations)
        table.add(
            label,
            threads,
            batch,
            encoder.cell(3),
            f"{encoder.p50 / batch:.3f}",
            f"{1000.0 * batch / encoder.p50:.0f}",
            everything.cell(3),
        )


def run(ctx: BenchContext) -> Section:
    iterations = 50 if ctx.quick else 1000
    section = Section(NAME, TITLE, ctx.command(NAME))
    table = Table(
        "Encoder (and all three models) per call, ms",
        [
            "delegate",
            "threads",
            "batch",
            "encoder p50 / p99",
            "encoder ms per face",
            "faces/s",
            "encoder + head + quality p50 / p99",
        ],
    )
    for threads in THREADS:
        log.info("encoder: cpu, %d threads", threads)
        measure(
            table,
            load_models(ctx.models, "cpu", threads),
            "cpu (XNNPACK)",
            str(threads),
            iterations,
        )
    for delegate in ACCELERATORS:
        try:
            if delegate == "edgetpu":
                load_delegate(delegate)  # the runtime first: a missing one is the real reason
            models = load_models(ctx.models, delegate, ctx.component_threads)
        except (EmostreamError, RuntimeError, ImportError, OSError) as exc:
            section.notes.append(f"{delegate}: not present ({exc})")
            continue
        measure(table, models, delegate, "–", iterations)
    section.tables.append(table)
    flip = Manifest.load(ctx.models).flip_average
    section.notes[:0] = [
        f"{iterations} timed calls after {WARMUP} warm-up calls per row, on random crops (the "
        f"cost does not depend on the pixels); {os.cpu_count()} cores here, so more threads than "
        "that oversubscribe the machine.",
        "The last column is `classify_crops`, as the recognizer runs it per frame"
        + (
            ": the manifest asks for flip averaging, so the encoder and head see each face and "
            "its mirror (twice the batch), the quality decoder the face alone."
            if flip
            else "."
        ),
    ]
    return section


if __name__ == "__main__":
    from benchmarks.run import main

    raise SystemExit(main([*sys.argv[1:], "--only", NAME]))
