"""The model family: ``emostream models``, ``--model NAME`` on every command, unknown names."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from stream.cli import build_parser
from stream.errors import ModelError
from stream.family import members, resolve_model_dir
from tests.tiny_models import astronaut_faces

MEMBER_KEYS = {"name", "default", "path", "macs", "params", "bytes", "accuracy", "ece"}


@pytest.fixture
def family(tmp_path: Path, model_dir: Path) -> Path:
    """Two members, ``base`` and ``small``, copies of the test models; ``small`` is the default."""
    root = tmp_path / "family"
    for name, macs in (("base", 230_000_000), ("small", 38_000_000)):
        folder = Path(shutil.copytree(model_dir, root / name))
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["name"] = name
        manifest["cost"] = {"macs_per_face": macs, "params": 1000, "bytes": 2000}
        (folder / "manifest.json").write_text(json.dumps(manifest))
    (root / "family.json").write_text(json.dumps({"default": "small", "why": "test"}))
    return root


def emostream(family: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "EMOSTREAM_MODELS"}
    return subprocess.run(
        [sys.executable, "-m", "stream", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env | {"EMOSTREAM_FAMILY": str(family)},
    )


def labelled(tmp_path: Path) -> Path:
    import numpy as np

    root = tmp_path / "data"
    faces = astronaut_faces(7, np.random.default_rng(0))
    for i, label in enumerate(("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")):
        (root / label).mkdir(parents=True)
        cv2.imwrite(str(root / label / "0.png"), faces[i])
    return root


def test_models_json_lists_each_member_with_cost_and_accuracy(family: Path) -> None:
    result = emostream(family, "models", "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [m["name"] for m in listed] == ["base", "small"]
    for member in listed:
        assert set(member) >= MEMBER_KEYS
        assert isinstance(member["macs"], int) and isinstance(member["bytes"], int)
        assert {"ferplus_val", "ferplus_val_unseen", "fer2013_val"} <= set(member["accuracy"])
    assert [m["default"] for m in listed] == [False, True]
    table = emostream(family, "models")
    assert table.returncode == 0 and "small (default)" in table.stdout and "38.0" in table.stdout


def test_model_picks_each_member_and_the_default_otherwise(family: Path, tmp_path: Path) -> None:
    data = labelled(tmp_path)
    for name in ("base", "small"):
        result = emostream(family, "evaluate", str(data), "--model", name, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["model"] == name
    default = emostream(family, "evaluate", str(data), "--json")
    assert json.loads(default.stdout)["model"] == "small"
    custom = emostream(family, "evaluate", str(data), "--models", str(family / "base"), "--json")
    assert json.loads(custom.stdout)["model"] == "base"


def test_an_unknown_name_is_one_line_listing_the_members(family: Path, tmp_path: Path) -> None:
    result = emostream(family, "evaluate", str(labelled(tmp_path)), "--model", "huge")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "emostream evaluate: error: unknown model 'huge' (installed: base, small)"
    )
    both = emostream(family, "run", "--source", "demo", "--model", "base", "--models", "x")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--source", "demo"],
        ["demo"],
        ["evaluate", "data"],
        ["analyze", "clip.mp4"],
    ],
)
def test_every_command_that_loads_models_takes_model(
    family: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.setenv("EMOSTREAM_FAMILY", str(family))
    monkeypatch.delenv("EMOSTREAM_MODELS", raising=False)
    args = build_parser().parse_args([*argv, "--model", "base"])
    assert resolve_model_dir(args.model, args.models) == family / "base"
    assert [m.name for m in members(family)] == ["base", "small"]
    with pytest.raises(ModelError, match="installed: base, small"):
        resolve_model_dir("nano", None)


def test_a_site_camera_can_pick_a_member(family: Path, tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[cameras.door]\nsource = "demo"\nmodel = "small"\n')
    result = emostream(family, "run", "--config", str(site), "--check")
    assert result.returncode == 0, result.stderr
    assert "--model small" in result.stdout


def test_the_shipped_family_lists_only_expression_models() -> None:
    names = [m.name for m in members()]
    assert "base" in names and "detector" not in names


def test_the_head_applies_the_members_temperature(model_dir: Path) -> None:
    import numpy as np

    from stream.models import load_models

    models = load_models(model_dir)
    faces = np.stack(astronaut_faces(4, np.random.default_rng(1)))
    codes = models.encoder.encode(faces)
    models.head.temperature = 1.0
    plain = models.head.probs(codes)
    models.head.temperature = 2.0
    soft = models.head.probs(codes)
    floor = models.head.runner.output.scale / 2
    expected = np.maximum(plain * 1.0, floor) ** 0.5
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(soft, expected, atol=2e-3)
    assert (soft.argmax(axis=1) == plain.argmax(axis=1)).all()
    assert soft.max(axis=1).mean() < plain.max(axis=1).mean()


BUDGETS = {"nano": 12_000_000, "small": 40_000_000}
"""Multiply-accumulates a face (encoder + head, twice with the mirror average), issue 18."""


@pytest.mark.parametrize("member", members(), ids=lambda m: m.name)
def test_each_shipped_member_is_full_int8_edge_tpu_ready_and_within_its_budget(member) -> None:
    from stream.codes.macs import face_pass_macs
    from stream.models import load_models
    from train.edgetpu import check_model

    assert member.manifest["name"] == member.name
    load_models(member.path)
    for part in ("encoder", "head", "decoder"):
        check_model(member.path / f"{part}.tflite")
    macs = face_pass_macs(member.path, member.manifest["inference"]["flip_average"])
    assert member.manifest["cost"]["macs_per_face"] == macs
    assert macs <= BUDGETS.get(member.name, macs)
    size = sum((member.path / f"{p}.tflite").stat().st_size for p in ("encoder", "head"))
    assert member.name != "base" or size <= 1_000_000
    assert member.manifest["inference"]["temperature"] > 0
