"""The shipped model set: ``manifest.json`` read, every file checked against it, runners opened.

The manifest is the contract between ``train/`` and ``stream/``: labels in output order, input
size and quantization, the crop convention, the quality-score calibration and each file's
sha256. A file that does not match is refused with one line rather than run and mislabel faces.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stream.checksum import sha256
from stream.codes.encoder import FaceEncoder
from stream.codes.runner import ModelRunner, open_runner
from stream.errors import ModelError
from stream.faces.crop import CropSpec
from stream.family import MANIFEST, MANIFEST_SCHEMA, resolve_model_dir
from stream.labels.head import ExpressionHead
from stream.labels.quality import QualityScorer

MODEL_NAMES = ("encoder", "head", "decoder")


@dataclass(frozen=True)
class Manifest:
    labels: tuple[str, ...]
    input_size: int
    code_size: int
    crop: CropSpec
    error_quantiles: list[float]
    uncertain_below: float
    flip_average: bool
    temperature: float
    models: dict[str, dict[str, Any]]
    raw: dict[str, Any]

    @classmethod
    def load(cls, model_dir: Path) -> Manifest:
        path = model_dir / MANIFEST
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise ModelError(f"no {MANIFEST} in {model_dir}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"{path} is not valid JSON: {exc}") from None
        try:
            if raw["schema"] != MANIFEST_SCHEMA:
                raise ModelError(f"{path}: schema {raw['schema']!r}, expected {MANIFEST_SCHEMA}")
            return cls(
                labels=tuple(raw["labels"]),
                input_size=int(raw["input"]["size"]),
                code_size=int(raw["code_size"]),
                crop=CropSpec.from_dict(raw["crop"]),
                error_quantiles=[float(v) for v in raw["quality"]["error_quantiles"]],
                uncertain_below=float(raw["quality"]["uncertain_below"]),
                flip_average=bool(raw.get("inference", {}).get("flip_average", False)),
                temperature=float(raw.get("inference", {}).get("temperature", 1.0)),
                models=dict(raw["models"]),
                raw=raw,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{path} is missing or has a bad field: {exc}") from None

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ModelError(f"inference.temperature must be above 0, not {self.temperature}")


def _model_file(manifest: Manifest, model_dir: Path, name: str, delegate: str) -> tuple[Path, str]:
    """The file ``delegate`` runs for ``name``, and the sha256 the manifest gives it."""
    entry = manifest.models.get(name)
    if not isinstance(entry, dict) or "file" not in entry:
        raise ModelError(f"{MANIFEST} lists no {name} model")
    if delegate == "edgetpu":
        compiled = entry.get("edgetpu")
        if not compiled:
            raise ModelError(
                f"no Edge TPU build of the {name}: run edgetpu_compiler on {entry['file']} "
                "(python -m train export does so when the compiler is on PATH)"
            )
        if not isinstance(compiled, dict) or "file" not in compiled:
            raise ModelError(f"{MANIFEST}: the {name}'s Edge TPU entry names no file")
        entry, what = compiled, f"the {name}'s Edge TPU file"
    else:
        what = f"the {name}"
    expected = entry.get("sha256")
    if not isinstance(expected, str) or not expected:
        raise ModelError(
            f"{model_dir / MANIFEST} gives no sha256 for {what}: a model is run only once it "
            "matches its checksum"
        )
    return model_dir / entry["file"], expected


def verify_file(path: Path, expected_sha256: str) -> None:
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    if sha256(path) != expected_sha256:
        raise ModelError(f"{path} does not match the sha256 in {MANIFEST} (corrupt or replaced)")


def _check_spec(runner: ModelRunner, entry: dict[str, Any], name: str) -> None:
    for side in ("input", "output"):
        spec = getattr(runner, side)
        expected = entry.get(side, {})
        if list(spec.shape) != expected.get("shape") or spec.dtype.name != expected.get("dtype"):
            raise ModelError(
                f"{runner.path.name}: {name} {side} is {spec.dtype.name}{list(spec.shape)}, "
                f"manifest says {expected.get('dtype')}{expected.get('shape')}"
            )


@dataclass
class Models:
    """The three runtime pieces built from one verified model folder."""

    manifest: Manifest
    encoder: FaceEncoder
    head: ExpressionHead
    quality: QualityScorer


def load_models(
    model_dir: str | Path | None = None, delegate: str = "cpu", threads: int = 2
) -> Models:
    model_dir = Path(model_dir) if model_dir else resolve_model_dir()
    manifest = Manifest.load(model_dir)
    runners: dict[str, ModelRunner] = {}
    for name in MODEL_NAMES:
        path, expected = _model_file(manifest, model_dir, name, delegate)
        verify_file(path, expected)
        runners[name] = open_runner(path, delegate, threads)
        if delegate != "edgetpu":
            _check_spec(runners[name], manifest.models[name], name)
    encoder = FaceEncoder(runners["encoder"])
    if encoder.size != manifest.input_size:
        raise ModelError(
            f"encoder takes {encoder.size}px faces, manifest says {manifest.input_size}"
        )
    return Models(
        manifest=manifest,
        encoder=encoder,
        head=ExpressionHead(
            runners["head"], encoder.code_spec, manifest.labels, manifest.temperature
        ),
        quality=QualityScorer(runners["decoder"], encoder.code_spec, manifest.error_quantiles),
    )
