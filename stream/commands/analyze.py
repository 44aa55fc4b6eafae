"""``emostream analyze``: recordings in, a table of expressions per face per frame out."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from stream.analysis.rows import TableWriter
from stream.analysis.runner import Outcome, analyze_all, expand
from stream.commands.argtypes import add_model_options, cadence, fraction, positive_int
from stream.faces.detector import MODELS as DETECTOR_MODELS
from stream.family import resolve_model_dir
from stream.models import Manifest
from stream.recognizer import VIDEO_DETECT_EVERY, VIDEO_LANDMARKS_EVERY, VIDEO_QUALITY_EVERY


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="analyse recordings: a table of expressions per face per frame, a summary, a plot",
        description=(
            "Read every frame of each video file, image folder or glob pattern, at full speed, "
            "through the same recognizer as run (same models, detector and cadence), and write "
            "one row per face per frame (a frame with no face gets one empty row): source, "
            "frame, time in the recording, track, box, detector score, label, confidence, the "
            "seven probabilities, quality and uncertain. Columns: stream/analysis/rows.py."
        ),
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="video, image folder or glob")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="write the table: .csv, .jsonl or .parquet (Parquet needs the [analysis] extra); "
        "without --out, --summary or --plot, CSV goes to stdout",
    )
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="draw each long track's expressions over time",
    )
    parser.add_argument(
        "--summary", action="store_true", help="print time on screen and expressions per track"
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="files analysed in parallel (default: one per core, at most one per file)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    model = parser.add_argument_group("models and faces (as for run)")
    add_model_options(model)
    model.add_argument("--delegate", default="cpu", help="cpu, edgetpu, gpu or a library path")
    model.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="model threads in all, split between the workers (default: one per core)",
    )
    model.add_argument("--detector", choices=sorted(DETECTOR_MODELS), default="short")
    model.add_argument("--min-score", type=fraction, default=0.5, help="detection threshold")
    model.add_argument("--max-faces", type=positive_int, default=8, help="faces per frame")
    model.add_argument(
        "--smoothing", type=fraction, default=0.4, help="weight of the newest frame per track"
    )
    model.add_argument("--detect-every", type=positive_int, default=VIDEO_DETECT_EVERY)
    model.add_argument("--quality-every", type=positive_int, default=VIDEO_QUALITY_EVERY)
    model.add_argument("--min-quality", type=fraction, default=None)
    model.add_argument(
        "--landmarks",
        type=cadence,
        default=VIDEO_LANDMARKS_EVERY,
        metavar="off|N",
        help="the face mesh's pose, eyes and mouth every Nth frame of a track (default: "
        "%(default)s)",
    )
    model.add_argument(
        "--gaze", action="store_true", help="also where the eyes point, at each face-mesh reading"
    )
    parser.set_defaults(handler=handle)


class Bars:
    """One tqdm bar per file, on stderr, only when it is a terminal and not ``--quiet``."""

    def __init__(self, sources: list[str], enabled: bool) -> None:
        self.sources = sources
        self.enabled = enabled
        self.bars: dict[int, Any] = {}

    def __call__(self, index: int, done: int, total: int | None) -> None:
        from tqdm import tqdm

        bar = self.bars.get(index)
        if bar is None:
            # The terminal's size, falling back to 80×24 where it reports 0 (tqdm then draws
            # nothing at all).
            size = shutil.get_terminal_size()
            bar = self.bars[index] = tqdm(
                total=total,
                desc=Path(self.sources[index]).name,
                unit="frame",
                position=len(self.bars),
                leave=True,
                ncols=size.columns,
                nrows=size.lines,
            )
        bar.update(done - bar.n)

    def finish(self, index: int) -> None:
        bar = self.bars.pop(index, None)
        if bar is not None:
            bar.close()


def _warn(message: str) -> None:
    print(f"emostream analyze: {message}", file=sys.stderr, flush=True)


def handle(args: argparse.Namespace) -> int:
    try:
        return _analyze(args)
    except BrokenPipeError:  # ``analyze clip.mp4 | head``: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _analyze(args: argparse.Namespace) -> int:
    from stream.analysis.plot import plot
    from stream.analysis.summary import render, summarise

    sources = expand(args.inputs)
    cores = os.cpu_count() or 1
    workers = min(args.workers or cores, len(sources))
    threads = args.threads or cores
    model_dir = resolve_model_dir(args.model, args.models)
    labels = Manifest.load(model_dir).labels
    options = {
        "models": model_dir,
        "detector": args.detector,
        "delegate": args.delegate,
        "threads": max(1, threads // workers),
        "min_score": args.min_score,
        "max_faces": args.max_faces,
        "smoothing": args.smoothing,
        "detect_every": args.detect_every,
        "quality_every": args.quality_every,
        "min_quality": args.min_quality,
        "landmarks": args.landmarks,
        "gaze": args.gaze,
    }
    to_stdout = args.out is None and args.plot is None and not args.summary
    with contextlib.ExitStack() as stack:
        writer = None
        if args.out is not None or to_stdout:
            writer = TableWriter(args.out, labels)
            stack.callback(writer.close)
        bars = Bars(sources, enabled=not args.quiet and sys.stderr.isatty())
        keep = args.summary or args.plot is not None
        rows: list[dict[str, Any]] = []
        failed = 0
        outcomes = analyze_all(sources, options, workers, bars if bars.enabled else None)
        for outcome in outcomes:
            bars.finish(outcome.index)
            failed += _report(outcome)
            if writer is not None:
                writer.write(outcome.rows)
            if keep:
                rows += outcome.rows
        if args.summary:
            print(render(summarise(rows, labels), labels))
        if args.plot is not None:
            plot(rows, labels, args.plot)
    return 1 if failed else 0


def _report(outcome: Outcome) -> int:
    if outcome.error is not None:
        _warn(f"error: {outcome.error}")
    return 0 if outcome.rows else 1
