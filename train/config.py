"""Every hyper-parameter of a training run, read from one TOML file.

A run is reproducible from its config file and seed alone, so the file is copied next to the
checkpoints and into the model card.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

PRECISIONS = ("auto", "float32", "mixed_bfloat16")
"""Training compute types; ``mixed_bfloat16`` keeps float32 weights, computes on bf16 units;
``auto`` times both on the training machine and keeps the faster (see ``train.precision``)."""
LABEL_SOURCES = ("fer2013", "ferplus")
"""What training learns: ``fer2013`` the folder labels, ``ferplus`` the crowd's vote shares."""
OPTIMIZERS = ("adamw", "sgd")
"""Fine-tuning optimizers; ``sgd`` steps with Nesterov momentum."""
BLOCKS = ("conv", "separable", "residual")
"""Encoder blocks: plain 3×3 convolutions, depthwise-separable ones, or residual units for the
teacher (see ``train.model``)."""


class ConfigError(ValueError):
    """A config file that cannot be read or names an unknown key."""


@dataclass(frozen=True)
class DataConfig:
    train: str = "../shared/datasets/fer2013/train"
    val: str = "../shared/datasets/fer2013/val"
    holdout_fraction: float = 0.1
    image_size: int = 48
    skip_bad: bool = False
    labels: str = "fer2013"
    votes: str = "../shared/datasets/fer2013/ferplus.csv"
    val_duplicates: str = "../shared/datasets/fer2013/val-in-train.txt"
    folder_weights: tuple[float, ...] = ()
    """With ``labels = "ferplus"``: shares of every target given to the face's folder label,
    FER2013's single annotator, beside the crowd's vote shares (and a teacher's probabilities).
    The crowd calls a mild or posed anger, fear or sadness "neutral" where the folder label keeps
    the expression the image was found for, and models fitted to the crowd alone miss those
    expressions on posed faces. Each weight is tried on the frozen codes; the best by the holdout
    objective fine-tunes. Empty: the folder labels are not learnt from."""
    max_faces: int = 0
    """At most this many training faces (and a fifth as many val faces), sampled per class with
    the seed: for smoke runs that check a set-up in minutes. 0: every face."""


@dataclass(frozen=True)
class AugmentConfig:
    flip: bool = True
    shift: float = 0.1
    rotation_deg: float = 10.0
    zoom: float = 0.1
    brightness: float = 0.2
    contrast: float = 0.3
    gamma: float = 0.0
    """Largest |log gamma| of a random gamma curve: exposure the brightness shift cannot model."""
    low_res: float = 0.0
    """Share of faces shrunk to 12–32 px and scaled back up: a face far from the camera."""
    noise: float = 0.0
    """Largest standard deviation of Gaussian sensor noise, in [0, 1] units."""
    jpeg: float = 0.0
    """Share of faces re-encoded as JPEG at quality 20–70: a compressed stream's blocks."""


@dataclass(frozen=True)
class ModelConfig:
    block: str = "conv"
    filters: tuple[int, ...] = (32, 64, 128, 192)
    convs_per_block: tuple[int, ...] = (2, 2, 2, 1)
    code_size: int = 128
    encoder_dropout: float = 0.3
    head_units: int = 256
    head_dropout: float = 0.4
    decoder_filters: tuple[int, ...] = (128, 64, 32, 16)


@dataclass(frozen=True)
class PretrainConfig:
    epochs: int = 6
    batch_size: int = 128
    learning_rate: float = 2e-3


@dataclass(frozen=True)
class HeadConfig:
    epochs: int = 36
    batch_size: int = 256
    learning_rate: float = 1e-3
    class_weight_powers: tuple[float, ...] = ()
    """Class-weight powers tried on the frozen codes; the best on the holdout is used from then
    on in place of ``finetune.class_weight_power``. Empty: use that value as given."""


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 36
    batch_size: int = 128
    optimizer: str = "adamw"
    learning_rate: float = 2e-3
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_epochs: int = 2
    label_smoothing: float = 0.1
    recon_weight: float = 1.0
    class_weight_power: float = 0.5
    erase_probability: float = 0.0
    erase_max_area: float = 0.25
    self_distill: float = 0.0


@dataclass(frozen=True)
class DistillConfig:
    teacher: str = ""
    """What teaches this model: a CSV of probabilities per training file (``teacher.csv``, see
    :mod:`train.teacher`), a shipped member's folder (``models/<name>``, int8 through the
    runtime) or a finished run folder (``python -m train fit --run-dir``); empty: no teacher."""
    weight: float = 0.5
    """Training targets are (1 − weight) × the labels + weight × the teacher's probabilities."""
    weights: tuple[float, ...] = ()
    """Weights tried on the frozen codes; the best by the holdout objective is used for
    fine-tuning in place of ``weight``. Empty: ``weight`` as given."""


@dataclass(frozen=True)
class ExportConfig:
    calibration_samples: int = 1000
    max_macs_per_face: int = 0
    """The member's budget: mirror averaging doubles encoder + head, so it is only considered
    where twice their MACs fit (0: no budget)."""


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 1234
    precision: str = "auto"
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    export: ExportConfig = field(default_factory=ExportConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown key {where}{unknown[0]!r}")
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        default = getattr(cls(), name)
        if isinstance(value, dict):
            kwargs[name] = _build(type(default), value, f"{where}{name}.")
        elif isinstance(default, tuple):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def load_config(path: str | Path) -> TrainConfig:
    """Read a TOML config; keys left out keep their defaults, unknown keys are an error."""
    path = Path(path)
    try:
        values = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in {path}: {exc}") from exc
    config = _build(TrainConfig, values, "")
    _check_choice("precision", config.precision, PRECISIONS)
    _check_choice("data.labels", config.data.labels, LABEL_SOURCES)
    _check_choice("model.block", config.model.block, BLOCKS)
    shares = {
        "distill weights": (config.distill.weight, *config.distill.weights),
        "data.folder_weights": config.data.folder_weights,
    }
    for key, weights in shares.items():
        for weight in weights:
            if not 0.0 <= weight <= 1.0:
                raise ConfigError(f"{key} must be between 0 and 1, not {weight}")
    if config.data.folder_weights and config.data.labels != "ferplus":
        raise ConfigError(
            'data.folder_weights needs labels = "ferplus": it blends folder labels into the '
            "crowd's vote shares"
        )
    _check_choice("finetune.optimizer", config.finetune.optimizer, OPTIMIZERS)
    return config


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}, not {value!r}")


def dump_config(config: TrainConfig) -> str:
    """Write a config back as TOML, for the run folder and the model card."""
    values_by_key = config.to_dict()
    lines = [f"{k} = {_toml_value(v)}" for k, v in values_by_key.items() if not isinstance(v, dict)]
    for section, values in values_by_key.items():
        if not isinstance(values, dict):
            continue
        lines.append(f"\n[{section}]")
        for key, value in values.items():
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)
