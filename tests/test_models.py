"""The runtime's model set: manifest checks, batching, delegates and one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stream.codes.delegates import load_delegate
from stream.codes.runner import InterpreterRunner, open_runner
from stream.errors import DelegateError, ModelError
from stream.models import load_models


@pytest.fixture()
def model_copy(model_dir: Path, tmp_path: Path) -> Path:
    """A writable copy of the model folder, for tests that damage it."""
    return Path(shutil.copytree(model_dir, tmp_path / "models"))


def test_models_load_and_agree_with_the_manifest(model_dir: Path) -> None:
    models = load_models(model_dir)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert models.manifest.labels == tuple(manifest["labels"])
    crops = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    codes = models.encoder.encode(crops)
    assert codes.shape == (5, manifest["code_size"]) and codes.dtype == np.int8
    probs = models.head.probs(codes)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    quality = models.quality.quality(models.quality.errors(crops, codes))
    assert ((quality >= 0) & (quality <= 1)).all()


def test_a_batch_gives_the_same_codes_as_one_face_at_a_time(model_dir: Path) -> None:
    runner = InterpreterRunner(model_dir / "encoder.tflite")
    faces = np.random.default_rng(1).integers(0, 256, (6, 48, 48, 1), dtype=np.uint8)
    batched = runner.run(faces)
    single = np.concatenate(
        [InterpreterRunner(model_dir / "encoder.tflite").run(f[None]) for f in faces]
    )
    np.testing.assert_array_equal(batched, single)
    assert runner.run(faces[:0]).shape == (0, *batched.shape[1:])


def test_corrupt_model_file_is_refused(model_copy: Path) -> None:
    path = model_copy / "head.tflite"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="head.tflite does not match the sha256"):
        load_models(model_copy)


def test_missing_model_file_and_manifest(model_copy: Path) -> None:
    (model_copy / "decoder.tflite").unlink()
    with pytest.raises(ModelError, match="model file not found: .*decoder.tflite"):
        load_models(model_copy)
    (model_copy / "manifest.json").unlink()
    with pytest.raises(ModelError, match="no manifest.json"):
        load_models(model_copy)


def test_bad_manifest(model_copy: Path) -> None:
    path = model_copy / "manifest.json"
    path.write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_models(model_copy)
    path.write_text(json.dumps({"schema": "emostream.manifest/1"}))
    with pytest.raises(ModelError, match="missing or has a bad field"):
        load_models(model_copy)


def test_model_that_does_not_match_the_manifest_shapes(model_copy: Path) -> None:
    path = model_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["models"]["encoder"]["input"]["dtype"] = "int8"
    path.write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="encoder input is uint8"):
        load_models(model_copy)


def test_empty_file_is_not_a_model(tmp_path: Path) -> None:
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match="not a valid TFLite model"):
        InterpreterRunner(empty)


def test_edgetpu_without_runtime_says_what_to_install(model_dir: Path) -> None:
    with pytest.raises(DelegateError, match="libedgetpu1-std"):
        load_delegate("edgetpu")
    with pytest.raises(ModelError, match="no Edge TPU build"):
        load_models(model_dir, delegate="edgetpu")


def test_unknown_and_broken_delegates(tmp_path: Path) -> None:
    with pytest.raises(DelegateError, match="unknown delegate 'tpu'"):
        load_delegate("tpu")
    fake = tmp_path / "libfake_delegate.so"
    fake.write_bytes(b"\x7fELF not really")
    with pytest.raises(DelegateError, match="cannot load delegate"):
        load_delegate(str(fake))


def test_gpu_without_a_gpu_is_one_line(model_dir: Path) -> None:
    try:
        runner = open_runner(model_dir / "head.tflite", "gpu")
    except DelegateError as exc:
        assert "GPU" in str(exc) and "\n" not in str(exc)
    else:
        assert runner.run(np.zeros((1, *runner.input.shape[1:]), runner.input.dtype)).size


def test_a_head_with_other_labels_than_its_outputs_is_one_line(model_copy: Path) -> None:
    path = model_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["labels"] = manifest["labels"][:-1]
    path.write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="7 outputs, but the manifest names 6 labels"):
        load_models(model_copy)
    result = subprocess.run(
        [sys.executable, "-m", "stream", "run", "--source", "demo", "--models", str(model_copy),
         "--max-frames", "1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "6 labels" in result.stderr, result.stderr


def test_a_manifest_without_a_checksum_is_one_line(model_copy: Path) -> None:
    path = model_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["models"]["encoder"]["edgetpu"] = {"file": "encoder_edgetpu.tflite"}
    del manifest["models"]["head"]["sha256"]
    path.write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="no sha256 for the encoder's Edge TPU file"):
        load_models(model_copy, delegate="edgetpu")
    with pytest.raises(ModelError, match="no sha256 for the head"):
        load_models(model_copy)
