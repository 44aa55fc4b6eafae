"""Export the trained encoder, head and decoder as full-integer int8 TFLite models.

Path: Keras ``model.export()`` → SavedModel → ``TFLiteConverter.from_saved_model`` (the Keras-3-safe
route), post-training full-integer quantization calibrated on real training faces, static batch-1
shapes for the Edge TPU. The models are rebuilt from the config before export so that export-only
layers (a batch-agnostic flatten) are used whatever code trained the weights.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from train.config import TrainConfig
from train.data import load_faces
from train.edgetpu import check_model, compile_if_available
from train.fit import RunDir, to_float
from train.model import build_decoder, build_encoder, build_head, load_float32

log = logging.getLogger(__name__)

MODEL_FILES = {"encoder": "encoder.tflite", "head": "head.tflite", "decoder": "decoder.tflite"}


def convert_int8(
    model: keras.Model,
    samples: np.ndarray,
    input_type: tf.DType,
    output_type: tf.DType,
) -> bytes:
    """Full-integer quantization of ``model`` calibrated on ``samples`` (float, batch-first)."""

    def representative() -> Iterator[list[np.ndarray]]:
        for sample in samples:
            yield [sample[None].astype(np.float32)]

    signature = [tf.TensorSpec((1, *samples.shape[1:]), tf.float32, name=model.inputs[0].name)]
    with tempfile.TemporaryDirectory() as saved:
        model.export(saved, format="tf_saved_model", input_signature=signature, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = input_type
        converter.inference_output_type = output_type
        return converter.convert()


def calibration_faces(cfg: TrainConfig) -> np.ndarray:
    """A seeded sample of real training faces, float (N, H, W, 1) in [0, 1]."""
    faces = load_faces(cfg.data.train, cfg.data.image_size, cfg.data.skip_bad)
    rng = np.random.default_rng(cfg.seed)
    pick = rng.choice(len(faces), min(cfg.export.calibration_samples, len(faces)), replace=False)
    return to_float(faces.images[pick])


def export_models(
    cfg: TrainConfig,
    encoder: keras.Model,
    head: keras.Model,
    decoder: keras.Model,
    faces: np.ndarray,
    out_dir: str | Path,
) -> dict[str, Path]:
    """Write the three int8 models to ``out_dir``, checking each for the Edge TPU."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    codes = encoder.predict(faces, batch_size=256, verbose=0)
    blobs = {
        "encoder": convert_int8(encoder, faces, tf.uint8, tf.int8),
        "head": convert_int8(head, codes, tf.int8, tf.uint8),
        "decoder": convert_int8(decoder, codes, tf.int8, tf.uint8),
    }
    paths: dict[str, Path] = {}
    for name, blob in blobs.items():
        path = out / MODEL_FILES[name]
        path.write_bytes(blob)
        report = check_model(path)
        log.info("%s: %d bytes, ops %s", path, len(blob), ", ".join(sorted(set(report.ops))))
        compile_if_available(path)
        paths[name] = path
    return paths


def export_run(cfg: TrainConfig, run_dir: str | Path, out_dir: str | Path) -> dict[str, Path]:
    run = RunDir(run_dir)
    size = cfg.data.image_size
    encoder = load_float32(lambda: build_encoder(cfg.model, size), run.model("encoder"))
    head = load_float32(lambda: build_head(cfg.model), run.model("head"))
    decoder = load_float32(lambda: build_decoder(cfg.model, size), run.model("decoder"))
    return export_models(cfg, encoder, head, decoder, calibration_faces(cfg), out_dir)
