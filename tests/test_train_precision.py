"""``precision = "auto"``: both types timed on this machine, bfloat16 only if clearly faster."""

from __future__ import annotations

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
