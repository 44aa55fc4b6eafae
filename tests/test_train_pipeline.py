"""A one-epoch tiny-model run through fit → export → evaluate → report, and the Edge TPU check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("tensorflow")

from ai_edge_litert.interpreter import Interpreter

from tests.tiny_models import build_tiny_models
from train.labels import LABELS


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    build_tiny_models(root)
    return root


def details(path: Path) -> tuple[dict, dict, list[str]]:
    interpreter = Interpreter(model_path=str(path))
    ops = [op["op_name"] for op in interpreter._get_ops_details()]
    return interpreter.get_input_details()[0], interpreter.get_output_details()[0], ops


@pytest.mark.parametrize(
    ("name", "in_dtype", "in_shape", "out_dtype", "out_shape"),
    [
        ("encoder", np.uint8, [1, 48, 48, 1], np.int8, [1, 8]),
        ("head", np.int8, [1, 8], np.uint8, [1, 7]),
        ("decoder", np.int8, [1, 8], np.uint8, [1, 48, 48, 1]),
    ],
)
def test_exported_models_are_full_int8_with_static_shapes(
    trained: Path, name: str, in_dtype, in_shape, out_dtype, out_shape
) -> None:
    inp, out, ops = details(trained / "models" / f"{name}.tflite")
    assert (inp["dtype"], inp["shape"].tolist()) == (in_dtype, in_shape)
    assert (out["dtype"], out["shape"].tolist()) == (out_dtype, out_shape)
    assert inp["shape_signature"].tolist() == in_shape
    assert inp["quantization"][0] > 0 and out["quantization"][0] > 0
    interpreter = Interpreter(model_path=str(trained / "models" / f"{name}.tflite"))
    float_tensors = [t for t in interpreter.get_tensor_details() if t["dtype"] == np.float32]
    assert not float_tensors
    assert "DEQUANTIZE" not in ops


def test_manifest_card_and_figures(trained: Path) -> None:
    from stream.models import load_models, sha256

    models = trained / "models"
    manifest = json.loads((models / "manifest.json").read_text())
    assert manifest["labels"] == list(LABELS)
    for entry in manifest["models"].values():
        assert entry["sha256"] == sha256(models / entry["file"])
    assert {"float", "int8", "int8_through_detection"} <= set(manifest["accuracy"]["val"])
    # calibrate ran before report, and report kept what it wrote
    assert manifest["inference"]["temperature"] > 0
    assert manifest["accuracy"]["ece"]["against"] == "fer2013"  # no votes for the tiny faces
    assert manifest["cost"]["macs_per_face"] > 0 and manifest["training"]["labels"] == "fer2013"
    assert len(manifest["quality"]["error_quantiles"]) == 101
    assert manifest["crop"]["scale"] > 0
    card = (models / "MODEL_CARD.md").read_text()
    for row in ("logistic regression", "linear SVM", "random forest", "dense head on frozen"):
        assert row in card
    for option in ("Random erasing", "Progressive self-distillation"):  # both on in TINY_CONFIG
        assert option in card
    assert "AdamW, peak rate 0.002, weight decay 0.0001 on kernels" in card
    assert "Training computes in `mixed_bfloat16` (weights stay float32)" in card
    for figure in ("confusion_matrix.png", "training_curves.png", "reconstructions.png"):
        assert cv2.imread(str(models / figure)) is not None
    runtime = load_models(models)
    probs = runtime.head.probs(runtime.encoder.encode(np.zeros((3, 48, 48), np.uint8)))
    assert probs.shape == (3, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-3)


def test_fit_resumes_by_skipping_finished_stages(trained: Path, caplog) -> None:
    from train import fit
    from train.config import load_config

    caplog.set_level("INFO")
    fit.fit(load_config(trained / "tiny.toml"), trained / "run", verbose=0)
    for stage in ("pretrain", "head", "finetune", "recalibrate"):
        assert f"{stage}: done already" in caplog.text


def test_edgetpu_check_catches_unsupported_op(tmp_path: Path) -> None:
    import keras
    import tensorflow as tf

    from train.edgetpu import EdgeTpuIncompatible, check_model
    from train.export import convert_int8

    inputs = keras.Input((8,))
    outputs = keras.layers.LeakyReLU(negative_slope=0.1)(keras.layers.Dense(4)(inputs))
    model = keras.Model(inputs, outputs)
    samples = np.random.default_rng(0).normal(size=(16, 8)).astype(np.float32)
    path = tmp_path / "leaky.tflite"
    path.write_bytes(convert_int8(model, samples, tf.int8, tf.int8))
    with pytest.raises(EdgeTpuIncompatible, match="LEAKY_RELU"):
        check_model(path)


def test_cli_help() -> None:
    help_text = subprocess.run(
        [sys.executable, "-m", "train", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("fit", "export", "evaluate", "report", "all"):
        assert command in help_text


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[model]\nfilterz = [1]\n", "error: unknown key model.'filterz'"),
        (
            'precision = "float16"\n',
            "error: precision must be one of auto, float32, mixed_bfloat16, not 'float16'",
        ),
        (
            '[finetune]\noptimizer = "adam"\n',
            "error: finetune.optimizer must be one of adamw, sgd, not 'adam'",
        ),
    ],
)
def test_bad_config_is_one_line(tmp_path: Path, toml: str, message: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(toml)
    result = subprocess.run(
        [sys.executable, "-m", "train", "fit", "--config", str(bad)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [message]


def test_a_run_resumes_only_under_the_config_it_started_with(trained: Path) -> None:
    from train.config import load_config
    from train.fit import RunDir, check_resumable

    run = trained / "run"
    toml = (trained / "tiny.toml").read_text()
    elsewhere = trained / "moved.toml"
    elsewhere.write_text(
        toml.replace(f"{trained}/val", "/data/elsewhere/val").replace(
            "calibration_samples = 16", "calibration_samples = 32"
        )
    )
    check_resumable(load_config(elsewhere), RunDir(run))  # data moved, export changed: fine

    longer = trained / "longer.toml"
    longer.write_text(toml.replace("[finetune]\nepochs = 1", "[finetune]\nepochs = 3"))
    result = subprocess.run(
        [sys.executable, "-m", "train", "fit", "--config", str(longer), "--run-dir", str(run)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {run} was started with another config (finetune.epochs differ): resume it with "
        f"--config {run}/config.toml, or start a new --run-dir"
    ]
