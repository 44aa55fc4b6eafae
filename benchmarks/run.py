"""``python -m benchmarks.run``: run the benchmarks and print their figures as Markdown.

Each benchmark is a module with ``NAME`` and ``run(ctx) -> Section``; ``--only`` picks some,
``--quick`` shrinks every workload to a smoke run of a minute or two. Progress goes to stderr,
figures to stdout (and to ``--out``), ready to paste into ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import shlex
import sys
from pathlib import Path

from benchmarks.common.context import ROOT, make_context
from benchmarks.common.report import Section, machine_header
from stream.errors import EmostreamError
from stream.process import quiet_native_logs

log = logging.getLogger("benchmarks")

BENCHMARKS = {
    "throughput": "benchmarks.speed.throughput",
    "versus-fer": "benchmarks.speed.versus_fer",
    "accuracy": "benchmarks.accuracy.detection",
    "encoder": "benchmarks.speed.encoder_latency",
    "batch": "benchmarks.speed.batch_sizes",
    "ahead": "benchmarks.speed.detect_ahead",
    "threads": "benchmarks.speed.threads",
    "install": "benchmarks.deployment.install",
    "mqtt": "benchmarks.deployment.mqtt_bridge",
    "analyze": "benchmarks.speed.analyze_files",
    "site": "benchmarks.deployment.site",
    "store": "benchmarks.deployment.store_cost",
    "family": "benchmarks.accuracy.family",
    "mirror": "benchmarks.accuracy.mirror_video",
    "pose": "benchmarks.accuracy.pose",
    "gaze": "benchmarks.accuracy.gaze",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Measure emostream: throughput and per-stage latency, the fer package side "
        "by side, accuracy through the detection path, encoder latency per delegate.",
    )
    parser.add_argument("--quick", action="store_true", help="a few frames each: a smoke run")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(BENCHMARKS), metavar="NAME", help="run only these"
    )
    parser.add_argument("--models", type=Path, help="model folder (default: shipped, else tiny)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for the models (default: as `emostream run` has them; 2 where one "
        "component is timed alone)",
    )
    parser.add_argument("--out", type=Path, help="also write the Markdown report here")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    quiet_native_logs()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        log.setLevel(logging.INFO)
    names = [n for n in BENCHMARKS if args.only is None or n in args.only]
    try:
        ctx = make_context(args.quick, args.models, args.threads)
    except RuntimeError as exc:
        print(f"benchmarks: error: {exc}", file=sys.stderr)
        return 2
    command = shlex.join(["python", "-m", "benchmarks.run", *argv])
    header = [
        "# emostream benchmarks" + (" (quick smoke run)" if args.quick else ""),
        "",
        f"Produced by `{command}`",
        "",
        machine_header(ROOT, ctx.models, ctx.models_kind),
    ]
    if ctx.models_kind == "tiny":
        header.append(
            "- **tiny test models**: no shipped models yet; model-stage figures are not "
            "representative of the real encoder"
        )
    parts = ["\n".join(header)]
    print(parts[0], flush=True)
    failed = []
    for name in names:
        module = importlib.import_module(BENCHMARKS[name])
        log.info("running %s", name)
        try:
            section: Section = module.run(ctx)
        except (EmostreamError, RuntimeError, OSError) as exc:
            log.exception("%s failed", name)
            failed.append(name)
            section = Section(name, module.TITLE, ctx.command(name), notes=[f"FAILED: {exc}"])
        text = section.markdown()
        parts.append(text)
        print("\n" + text, flush=True)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    parts.append(f"Load average at the end: {load} on {os.cpu_count()} cores (the run adds 1–2).")
    print("\n" + parts[-1], flush=True)
    if args.out is not None:
        args.out.write_text("\n\n".join(parts) + "\n")
    if failed:
        log.error("failed: %s", ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
