"""``python -m train halve``: float16 weights, float32 arithmetic, the same answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from ai_edge_litert.interpreter import Interpreter  # noqa: E402

from train.__main__ import main as train_main  # noqa: E402


def outputs(model: Path, x: np.ndarray) -> np.ndarray:
    interpreter = Interpreter(model_path=str(model))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def test_halved_model_is_half_the_size_and_answers_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keras = tf.keras
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.DepthwiseConv2D(3),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )
    source = tmp_path / "float32.tflite"
    source.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    halved = tmp_path / "float16.tflite"
    assert train_main(["halve", str(source), "--out", str(halved)]) == 0
    assert "weight tensors in float16" in capsys.readouterr().out
    assert halved.stat().st_size < 0.6 * source.stat().st_size
    x = np.random.default_rng(0).random((1, 16, 16, 3), np.float32)
    np.testing.assert_allclose(outputs(halved, x), outputs(source, x), rtol=1e-2, atol=1e-2)


def test_a_missing_model_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.tflite"
    assert train_main(["halve", str(missing), "--out", str(tmp_path / "x")]) == 2
    assert (
        capsys.readouterr().err.strip() == f"error: {tmp_path / 'none.tflite'}: no such model file"
    )
