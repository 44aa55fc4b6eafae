"""``precision = "auto"``: both types timed on this machine, bfloat16 only if clearly faster."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.tiny_models import TINY_CONFIG
from train.cli import DEFAULT_CONFIG
from train.config import load_config
from train.fit import RunDir, run_precision
from train.precision import resolve_precision, step_seconds


def timer(float32: float, bfloat16: float):
    seconds = {"float32": float32, "mixed_bfloat16": bfloat16}
    asked: list[str] = []

    def time_step(precision: str) -> float:
        asked.append(precision)
        return seconds[precision]

    return time_step, asked


@pytest.mark.parametrize(
    ("float32", "bfloat16", "expected"),
    [(1.0, 0.7, "mixed_bfloat16"), (1.0, 1.5, "float32"), (1.0, 0.95, "float32")],
)
def test_auto_keeps_bfloat16_only_when_clearly_faster(
    float32: float, bfloat16: float, expected: str
) -> None:
    time_step, asked = timer(float32, bfloat16)
    assert resolve_precision("auto", time_step) == expected
    assert sorted(asked) == ["float32", "mixed_bfloat16"]


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_an_explicit_precision_is_kept_without_timing(precision: str) -> None:
    time_step, asked = timer(1.0, 0.1)
    assert resolve_precision(precision, time_step) == precision
    assert asked == []


def tiny_auto_config(tmp_path: Path):
    """The tiny test model set's config with ``precision = "auto"``."""
    config = tmp_path / "tiny.toml"
    text = TINY_CONFIG.format(root=tmp_path).replace('"mixed_bfloat16"', '"auto"')
    config.write_text(text)
    return load_config(config)


def test_step_seconds_times_real_steps_of_the_configured_model(tmp_path: Path) -> None:
    cfg = tiny_auto_config(tmp_path)
    for precision in ("float32", "mixed_bfloat16"):
        assert 0 < step_seconds(cfg, precision, steps=2) < 60


def test_a_run_times_auto_once_and_keeps_it_on_resume(tmp_path: Path) -> None:
    cfg = tiny_auto_config(tmp_path)
    assert cfg.precision == "auto"
    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    chosen = run_precision(cfg, run)
    assert chosen in ("float32", "mixed_bfloat16")
    assert run.read_metrics()["precision"] == chosen
    run.update_metrics(precision="other")  # what a resumed run recorded when it started
    assert run_precision(cfg, run) == "other"
    assert run_precision(load_config(DEFAULT_CONFIG), run) == "other"


def test_default_and_shipped_precision_are_auto(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    assert load_config(empty).precision == "auto"
    assert load_config(DEFAULT_CONFIG).precision == "auto"


def test_the_model_card_names_the_timed_type(tmp_path: Path) -> None:
    from train.report import _precision_text

    text = _precision_text(tiny_auto_config(tmp_path), {"precision": "float32"})
    assert text.startswith("`float32` (weights stay float32")
    assert 'chosen by `precision = "auto"`' in text


def test_train_step_benchmark_sizes_each_config(tmp_path: Path, capsys) -> None:
    from benchmarks.deployment.train_step import main as train_step
    from tests.tiny_models import write_tiny_dataset

    config = write_tiny_dataset(tmp_path)
    assert train_step([str(config), "--steps", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("- machine:") and "CPU flags" in lines[0]
    (row,) = [line for line in lines if line.startswith("| tiny.toml |")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    cfg = load_config(config)
    steps = math.ceil(round(7 * 10 * (1 - cfg.data.holdout_fraction)) / cfg.finetune.batch_size)
    assert cells[3] == str(cfg.finetune.batch_size)
    assert float(cells[5]) == pytest.approx(steps * float(cells[4]) / 1000, rel=0.01)
    assert cells[6].endswith(f"({cfg.finetune.epochs} epochs)")
    assert cells[7] == "tensorflow"
    assert float(cells[8]) == pytest.approx(1000 / float(cells[4]), rel=0.02)


@pytest.mark.slow
def test_train_step_benchmark_times_each_backend_in_its_own_process(tmp_path: Path, capsys) -> None:
    pytest.importorskip("jax")
    from benchmarks.deployment.train_step import main as train_step
    from tests.tiny_models import write_tiny_dataset

    config = write_tiny_dataset(tmp_path)
    assert train_step([str(config), "--steps", "1", "--backends", "tensorflow", "jax"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| tiny")]
    assert [row.strip("|").split("|")[7].strip() for row in rows] == ["tensorflow", "jax"]


def test_train_step_benchmark_names_a_missing_config(capsys) -> None:
    from benchmarks.deployment.train_step import main as train_step

    assert train_step(["/nowhere/x.toml"]) == 2
    assert capsys.readouterr().err.strip() == "train_step: error: no such config: /nowhere/x.toml"
