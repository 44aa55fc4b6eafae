"""What a training config costs on this machine, before a session is spent finding out.

``python -m benchmarks.deployment.train_step [CONFIG.toml ...]`` (default: every config in
``train/configs``) times the joint fine-tuning step of each config's network in float32 (the
median of a few steps on random faces at its batch size, after one untimed step), and scales it
to an epoch and to the whole fine-tuning stage. A run that outlasts a session resumes, but its
checkpoints may not outlive the machine, so the figure that matters is whether the whole run fits
one session. Progress goes to stderr; the table, headed by the machine and its CPU flags, to
stdout.

Steps on 2 cores are not proportional to MACs: on small feature maps each layer's fixed work
dominates, which is why this times the network rather than counting it.

``--backends tensorflow jax`` times every config under each Keras backend, each in a process of
its own (the backend is fixed when Keras is first imported), in one table: the CPU's default
(TensorFlow) against what a lent GPU runs (JAX); run there, the same command times the GPU.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import subprocess
import sys
from pathlib import Path

import keras

from benchmarks.common.context import ROOT
from benchmarks.common.report import cpu_model
from stream.cpu import cpu_flags
from train.config import TrainConfig, load_config
from train.data import IMAGE_SUFFIXES
from train.model import build_encoder
from train.precision import step_seconds

log = logging.getLogger("benchmarks")


def training_faces(cfg: TrainConfig) -> int | None:
    """Faces in one fine-tuning epoch: the train folder less the holdout, or None without it."""
    folder = Path(cfg.data.train)
    if not folder.is_dir():
        return None
    count = sum(1 for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    return round(count * (1 - cfg.data.holdout_fraction))


def encoder_params(cfg: TrainConfig) -> int:
    return build_encoder(cfg.model, cfg.data.image_size).count_params()


def _figure(value: float) -> str:
    """Three significant figures, without an exponent for the large ones."""
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def row(path: Path, steps: int) -> str:
    cfg = load_config(path)
    log.info("timing %s", path.name)
    params = encoder_params(cfg)
    seconds = step_seconds(cfg, "float32", steps=steps)
    faces = training_faces(cfg)
    if faces is None:
        epoch = whole = "– (no train folder)"
    else:
        per_epoch = math.ceil(faces / cfg.finetune.batch_size) * seconds
        epoch = _figure(per_epoch)
        whole = f"{_figure(per_epoch * cfg.finetune.epochs / 60)} ({cfg.finetune.epochs} epochs)"
    m = cfg.model
    network = f"{m.block}, {list(m.filters)} × {list(m.convs_per_block)}"
    return (
        f"| {path.name} | {network} | {params:,} | {cfg.finetune.batch_size} "
        f"| {_figure(seconds * 1000)} | {epoch} | {whole} | {keras.backend.backend()} "
        f"| {_figure(1 / seconds)} |"
    )


def rows_on(backend: str, configs: list[Path], steps: int) -> list[str]:
    """The rows for ``configs`` timed under ``backend``, in a process of its own."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.deployment.train_step", *map(str, configs),
         "--steps", str(steps), "--rows-only"],
        env={**os.environ, "KERAS_BACKEND": backend}, cwd=ROOT,
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return [f"| – | {backend} failed: {last} | | | | | | {backend} | |"]
    return [line for line in done.stdout.splitlines() if line.startswith("| ")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.deployment.train_step", description=__doc__
    )
    parser.add_argument(
        "configs", nargs="*", type=Path, help="training configs (default: train/configs/*.toml)"
    )
    parser.add_argument("--steps", type=int, default=5, help="timed steps per config")
    parser.add_argument(
        "--backends",
        nargs="+",
        metavar="NAME",
        help="time under each of these Keras backends (tensorflow, jax, torch) in turn",
    )
    parser.add_argument("--rows-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    configs = args.configs or sorted((ROOT / "train" / "configs").glob("*.toml"))
    missing = [str(p) for p in configs if not p.is_file()]
    if missing:
        print(f"train_step: error: no such config: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.rows_only:
        for path in configs:
            print(row(path, args.steps), flush=True)
        return 0
    print(f"- machine: {cpu_model()}; CPU flags: {cpu_flags() or 'none of avx2/avx512/amx'}")
    print()
    print(
        "| config | encoder | encoder params | batch | ms a fine-tuning step (float32) "
        "| s an epoch | fine-tuning min | backend | steps a second |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    if args.backends:
        for backend in args.backends:
            log.info("timing under %s", backend)
            print("\n".join(rows_on(backend, configs, args.steps)), flush=True)
        return 0
    for path in configs:
        print(row(path, args.steps), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
