"""Write ``models/manifest.json``: the contract the runtime checks every model file against."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from stream.codes.macs import count_macs, count_params, face_pass_macs
from stream.codes.runner import open_runner
from stream.faces.crop import CropSpec
from stream.models import MANIFEST, MANIFEST_SCHEMA, sha256
from train.config import TrainConfig
from train.export import MODEL_FILES
from train.labels import LABELS

CROP_TEXT = (
    "MediaPipe face-detection box; rotate about its centre so the eyes are level; square of side "
    "scale x max(box width, box height) centred shift_y x side below the box centre; grayscale "
    "(OpenCV BGR2GRAY); area-resized to size x size."
)


def model_entry(path: Path) -> dict[str, Any]:
    runner = open_runner(path)
    entry: dict[str, Any] = {
        "file": path.name,
        "sha256": sha256(path),
        "bytes": path.stat().st_size,
        "input": runner.input.to_dict(),
        "output": runner.output.to_dict(),
        "edgetpu": None,
    }
    compiled = path.with_name(f"{path.stem}_edgetpu.tflite")
    if compiled.exists():
        entry["edgetpu"] = {"file": compiled.name, "sha256": sha256(compiled)}
    return entry


def cost(out: Path, flip_average: bool) -> dict[str, Any]:
    """What one face costs this member: its whole pass, read from the exported graphs."""
    encoder, head, decoder = (out / MODEL_FILES[part] for part in ("encoder", "head", "decoder"))
    return {
        "macs_per_face": face_pass_macs(out, flip_average),
        "macs_per_face_text": "encoder + head, twice with the mirror average; the decoder's "
        "quality score comes on top every quality_every frames",
        "decoder_macs": count_macs(decoder),
        "params": count_params(encoder) + count_params(head),
        "bytes": encoder.stat().st_size + head.stat().st_size,
    }


def write_manifest(
    cfg: TrainConfig,
    out_dir: str | Path,
    crop: CropSpec,
    error_quantiles: list[float],
    uncertain_below: float,
    flip_average: bool = False,
    accuracy: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    calibration: dict[str, Any] | None = None,
) -> Path:
    """``calibration``: the ``temperature`` (and its text) ``train.calibrate`` fitted, kept."""
    out = Path(out_dir)
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "name": out.name,
        "labels": list(LABELS),
        "input": {
            "size": cfg.data.image_size,
            "channels": 1,
            "color": "grayscale",
            "dtype": "uint8",
            "range": "raw pixels 0..255 (the encoder's input quantization is scale 1/255, zero 0)",
        },
        "code_size": cfg.model.code_size,
        "preprocessing": "none beyond the crop: the encoder takes raw uint8 grayscale pixels",
        "inference": {
            "flip_average": flip_average,
            "flip_average_text": "average the head's probabilities for the crop and its mirror",
            **(calibration or {}),
        },
        "crop": {**crop.to_dict(), "reference": "mediapipe face detection", "text": CROP_TEXT},
        "quality": {
            "metric": "mean squared reconstruction error on [0, 1] pixels, int8 encoder+decoder",
            "error_quantiles": [round(v, 6) for v in error_quantiles],
            "quantiles_of": "held-out training faces (0 %, 1 %, ..., 100 %)",
            "uncertain_below": uncertain_below,
        },
        "models": {name: model_entry(out / file) for name, file in MODEL_FILES.items()},
        "cost": cost(out, flip_average),
        "accuracy": accuracy or {},
        "training": {
            "data": "FER2013 train split (28,709 faces), 10 % held out for model selection",
            "labels": cfg.data.labels,
            "reported_on": "FER2013 PublicTest (val, 3,589 faces)",
            "date": date.today().isoformat(),
            **(training or {}),
        },
    }
    path = out / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path
