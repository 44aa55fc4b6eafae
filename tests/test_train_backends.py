"""Training on JAX with TensorFlow unimportable, exporting on TensorFlow, and resuming across them.

A lent GPU machine has JAX but no TensorFlow. Here a tiny run fits in a process whose
``KERAS_BACKEND`` is ``jax`` and in which ``import tensorflow`` fails; this process then exports
its checkpoints with TensorFlow, loads the int8 models in LiteRT and compares their top labels
with the JAX-trained Keras model's. A run stopped by its wall-clock budget after one epoch on
JAX finishes on TensorFlow from that epoch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("jax", reason="the [train] extra's JAX is not installed")

from stream.models import load_models
from tests.tiny_models import write_tiny_dataset

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "train" / "configs" / "tiny.toml"
SHARED_FER = REPO.parent / "shared" / "datasets" / "fer2013" / "train"

JAX_FIT = """
import sys


class NoTensorFlow:
    \"\"\"An import hook: on a lent GPU machine TensorFlow is simply not there.\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ImportError("no TensorFlow on this machine")
        return None


sys.meta_path.insert(0, NoTensorFlow())
import keras
assert keras.backend.backend() == "jax", keras.backend.backend()
from train.__main__ import main
code = main(sys.argv[1:])
assert "tensorflow" not in sys.modules, "TensorFlow was imported"
if code == 0:
    import numpy as np
    from train.config import load_config
    from train.fit import RunDir, float_probs, load_splits
    run = RunDir(sys.argv[sys.argv.index("--run-dir") + 1])
    faces = load_splits(load_config(sys.argv[sys.argv.index("--config") + 1])).val.images[:8]
    encoder = keras.models.load_model(run.model("encoder"))
    head = keras.models.load_model(run.model("head"))
    np.save(run.path("jax_probs.npy"), float_probs(encoder, head, faces, flip=False))
sys.exit(code)
"""


def fit_on_jax(config: Path, run: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    return subprocess.run(
        [sys.executable, "-c", JAX_FIT, "fit", "--config", str(config), "--run-dir", str(run),
         "--quiet", *extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


@pytest.mark.slow
def test_a_run_fitted_on_jax_exports_on_tensorflow_and_agrees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On ``train/configs/tiny.toml`` (a few hundred faces of ../shared) where the data is here,
    else on the astronaut's faces."""
    from train.__main__ import main as train_main
    from train.config import load_config
    from train.fit import load_splits

    monkeypatch.chdir(REPO)  # tiny.toml's data paths are relative to the repository
    config = TINY if SHARED_FER.is_dir() else write_tiny_dataset(tmp_path)
    run = tmp_path / "run"
    fitted = fit_on_jax(config, run)
    assert fitted.returncode == 0, fitted.stderr[-3000:]
    out = tmp_path / "models"
    argv = ["--config", str(config), "--run-dir", str(run), "--out", str(out)]
    assert train_main(["export", *argv]) == 0
    assert train_main(["evaluate", *argv]) == 0  # writes the manifest the runtime checks
    faces = load_splits(load_config(config)).val.images[:8]
    models = load_models(out)
    models.head.temperature = 1.0
    int8 = models.head.probs(models.encoder.encode(faces))
    keras_probs = np.load(run / "jax_probs.npy")
    agree = np.mean(int8.argmax(axis=1) == keras_probs.argmax(axis=1))
    assert agree >= 0.75, (int8.argmax(axis=1), keras_probs.argmax(axis=1))


@pytest.mark.slow
def test_a_run_stopped_by_its_budget_on_jax_resumes_on_tensorflow(tmp_path: Path) -> None:
    from train.__main__ import main as train_main

    config = write_tiny_dataset(tmp_path)
    text = config.read_text()
    config.write_text(text.replace("[pretrain]\nepochs = 1", "[pretrain]\nepochs = 3"))
    run = tmp_path / "run"
    stopped = fit_on_jax(config, run, "--budget", "0")
    assert stopped.returncode == 3, stopped.stderr[-3000:]
    assert "rerun the same command to resume" in stopped.stderr
    assert len((run / "pretrain_log.csv").read_text().splitlines()) == 2  # header + epoch 1
    assert not (run / "models" / "encoder_pretrained.keras").exists()

    assert train_main(["fit", "--config", str(config), "--run-dir", str(run), "--quiet"]) == 0
    epochs = [line.split(",")[0] for line in (run / "pretrain_log.csv").read_text().splitlines()]
    assert epochs[1:] == [str(e) for e in range(len(epochs) - 1)]  # went on, never restarted
    assert len(epochs) - 1 == 3
    assert (run / "models" / "encoder.keras").exists()
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["pretrain"]["loss"]) == 3  # every epoch, not only the resumed call's
