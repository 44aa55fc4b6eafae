"""Argument parsing and dispatch for ``python -m train``; user errors become one line and exit 2."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("train")

DEFAULT_CONFIG = Path(__file__).with_name("configs") / "fer2013.toml"
BUDGET_SPENT = 3
"""Exit status of a fit stopped by ``--budget``: not a failure, not finished."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m train",
        description=(
            "Train emostream's face autoencoder and expression head, export them as full-int8 "
            "TFLite models and write the model card. Each stage resumes where it stopped."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="TOML config file")
        p.add_argument("--run-dir", type=Path, default=Path("runs/fer2013"), help="checkpoints")
        return p

    fit = add(
        "fit",
        "pre-train the autoencoder, fit the frozen-code head, fine-tune jointly, recalibrate",
    )
    fit.add_argument("--quiet", action="store_true", help="one line per epoch, no progress bar")
    fit.add_argument(
        "--budget",
        type=float,
        metavar="SECONDS",
        help="stop at the first epoch's end past this much wall time, checkpoint written, exit "
        "3; the same command resumes (for a lent machine that goes away)",
    )
    export = add("export", "write int8 encoder, head and decoder .tflite files and the op check")
    export.add_argument("--out", type=Path, default=Path("models"), help="model folder")
    evaluate = add("evaluate", "accuracy of float and int8 models and the ablations on val")
    evaluate.add_argument("--out", type=Path, default=Path("models"), help="model folder")
    calibrate = add(
        "calibrate",
        "fit the temperature on the holdout; score val by FER+ majority and FER2013 labels",
    )
    calibrate.add_argument("--out", type=Path, default=Path("models"), help="model folder")
    report = add("report", "write manifest.json, MODEL_CARD.md and its figures")
    report.add_argument("--out", type=Path, default=Path("models"), help="model folder")
    packer = sub.add_parser(
        "pack",
        help="put what a run needs (faces, votes, teacher, config) in one folder for a GPU",
        description="Write faces.npz, the votes, the teacher CSV and a config pointing at them "
        "into one folder of at most 60 MiB, for a lent GPU machine (train/GPU.md).",
    )
    packer.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="TOML config file")
    packer.add_argument("--out", type=Path, required=True, help="the pack's folder")
    packer.add_argument(
        "--with-val", action="store_true", help="also the val faces (6 MiB; fitting needs none)"
    )
    unpacker = sub.add_parser(
        "unpack",
        help="write a pack's faces back as image folders, with a config that reads them",
        description="On the GPU machine: the pack's faces as folders under --to, byte for byte, "
        "and --to/config.toml pointing at them.",
    )
    unpacker.add_argument("pack", type=Path, help="a folder made by python -m train pack")
    unpacker.add_argument("--to", type=Path, required=True, help="where to write the folders")
    halver = sub.add_parser(
        "halve",
        help="store a float32 .tflite model's weights as float16, computing in float32 still",
        description="Rewrite a float32 TFLite model with float16 weights and DEQUANTIZE ops that "
        "expand them at load (what the converter's float16 option writes), for a model there is "
        "only a .tflite of, such as MediaPipe's iris model in models/landmarks/.",
    )
    halver.add_argument("model", type=Path, help="the float32 .tflite model")
    halver.add_argument("--out", type=Path, required=True, help="where to write the halved model")
    teach = add("teach", "write a finished run's probabilities for every training face as CSV")
    teach.add_argument(
        "--csv", type=Path, required=True, help="where to write it ([distill] teacher reads it)"
    )
    everything = add("all", "fit, export, evaluate and report: data folder to models/")
    everything.add_argument("--out", type=Path, default=Path("models"), help="model folder")
    everything.add_argument("--quiet", action="store_true", help="one line per epoch")
    everything.add_argument("--budget", type=float, metavar="SECONDS", help="as for fit")
    return parser


def run(args: argparse.Namespace) -> int:
    from train.config import ConfigError, load_config
    from train.data import DataError

    try:
        if args.command in ("pack", "unpack"):
            return _pack(args)
        if args.command == "halve":
            return _halve(args)
        cfg = load_config(args.config)
        return _dispatch(args, cfg)
    except (ConfigError, DataError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as exc:
        from train.fit import BudgetSpent

        if not isinstance(exc, BudgetSpent):
            raise
        print(f"stopped: {exc}; rerun the same command to resume", file=sys.stderr)
        return BUDGET_SPENT


def _pack(args: argparse.Namespace) -> int:
    from train.pack import pack, unpack

    if args.command == "pack":
        out = pack(args.config, args.out, with_val=args.with_val)
        size = sum(p.stat().st_size for p in out.iterdir()) / 2**20
        print(f"packed {args.config} into {out} ({size:.1f} MiB)")
    else:
        print(f"unpacked into {args.to}; train with --config {unpack(args.pack, args.to)}")
    return 0


def _halve(args: argparse.Namespace) -> int:
    from train.float16 import halve

    if not args.model.is_file():
        raise FileNotFoundError(f"{args.model}: no such model file")
    count = halve(args.model, args.out)
    before, after = args.model.stat().st_size, args.out.stat().st_size
    print(f"{args.out}: {count} weight tensors in float16, {before:,} -> {after:,} bytes")
    return 0


def _dispatch(args: argparse.Namespace, cfg: Any) -> int:
    from train import fit

    verbose = 2 if getattr(args, "quiet", False) or not sys.stdout.isatty() else 1
    if args.command in ("fit", "all"):
        fit.fit(cfg, args.run_dir, verbose, getattr(args, "budget", None))
    if args.command in ("export", "all"):
        from train.export import export_run

        export_run(cfg, args.run_dir, args.out)
    if args.command in ("evaluate", "all"):
        from train.evaluate import evaluate_run

        evaluate_run(cfg, args.run_dir, args.out)
    if args.command in ("calibrate", "all"):
        from train.calibrate import calibrate_member

        calibrate_member(cfg, args.out)
    if args.command == "teach":
        from train.teach import write_teacher_csv

        write_teacher_csv(cfg, args.run_dir, args.csv)
    if args.command in ("report", "all"):
        from train.report import reproduce_command, write_report

        command = reproduce_command(args.config, args.run_dir, args.out)
        write_report(cfg, args.run_dir, args.out, command)
    return 0
