"""Write the final manifest, ``MODEL_CARD.md`` and its figures from a finished, evaluated run."""

from __future__ import annotations

import csv
import json
import logging
import shlex
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from stream.codes.encoder import FaceEncoder
from stream.codes.runner import open_runner
from stream.cpu import cpu_flags
from stream.faces.crop import CropSpec
from stream.labels.head import requantizer
from stream.models import MANIFEST
from train.config import TrainConfig, dump_config
from train.data import load_faces
from train.edgetpu import inspect_model
from train.evaluate import UNCERTAIN_BELOW
from train.export import MODEL_FILES
from train.fit import RunDir
from train.labels import LABELS
from train.manifest import write_manifest
from train.scores import OBJECTIVE

log = logging.getLogger(__name__)


def _read_csv(path: Path) -> dict[str, list[float]]:
    if not path.exists():
        return {}
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    return {key: [float(r[key]) for r in rows] for key in (rows[0] if rows else {})}


def plot_curves(run: RunDir, out: Path) -> Path:
    pretrain = _read_csv(run.path("pretrain_log.csv"))
    finetune = _read_csv(run.path("finetune_log.csv"))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for key, style in (("loss", "-"), ("val_loss", "--")):
        if key in pretrain:
            axes[0].plot(pretrain[key], style, label=key.replace("val_", "holdout "))
    axes[0].set(title="1. autoencoder pre-training", xlabel="epoch", ylabel="MSE")
    for ax, metric, what in (
        (axes[1], "probs_accuracy", "accuracy"),
        (axes[2], "reconstruction_loss", "reconstruction MSE"),
    ):
        for key, style, label in ((metric, "-", "train"), (f"val_{metric}", "--", "holdout")):
            if key in finetune:
                ax.plot(finetune[key], style, label=label)
        ax.set(title=f"3. fine-tuning: {what}", xlabel="epoch")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path = out / "training_curves.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_confusion(confusion: np.ndarray, out: Path) -> Path:
    rates = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(LABELS)), LABELS, rotation=45, ha="right")
    ax.set_yticks(range(len(LABELS)), LABELS)
    ax.set(xlabel="predicted", ylabel="true", title="int8 model on FER2013 val (row-normalised)")
    for i in range(len(LABELS)):
        for j in range(len(LABELS)):
            color = "white" if rates[i, j] > 0.5 else "black"
            ax.text(j, i, f"{rates[i, j]:.2f}", ha="center", va="center", fontsize=7, color=color)
    fig.tight_layout()
    path = out / "confusion_matrix.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_reconstructions(faces: np.ndarray, out: Path) -> Path:
    """Val faces (top) and what the int8 encoder → int8 decoder make of them (bottom)."""
    encoder = FaceEncoder(open_runner(out / MODEL_FILES["encoder"]))
    decoder = open_runner(out / MODEL_FILES["decoder"])
    codes = requantizer(encoder.code_spec, decoder.input)(encoder.encode(faces))
    recon = decoder.output.dequantize(decoder.run(codes))[..., 0]
    fig, axes = plt.subplots(2, len(faces), figsize=(len(faces) * 0.9, 2.0))
    for i in range(len(faces)):
        axes[0, i].imshow(faces[i], cmap="gray", vmin=0, vmax=255)
        axes[1, i].imshow(recon[i], cmap="gray", vmin=0, vmax=1)
        axes[0, i].axis("off")
        axes[1, i].axis("off")
    fig.tight_layout(pad=0.2)
    path = out / "reconstructions.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def reproduce_command(config: str | Path, run_dir: str | Path, out_dir: str | Path) -> str:
    """The one ``python -m train all`` that redoes a member, whichever steps made it.

    The home folder is written as ``~`` so the command reads the same on any machine.
    """
    home = str(Path.home())

    def shown(path: str | Path) -> str:
        text = str(path)
        return "~" + text[len(home) :] if text.startswith(home + "/") else shlex.quote(text)

    return (
        f"python -m train all --config {shown(config)} --run-dir {shown(run_dir)} "
        f"--out {shown(out_dir)}"
    )


def write_report(cfg: TrainConfig, run_dir: str | Path, out_dir: str | Path, command: str) -> Path:
    run = RunDir(run_dir)
    out = Path(out_dir)
    metrics = run.read_metrics()
    ev = metrics["evaluation"]
    accuracy = {
        "val": {
            "n": ev["int8"]["n"],
            "float": ev["float_accuracy"],
            "int8": ev["int8"]["accuracy"],
            "int8_single_crop": ev["int8_single_crop"],
            "int8_through_detection": ev["int8_detect"]["accuracy"],
        }
    }
    calibration, calibrated = _calibration(out)
    accuracy |= calibrated
    write_manifest(
        cfg,
        out,
        CropSpec.from_dict(ev["crop"]),
        ev["error_quantiles"],
        UNCERTAIN_BELOW,
        flip_average=ev["flip_average"],
        accuracy=accuracy,
        calibration=calibration,
        training={
            "command": command,
            "seed": cfg.seed,
            "epochs": _epochs(cfg),
            "wall_s": _wall_s(run),
            "cpu_flags": cpu_flags(),
        },
    )
    val = load_faces(cfg.data.val, cfg.data.image_size)
    pick = np.random.default_rng(cfg.seed).choice(len(val), 12, replace=False)
    plot_curves(run, out)
    plot_confusion(np.asarray(ev["int8"]["confusion"]), out)
    plot_reconstructions(val.images[pick], out)

    sizes = {name: (out / f).stat().st_size for name, f in MODEL_FILES.items()}
    ops = {name: sorted(set(inspect_model(out / f).ops)) for name, f in MODEL_FILES.items()}
    ablation_rows = [[name, _pct(v)] for name, v in ev["ablations"].items()]
    ablation_rows.append(["fine-tuned encoder + head (float)", _pct(ev["float_accuracy"])])
    ablation_rows.append(
        ["fine-tuned encoder + head (int8, shipped)", _pct(ev["int8"]["accuracy"])]
    )
    recall = ev["int8"]["recall"]
    flip_note = ", mirror-averaged" if ev["flip_average"] else ""
    holdout = ev["holdout_int8"]
    flip_text = (
        f"Every choice made on the held-out split of train (class weighting, checkpoint, "
        f"batch-norm statistics, mirror averaging) maximises one objective: {OBJECTIVE}. "
        f"Mirror averaging (the crop and its mirror image in one batch, probabilities averaged) "
        f"scored {_pct(holdout['flip_average'])} on it against "
        f"{_pct(holdout['single_crop'])} for one crop; it is "
        f"{'on' if ev['flip_average'] else 'off'} in `manifest.json` (`inference.flip_average`). "
        "The temperature cannot change a label; it is fitted for calibration alone."
    )
    confusion = np.asarray(ev["int8"]["confusion"])
    card = f"""# Model card: emostream FER encoder + expression head

Full-int8 TFLite models that label a face crop with one of seven expressions
({", ".join(LABELS)}), plus the decoder behind the runtime's quality score.
Reproduce `models/` with (from the repository root, with `../shared` beside it):

    {command}

The seed fixes the split, initialisation and augmentation order, but multi-threaded CPU kernels
are not bit-for-bit deterministic: a rerun lands near the figures below, not exactly on them.

## Results on FER2013 PublicTest (`val`, {ev["int8"]["n"]:,} faces)

| model | accuracy |
| --- | --- |
| float (Keras) encoder + head{flip_note} | {_pct(ev["float_accuracy"])} |
| **int8 encoder + head (shipped){flip_note}** | **{_pct(ev["int8"]["accuracy"])}** |
| int8, balanced accuracy (mean recall) | {_pct(ev["int8"].get("balanced_accuracy"))} |
| int8 encoder + head, single crop (no mirror) | {_pct(ev["int8_single_crop"])} |
| int8 through detection¹ | {_pct(ev["int8_detect"]["accuracy"])} |
| int8 through detection, on the faces it found | {_pct(_found(ev["int8_detect"]))} |

¹ Each face pasted into a 320×240 frame, found by MediaPipe (short range) and cropped by the
runtime's convention (below); the {ev["int8_detect"]["no_face"]} faces it did not find
count as wrong.

{flip_text}

Int8 minus float: {100 * (ev["int8"]["accuracy"] - ev["float_accuracy"]):+.2f} points.
Encoder + head: {(sizes["encoder"] + sizes["head"]) / 1e6:.3f} MB
({sizes["encoder"]:,} + {sizes["head"]:,} bytes);
decoder {sizes["decoder"]:,} bytes.
Reference points on this split: human ≈ 65 %, mini-Xception
(the `fer` package) ≈ 66 %, VGG-style single CNNs ≈ 73 %.

Per-class recall (int8):

{_table(list(recall), [[_pct(v) for v in recall.values()]])}

{_labels_text(accuracy)}
### Ablation (the seed's alternatives, all on `val`)

Codes are the {cfg.model.code_size}-d output of the pre-trained (not fine-tuned) encoder.

{_table(["classifier", "accuracy"], ablation_rows)}

### Confusion matrix (int8, counts; rows true, columns predicted)

{_table(["", *LABELS], [[LABELS[i], *map(str, row)] for i, row in enumerate(confusion)])}

![confusion matrix](confusion_matrix.png)

### Training curves

![training curves](training_curves.png)

### Faces and their int8 reconstructions

![reconstructions](reconstructions.png)

## Method

1. Convolutional autoencoder ({" → ".join(map(str, cfg.model.filters))} filters,
   {"/".join(map(str, cfg.model.convs_per_block))} × (3×3 conv + batch norm + ReLU) per block
   with max-pooling, dense {cfg.model.code_size}-d code; mirrored transpose-conv decoder)
   pre-trained {cfg.pretrain.epochs} epochs on MSE reconstruction of augmented faces
   (flip, shift {cfg.augment.shift}, rotation ±{cfg.augment.rotation_deg}°,
   zoom {cfg.augment.zoom}, brightness {cfg.augment.brightness}, contrast {cfg.augment.contrast}).
2. Dense head ({cfg.model.head_units} units, dropout {cfg.model.head_dropout}) on the frozen codes,
   fitted to {_targets_text(cfg, metrics)}.
3. Joint fine-tuning {cfg.finetune.epochs} epochs ({_optimizer_text(cfg)}, cosine schedule,
   warm-up) on the same targets: cross-entropy (label smoothing {cfg.finetune.label_smoothing})
   plus {cfg.finetune.recon_weight} × reconstruction MSE so the decoder stays meaningful; class
   weights (inverse frequency)^{metrics.get("class_weight_power", cfg.finetune.class_weight_power)}
   for the rare classes (disgust).{_erasing_text(cfg)}{_self_distill_text(cfg)}
{_recalibration_text(metrics["recalibrate"])}

Training computes in {_precision_text(cfg, metrics)}; export and the float figures
above use a float32 rebuild of the same weights. Model selection on a stratified
{cfg.data.holdout_fraction:.0%} split of `train`; `val` is only reported.

## Export

Keras `model.export()` → SavedModel → `TFLiteConverter.from_saved_model`, full-integer
quantization calibrated on {cfg.export.calibration_samples} real training faces, static batch-1
shapes (the runtime resizes the batch on the CPU). Encoder: uint8 pixels in, int8 code out; head:
int8 code in, uint8 probabilities out; decoder: int8 code in, uint8 image out. Every op is in the
Edge TPU compiler's supported set (checked at export and by the tests):

{_table(["model", "ops"], [[name, ", ".join(v)] for name, v in ops.items()])}

## Crop convention and quality score

Crop: {ev["crop"]} — see `crop.text` in `manifest.json`; measured by pasting training faces into
frames and comparing the detector's box with the true face square. Quality: the share of held-out
training faces that the int8 autoencoder reconstructs worse than the crop; faces below
{UNCERTAIN_BELOW} are published with `"uncertain": true`.

## Intended use and limits

Live expression cues for dashboards and aggregate analytics. FER2013 is web-scraped, mostly frontal,
skewed towards some demographics and noisy (human agreement ≈ 65 %); per-face labels are estimates
of a displayed expression, not of anyone's feelings, and must not drive decisions about individuals.

## Config

```toml
{dump_config(cfg)}```
"""
    path = out / "MODEL_CARD.md"
    path.write_text(card)
    log.info("wrote %s", path)
    return path


def _found(result: dict) -> float:
    confusion = np.asarray(result["confusion"])
    return float(np.trace(confusion) / max(confusion.sum(), 1))


def _erasing_text(cfg: TrainConfig) -> str:
    f = cfg.finetune
    if not f.erase_probability:
        return ""
    return f"""
   Random erasing: with probability {f.erase_probability}, a rectangle covering 2 % to
   {f.erase_max_area:.0%} of the face becomes noise; the decoder reconstructs the face as it was
   before erasing."""


def _optimizer_text(cfg: TrainConfig) -> str:
    f = cfg.finetune
    name = f"SGD, Nesterov momentum {f.momentum}" if f.optimizer == "sgd" else "AdamW"
    return f"{name}, peak rate {f.learning_rate}, weight decay {f.weight_decay} on kernels"


def _targets_text(cfg: TrainConfig, metrics: dict) -> str:
    """What the probabilities learnt, with the blend weights the holdout chose among those tried."""
    if cfg.data.labels != "ferplus":
        return "the FER2013 folder labels, one-hot"
    text = "the FER+ crowd's vote shares"
    teacher = metrics.get("distill_weight")
    if teacher is not None:
        tried = cfg.distill.weights or (cfg.distill.weight,)
        text += (
            f", blended with the teacher's probabilities (`{cfg.distill.teacher}`) at weight "
            f"{teacher} (of {', '.join(map(str, tried))})"
        )
    if cfg.data.folder_weights:
        text += (
            f", then {metrics.get('folder_weight') or 0.0} of each target given to the face's "
            f"FER2013 folder label (of {', '.join(map(str, cfg.data.folder_weights))})"
        )
    if len(metrics.get("class_weight_holdout", {})) > 1:
        text += "; each combination tried was scored on the holdout and the best kept"
    return text


def _self_distill_text(cfg: TrainConfig) -> str:
    weight = cfg.finetune.self_distill
    if not weight:
        return ""
    return f"""
   Progressive self-distillation: each face's target blends its label with the model's own
   prediction for it one epoch earlier, the blend's weight rising linearly from 0 to {weight}."""


def _precision_text(cfg: TrainConfig, metrics: dict) -> str:
    """The type the run computed in, naming ``auto``: another CPU may resolve it otherwise."""
    used = metrics.get("precision", cfg.precision)
    auto = cfg.precision == "auto"
    chosen = ', chosen by `precision = "auto"` for the training CPU' if auto else ""
    return f"`{used}` (weights stay float32{chosen})"


def _recalibration_text(recalibrate: dict) -> str:
    shipped = "the recalibrated statistics ship" if recalibrate["used"] else "the trained ones ship"
    return f"""4. Batch-norm recalibration: the running statistics, tracked on augmented batches
   during training, are recomputed over the un-augmented training faces, which look like the
   runtime's crops. Holdout accuracy (float, mirror-averaged as the runtime scores faces): trained
   {_pct(recalibrate["holdout_trained"])}, recalibrated {_pct(recalibrate["holdout_recalibrated"])};
   {shipped}."""


def _epochs(cfg: TrainConfig) -> dict[str, int]:
    return {
        "pretrain": cfg.pretrain.epochs,
        "head": cfg.head.epochs,
        "finetune": cfg.finetune.epochs,
    }


CALIBRATED = ("ferplus_val", "ferplus_val_unseen", "fer2013_val", "ferplus_val_faces",
              "ferplus_val_unseen_faces", "ece")  # fmt: skip


def _calibration(out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """What ``train.calibrate`` wrote into the manifest (temperature, both label sets' figures),
    so that rewriting the manifest keeps it."""
    try:
        manifest = json.loads((out / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return {}, {}
    inference = manifest.get("inference", {})
    calibration = {k: inference[k] for k in ("temperature", "temperature_text") if k in inference}
    accuracy = manifest.get("accuracy", {})
    return calibration, {k: accuracy[k] for k in CALIBRATED if k in accuracy}


def _labels_text(accuracy: dict[str, Any]) -> str:
    """The card's section on both label sets, once ``train.calibrate`` has scored the member."""
    if "ferplus_val" not in accuracy:
        return ""
    ece = accuracy["ece"]
    rows = [
        ["FER+ crowd majority, all of val", _pct(accuracy["ferplus_val"]),
         f"{accuracy['ferplus_val_faces']:,}"],
        ["FER+ crowd majority, val faces not also in train", _pct(accuracy["ferplus_val_unseen"]),
         f"{accuracy['ferplus_val_unseen_faces']:,}"],
        ["FER2013 folder labels", _pct(accuracy["fer2013_val"]), "3,589"],
    ]  # fmt: skip
    return (
        "## Both label sets (int8, with the fitted temperature)\n\n"
        + _table(["labels", "accuracy", "faces"], rows)
        + f"\n\nExpected calibration error (15 bins, against the {ece['against']} labels): "
        f"{ece['before']:.3f} before the temperature, {ece['after']:.3f} after.\n"
    )


def _wall_s(run: RunDir) -> float | None:
    """Seconds the run's stages took, from the timings ``fit`` records."""
    timings = run.read_metrics().get("stage_seconds", {})
    return round(sum(timings.values()), 1) if timings else None
