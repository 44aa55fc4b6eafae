"""The three training stages of the seed's method, each resumable and skipped once done.

1. ``pretrain``: the autoencoder learns to reconstruct augmented faces (MSE).
2. ``head``: a dense head is fitted on frozen codes of the pre-trained encoder; the codes are saved
   for the scikit-learn ablations.
3. ``finetune``: encoder, head and decoder train jointly on cross-entropy plus a reconstruction
   term (so the decoder's quality score stays meaningful), with class weights for rare labels.
4. ``recalibrate``: batch-norm statistics are recomputed on un-augmented training faces, kept
   only if that scores better on the holdout.

Every stage keeps a ``BackupAndRestore`` folder, so an interrupted run picks up at its last
finished epoch; model selection uses a held-out split of ``train``, never ``val``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import keras
import numpy as np

from train.augment import augment_batch, build_augmenter, degrade_batch, erase_batch
from train.batchnorm import recompute_batch_norm
from train.config import ConfigError, FinetuneConfig, TrainConfig, dump_config, load_config
from train.data import DataError, FaceSet, class_weights, load_faces, stratified_split
from train.labels import LABELS
from train.model import (
    build_autoencoder,
    build_decoder,
    build_encoder,
    build_head,
    build_joint,
    dtype_policy,
)
from train.precision import resolve_precision, step_seconds
from train.scores import holdout_objective
from train.selfdistill import BlendSchedule, self_distilling
from train.teacher import is_teacher_csv, load_teacher_csv
from train.votes import distributions, load_votes, usable

log = logging.getLogger(__name__)

PARTS = ("encoder", "head", "decoder")
"""The joint model's three parts, saved separately because the runtime runs them separately."""


@dataclass(frozen=True)
class Splits:
    """Train (fitting), holdout (model selection, from train) and val (reporting only)."""

    train: FaceSet
    holdout: FaceSet
    val: FaceSet | None
    left_out: int = 0
    """Training faces without a usable FER+ vote (see ``train.votes.usable``)."""
    teacher: np.ndarray | None = None
    """A teacher's probabilities for each training face (``[distill]``), blended into the
    targets at the weight the holdout chooses (:func:`blended`)."""

    def blended(self, weight: float | None, folder_weight: float = 0.0) -> FaceSet:
        """The training faces with targets (1 − weight) × their own + weight × the teacher's,
        then ``folder_weight`` of each target given to the face's folder label."""
        t = self.train
        targets = t.training_targets()
        if self.teacher is not None and weight is not None:
            targets = (1 - weight) * targets + weight * self.teacher
        if folder_weight:
            if t.folder is None:
                raise ValueError("folder labels are blended only into FER+ vote shares")
            one_hot = np.eye(len(LABELS), dtype=np.float32)[t.folder]
            targets = (1 - folder_weight) * targets + folder_weight * one_hot
        return FaceSet(t.images, t.labels, t.skipped, t.sources, targets, t.votes, t.folder)


class RunDir:
    """Where one training run keeps its config, checkpoints, codes and metrics."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, name: str) -> Path:
        return self.root / name

    @property
    def metrics_path(self) -> Path:
        return self.root / "metrics.json"

    def read_metrics(self) -> dict:
        if self.metrics_path.exists():
            return json.loads(self.metrics_path.read_text())
        return {}

    def update_metrics(self, **values: object) -> None:
        metrics = self.read_metrics()
        metrics.update(values)
        self.metrics_path.write_text(json.dumps(metrics, indent=2))

    def model(self, name: str) -> Path:
        return self.root / "models" / f"{name}.keras"


def load_splits(cfg: TrainConfig) -> Splits:
    d = cfg.data
    data = load_faces(d.train, d.image_size, d.skip_bad)
    val = load_faces(d.val, d.image_size, d.skip_bad) if d.val else None
    left_out = 0
    if d.labels == "ferplus":
        before = len(data)
        data, val = _with_votes(cfg, data, val)
        left_out = before - len(data)
    if d.max_faces:
        data = _sample(data, d.max_faces, cfg.seed)
        val = _sample(val, max(d.max_faces // 5, len(LABELS)), cfg.seed) if val else None
    keep, held = stratified_split(data.labels, d.holdout_fraction, cfg.seed)
    train, holdout = data.subset(keep), data.subset(held)
    log.info("train %d, holdout %d, val %d faces", len(train), len(holdout), len(val or []))
    return Splits(train, holdout, val, left_out)


def _sample(faces: FaceSet, count: int, seed: int) -> FaceSet:
    """About ``count`` faces, the same share of every class."""
    if count >= len(faces):
        return faces
    _, picked = stratified_split(faces.labels, count / len(faces), seed)
    return faces.subset(picked)


def _with_votes(
    cfg: TrainConfig, data: FaceSet, val: FaceSet | None
) -> tuple[FaceSet, FaceSet | None]:
    """Train on the faces the crowd could label, fitted to their vote shares; val keeps all."""
    folders = {"train": Path(cfg.data.train)} | ({"val": Path(cfg.data.val)} if val else {})
    votes = load_votes(cfg.data.votes, folders)
    counts = votes["train"].for_files(data.names(cfg.data.train))
    keep = usable(counts)
    shares = distributions(counts[keep])
    learn = data.subset(keep)
    learn = FaceSet(
        learn.images,
        shares.argmax(axis=1),
        data.skipped,
        learn.sources,
        shares,
        folder=learn.labels,
    )
    left_out = int((~keep).sum())
    log.info("FER+ votes: learning from %d faces, %d left out", len(learn), left_out)
    if val is not None:
        val.votes = votes["val"].for_files(val.names(cfg.data.val))
    return learn, val


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 faces (N, H, W) → float32 (N, H, W, 1) in [0, 1], the models' input convention."""
    return (images.astype(np.float32) / 255.0)[..., None]


def float_probs(
    encoder: keras.Model, head: keras.Model, images: np.ndarray, flip: bool
) -> np.ndarray:
    """Keras probabilities, averaged with the mirror image's when ``flip``, as the runtime does."""
    x = to_float(images)
    probs = head.predict(encoder.predict(x, verbose=0), verbose=0)
    if flip:
        mirrored = head.predict(encoder.predict(x[:, :, ::-1], verbose=0), verbose=0)
        probs = (probs + mirrored) / 2
    return probs


class FaceBatches(keras.utils.PyDataset):
    """Training batches for ``mode`` ``autoencoder`` (x → x) or ``joint`` (x → probs,
    reconstruction), reshuffled and augmented anew every epoch.

    NumPy in, Keras ops for the augmentation: the same batches on TensorFlow, JAX or PyTorch.
    Each batch carries its faces' row numbers as ``y["index"]`` where self-distillation needs
    them.
    """

    def __init__(
        self,
        faces: FaceSet,
        cfg: TrainConfig,
        batch_size: int,
        mode: str,
        weights: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        self.images = to_float(faces.images)
        self.targets = faces.training_targets()
        self.sample_w = (weights if weights is not None else np.ones(len(LABELS), np.float32))[
            faces.labels
        ]
        self.batch_size = batch_size
        self.mode = mode
        self.augmenter = build_augmenter(cfg.augment, cfg.seed)
        self.erase = cfg.finetune.erase_probability if mode == "joint" else 0.0
        self.erase_max_area = cfg.finetune.erase_max_area
        self.eraser = keras.random.SeedGenerator(cfg.seed + 10)
        self.indexed = mode == "joint" and cfg.finetune.self_distill > 0
        a = cfg.augment
        degrades = mode == "joint" and (a.gamma or a.low_res or a.noise or a.jpeg)
        self.degrade = a if degrades else None
        self._degrade_rng = np.random.default_rng(cfg.seed + 20)
        self._shuffle = np.random.default_rng(cfg.seed)
        self._order = self._shuffle.permutation(len(self.images))

    def __len__(self) -> int:
        return int(np.ceil(len(self.images) / self.batch_size))

    def on_epoch_end(self) -> None:
        self._order = self._shuffle.permutation(len(self.images))

    def __getitem__(self, i: int) -> tuple:
        rows = self._order[i * self.batch_size : (i + 1) * self.batch_size]
        x = augment_batch(self.augmenter, self.images[rows])
        if self.mode == "autoencoder":
            return x, x
        # The decoder reconstructs the face before erasing: a denoising term, so the quality
        # score still measures plain faces.
        seen = x
        if self.degrade:
            seen = degrade_batch(self._degrade_rng, keras.ops.convert_to_numpy(x), self.degrade)
        if self.erase:
            seen = erase_batch(self.eraser, seen, self.erase, self.erase_max_area)
        targets = {"probs": self.targets[rows], "reconstruction": x}
        if self.indexed:
            targets["index"] = rows.astype(np.int32)
        w = self.sample_w[rows]
        return seen, targets, {"probs": w, "reconstruction": np.ones_like(w)}


def _eval_data(faces: FaceSet) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    images = to_float(faces.images)
    return images, {"probs": faces.training_targets(), "reconstruction": images}


def image_mse(y_true, y_pred):
    """MSE per face (not per pixel row), so per-face sample weights broadcast."""
    return keras.ops.mean(keras.ops.square(y_true - y_pred), axis=(1, 2, 3))


def _schedule(lr: float, epochs: int, steps: int, warmup_epochs: int = 0) -> Any:
    warmup = warmup_epochs * steps
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else lr,
        decay_steps=max(1, epochs * steps - warmup),
        alpha=0.01,
        warmup_target=lr if warmup else None,
        warmup_steps=warmup,
    )


def _history_lists(history: keras.callbacks.History) -> dict[str, list[float]]:
    return {k: [float(v) for v in vals] for k, vals in history.history.items()}


def _logged_history(log_file: Path) -> dict[str, list[float]]:
    """Every epoch of a stage from its CSV log, across the calls that resumed it.

    Keras' ``History`` holds only the epochs of the last call, so a run stopped by its budget
    and resumed (on a lent GPU, say) would keep only its last stretch; the log, appended epoch by
    epoch after the backup, holds them all, once each.
    """
    with log_file.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    keys = [k for k in (rows[0] if rows else {}) if k != "epoch"]
    return {k: [float(row[k]) for row in rows] for k in keys}


def pretrain(
    cfg: TrainConfig, run: RunDir, splits: Splits, verbose: int, budget: Budget | None = None
) -> None:
    if run.model("encoder_pretrained").exists():
        log.info("pretrain: done already, skipping")
        return
    p = cfg.pretrain
    encoder, decoder = build_encoder(cfg.model), build_decoder(cfg.model)
    ae = build_autoencoder(encoder, decoder)
    steps = int(np.ceil(len(splits.train) / p.batch_size))
    ae.compile(
        optimizer=keras.optimizers.Adam(_schedule(p.learning_rate, p.epochs, steps)), loss="mse"
    )
    holdout = to_float(splits.holdout.images)
    ae.fit(
        FaceBatches(splits.train, cfg, p.batch_size, "autoencoder"),
        validation_data=(holdout, holdout),
        epochs=p.epochs,
        shuffle=False,  # the dataset reshuffles itself every epoch
        verbose=verbose,
        callbacks=[
            keras.callbacks.BackupAndRestore(str(run.path("backup_pretrain"))),
            keras.callbacks.CSVLogger(str(run.path("pretrain_log.csv")), append=True),
            *([budget] if budget is not None else []),
        ],
    )
    encoder.save(run.model("encoder_pretrained"))
    decoder.save(run.model("decoder_pretrained"))
    run.update_metrics(pretrain=_logged_history(run.path("pretrain_log.csv")))


def encode(encoder: keras.Model, faces: FaceSet, batch_size: int = 512) -> np.ndarray:
    """float32 codes whatever the training precision, for scikit-learn and the saved ``.npz``."""
    codes = encoder.predict(to_float(faces.images), batch_size=batch_size, verbose=0)
    return codes.astype(np.float32)


def train_head(cfg: TrainConfig, run: RunDir, splits: Splits, verbose: int) -> None:
    """Dense head on frozen pre-trained codes; also saves those codes for the ablations."""
    if run.model("head_frozen").exists():
        log.info("head: done already, skipping")
        return
    encoder = keras.models.load_model(run.model("encoder_pretrained"))
    codes = {name: encode(encoder, faces) for name, faces in _named(splits)}
    np.savez_compressed(
        run.path("codes_pretrained.npz"),
        **codes,
        **{f"{name}_labels": faces.labels for name, faces in _named(splits)},
    )
    h, d = cfg.head, cfg.distill
    powers = h.class_weight_powers or (cfg.finetune.class_weight_power,)
    blends: tuple[float | None, ...] = (
        (d.weights or (d.weight,)) if splits.teacher is not None else (None,)
    )
    folders = cfg.data.folder_weights or (0.0,)
    fitted = {
        (power, blend, folder): _fit_head(cfg, codes, splits, power, blend, folder, verbose)
        for power in powers
        for blend in blends
        for folder in folders
    }
    scores = {choice: score for choice, (_, _, score) in fitted.items()}
    power, blend, folder = max(fitted, key=lambda choice: scores[choice])
    head, history, _ = fitted[(power, blend, folder)]
    if len(fitted) > 1:
        log.info(
            "head: class-weight power %s, teacher weight %s, folder-label weight %s are best on "
            "the holdout (%s)",
            power,
            blend,
            folder,
            scores,
        )
    head.save(run.model("head_frozen"))
    run.update_metrics(
        head=_history_lists(history),
        class_weight_power=power,
        distill_weight=blend,
        folder_weight=folder,
        class_weight_holdout={_choice_key(*choice, cfg): a for choice, a in scores.items()},
    )


def _choice_key(power: float, blend: float | None, folder: float, cfg: TrainConfig) -> str:
    """``power/teacher weight``, with ``/folder-label weight`` where the config tries some."""
    return f"{power}/{blend}" + (f"/{folder}" if cfg.data.folder_weights else "")


def _fit_head(
    cfg: TrainConfig,
    codes: dict[str, np.ndarray],
    splits: Splits,
    power: float,
    blend: float | None,
    folder: float,
    verbose: int,
) -> tuple[keras.Model, keras.callbacks.History, float]:
    """A head on frozen codes with class weights raised to ``power``, fitted to targets with the
    teacher blended in at ``blend`` and the folder labels at ``folder``; its holdout
    objective."""
    h = cfg.head
    keras.utils.set_random_seed(cfg.seed)
    head = build_head(cfg.model)
    head.compile(
        optimizer=keras.optimizers.Adam(h.learning_rate),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    weights = class_weights(splits.train.labels, power)[splits.train.labels]
    history = head.fit(
        codes["train"],
        splits.blended(blend, folder).training_targets(),
        sample_weight=weights,
        validation_data=(codes["holdout"], splits.holdout.training_targets()),
        batch_size=h.batch_size,
        epochs=h.epochs,
        verbose=verbose,
        callbacks=[
            HoldoutObjective(codes["holdout"], splits.holdout.labels),
            keras.callbacks.EarlyStopping(
                "val_objective", mode="max", patience=5, restore_best_weights=True
            ),
        ],
    )
    probs = head.predict(codes["holdout"], verbose=0)
    return head, history, holdout_objective(probs, splits.holdout.labels)


class HoldoutObjective(keras.callbacks.Callback):
    """Puts the holdout objective (:func:`train.scores.holdout_objective`) in each epoch's logs as
    ``val_objective``, for the early stop and the checkpoint that come after it in the list."""

    def __init__(self, inputs: np.ndarray, labels: np.ndarray) -> None:
        super().__init__()
        self.inputs = inputs
        self.labels = labels

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        out = self.model.predict(self.inputs, batch_size=512, verbose=0)
        probs = out["probs"] if isinstance(out, dict) else out
        if logs is not None:
            logs["val_objective"] = holdout_objective(np.asarray(probs), self.labels)


def _named(splits: Splits) -> list[tuple[str, FaceSet]]:
    named = [("train", splits.train), ("holdout", splits.holdout)]
    return named + ([("val", splits.val)] if splits.val is not None else [])


def _load_joint(run: RunDir, files: dict[str, str]) -> tuple[keras.Model, dict[str, keras.Model]]:
    """The joint model from saved parts (``files`` maps each part to its saved name)."""
    parts = {part: keras.models.load_model(run.model(name)) for part, name in files.items()}
    return build_joint(**parts), parts


def _save_parts(run: RunDir, parts: dict[str, keras.Model], suffix: str) -> None:
    for name, model in parts.items():
        model.save(run.model(f"{name}{suffix}"))


def finetune_optimizer(f: FinetuneConfig, steps: int, variables: list) -> keras.Optimizer:
    """AdamW or SGD with Nesterov momentum on the warm-up + cosine schedule, decaying kernels only.

    Decaying batch-norm scales, shifts and biases would fight the normalisation rather than
    regularise; on kernels that feed batch norm, decay instead keeps the effective step size up.
    Both optimizers decay decoupled from the gradient, scaled by the scheduled rate.
    """
    schedule = _schedule(f.learning_rate, f.epochs, steps, f.warmup_epochs)
    if f.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(
            schedule, momentum=f.momentum, nesterov=True, weight_decay=f.weight_decay
        )
    else:
        optimizer = keras.optimizers.AdamW(schedule, weight_decay=f.weight_decay)
    optimizer.exclude_from_weight_decay(var_list=[v for v in variables if len(v.shape) == 1])
    return optimizer


def finetune(
    cfg: TrainConfig, run: RunDir, splits: Splits, verbose: int, budget: Budget | None = None
) -> None:
    if run.model("encoder_finetuned").exists():
        log.info("finetune: done already, skipping")
        return
    f = cfg.finetune
    joint, parts = _load_joint(
        run,
        {"encoder": "encoder_pretrained", "head": "head_frozen", "decoder": "decoder_pretrained"},
    )
    callbacks: list[keras.callbacks.Callback] = []
    if f.self_distill:
        joint = self_distilling(joint, len(splits.train))
        callbacks.append(BlendSchedule(f.self_distill, f.epochs))
    steps = int(np.ceil(len(splits.train) / f.batch_size))
    optimizer = finetune_optimizer(f, steps, joint.trainable_variables)
    joint.compile(
        optimizer=optimizer,
        loss={
            "probs": keras.losses.CategoricalCrossentropy(label_smoothing=f.label_smoothing),
            "reconstruction": image_mse,
        },
        loss_weights={"probs": 1.0, "reconstruction": f.recon_weight},
        metrics={"probs": ["accuracy"]},
    )
    chosen = run.read_metrics()
    power = chosen.get("class_weight_power", f.class_weight_power)
    weights = class_weights(splits.train.labels, power)
    blend = chosen.get("distill_weight", cfg.distill.weight) if splits.teacher is not None else None
    folder = chosen.get("folder_weight") or 0.0
    log.info("class weights: %s", dict(zip(LABELS, np.round(weights, 2).tolist(), strict=True)))
    best = run.path("finetune_best.weights.h5")
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(best), "val_objective", save_best_only=True, save_weights_only=True, mode="max"
    )
    joint.fit(
        FaceBatches(splits.blended(blend, folder), cfg, f.batch_size, "joint", weights),
        validation_data=_eval_data(splits.holdout),
        validation_batch_size=512,
        epochs=f.epochs,
        shuffle=False,  # the dataset reshuffles itself every epoch
        verbose=verbose,
        callbacks=[
            keras.callbacks.BackupAndRestore(str(run.path("backup_finetune"))),
            *callbacks,
            HoldoutObjective(to_float(splits.holdout.images), splits.holdout.labels),
            checkpoint,
            keras.callbacks.CSVLogger(str(run.path("finetune_log.csv")), append=True),
            *([budget] if budget is not None else []),
        ],
    )
    joint.load_weights(best)
    _save_parts(run, parts, "_finetuned")
    run.update_metrics(finetune=_logged_history(run.path("finetune_log.csv")))


def recalibrate(cfg: TrainConfig, run: RunDir, splits: Splits) -> None:
    """Batch-norm statistics for plain faces (see ``train.batchnorm``); writes the final parts."""
    if run.model("encoder").exists():
        log.info("recalibrate: done already, skipping")
        return
    joint, parts = _load_joint(run, {part: f"{part}_finetuned" for part in PARTS})
    holdout = splits.holdout

    def holdout_score() -> float:
        probs = float_probs(parts["encoder"], parts["head"], holdout.images, flip=True)
        return holdout_objective(probs, holdout.labels)

    before = holdout_score()
    trained = joint.get_weights()
    order = np.random.default_rng(cfg.seed).permutation(len(splits.train))
    faces, size = to_float(splits.train.images[order]), cfg.finetune.batch_size
    recompute_batch_norm(joint, (faces[i : i + size] for i in range(0, len(faces), size)))
    after = holdout_score()
    used = after > before
    log.info(
        "recalibrated batch norm: holdout %.4f vs %.4f as trained, keeping the %s statistics",
        after,
        before,
        "recalibrated" if used else "trained",
    )
    if not used:
        joint.set_weights(trained)
    run.update_metrics(
        recalibrate={"holdout_trained": before, "holdout_recalibrated": after, "used": used}
    )
    _save_parts(run, parts, "")


def with_teacher(cfg: TrainConfig, run: RunDir, splits: Splits) -> Splits:
    """Training targets blended with a teacher's probabilities, mirror-averaged.

    The teacher is a CSV of probabilities per training file (:mod:`train.teacher`), a shipped
    member's folder (int8, through the runtime, at its temperature) or a finished run folder
    (float). A network sees each un-augmented training face once; its probabilities are kept in
    the run folder, so a resumed run blends exactly the same targets.
    The holdout keeps its own labels: model selection still answers to the crowd, not to the
    teacher.
    """
    cached = run.path("teacher_probs.npy")
    if is_teacher_csv(cfg.distill.teacher):
        train_folder = Path(cfg.data.train)
        table = load_teacher_csv(Path(cfg.distill.teacher).expanduser(), train_folder)
        teacher = table.for_files(splits.train.names(train_folder))
    elif cached.exists():
        teacher = np.load(cached)
    else:
        teacher = _ask_teacher(Path(cfg.distill.teacher).expanduser(), splits.train.images)
        np.save(cached, teacher)
    if len(teacher) != len(splits.train):
        raise DataError(
            f"{cached} holds {len(teacher)} faces, the training split {len(splits.train)}: "
            "delete it to ask the teacher again"
        )
    log.info("distilling from %s", cfg.distill.teacher)
    return dataclasses.replace(splits, teacher=teacher)


def _ask_teacher(folder: Path, images: np.ndarray) -> np.ndarray:
    # A member runs through the runtime (LiteRT), which a GPU machine training on JAX may lack:
    # imported only when a member teaches.
    from train.member import is_member, teacher_probs

    if is_member(folder):
        return teacher_probs(folder, images)
    run = RunDir(folder)
    if not run.model("encoder").exists():
        raise FileNotFoundError(
            f"no shipped member (manifest.json) or finished run to distil from in {folder}"
        )
    encoder = keras.models.load_model(run.model("encoder"))
    head = keras.models.load_model(run.model("head"))
    return float_probs(encoder, head, images, flip=True).astype(np.float32)


def run_precision(cfg: TrainConfig, run: RunDir) -> str:
    """The compute type for this run; ``auto`` is timed once and kept for every resume."""
    recorded = run.read_metrics().get("precision")
    if cfg.precision == "auto" and recorded:
        return recorded
    precision = resolve_precision(cfg.precision, partial(step_seconds, cfg))
    log.info("training computes in %s (config: %s)", precision, cfg.precision)
    run.update_metrics(precision=precision)
    return precision


RESUME_FREE = (
    "export.",
    "data.train",
    "data.val",
    "data.votes",
    "data.val_duplicates",
    "distill.teacher",
)
"""Config keys a resumed run may change: where the data (and a teacher's file) lives and how the
result is exported do not change what its checkpoints have learnt; a run packed for a GPU
(``train.pack``) resumes here under the paths it had there."""


def _flat(values: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def check_resumable(cfg: TrainConfig, run: RunDir) -> None:
    """A run folder resumes only under the config it started with.

    Its checkpoints and learning-rate schedule belong to that config: resumed under another
    (say a shorter fine-tuning), the schedule would jump and the run would finish as neither.
    The folder keeps its config, so the fix is in the message.
    """
    stored = run.path("config.toml")
    if not stored.exists():
        return
    before, after = _flat(load_config(stored).to_dict()), _flat(cfg.to_dict())
    changed = sorted(
        key
        for key in before.keys() | after.keys()
        if before.get(key) != after.get(key) and not key.startswith(RESUME_FREE)
    )
    if changed:
        raise ConfigError(
            f"{run.root} was started with another config ({', '.join(changed)} differ): resume "
            f"it with --config {stored}, or start a new --run-dir"
        )


class BudgetSpent(Exception):
    """Training stopped at an epoch's end because its wall-clock budget ran out; the run folder
    holds everything a rerun of the same command needs to go on."""


class Budget(keras.callbacks.Callback):
    """Stops a run, with its checkpoint written, once ``seconds`` of wall time are spent.

    A lent machine gives a fixed time, after which it and everything on it are gone: the run
    must end cleanly at an epoch boundary before that, not be killed mid-write. Placed after
    ``BackupAndRestore`` and the CSV log in the callback list, it raises once they have saved
    the epoch, so the backup survives (``on_train_end`` would delete it).
    """

    def __init__(self, seconds: float | None) -> None:
        super().__init__()
        self.deadline = None if seconds is None else time.monotonic() + seconds
        self.trained = False  # whether this run has trained an epoch yet

    @property
    def spent(self) -> bool:
        """Out of time, once at least one epoch has run: every call makes some progress."""
        return self.trained and self.deadline is not None and time.monotonic() >= self.deadline

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.trained = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.spent:
            raise BudgetSpent(f"the wall-clock budget ran out after epoch {epoch + 1}")


def fit(
    cfg: TrainConfig, run_dir: str | Path, verbose: int = 2, budget_s: float | None = None
) -> RunDir:
    """Run every stage that is not finished yet, within ``budget_s`` seconds if given."""
    budget = Budget(budget_s)
    run = RunDir(run_dir)
    check_resumable(cfg, run)
    (run.root / "models").mkdir(parents=True, exist_ok=True)
    run.path("config.toml").write_text(dump_config(cfg))
    precision = run_precision(cfg, run)
    keras.utils.set_random_seed(cfg.seed)  # after timing, which builds models of its own
    splits = load_splits(cfg)
    if cfg.distill.teacher:
        splits = with_teacher(cfg, run, splits)
    with dtype_policy(precision):
        for name, stage in (
            ("pretrain", partial(pretrain, cfg, run, splits, verbose, budget)),
            ("head", partial(train_head, cfg, run, splits, verbose)),
            ("finetune", partial(finetune, cfg, run, splits, verbose, budget)),
            ("recalibrate", partial(recalibrate, cfg, run, splits)),
        ):
            if budget.spent:
                raise BudgetSpent(f"the wall-clock budget ran out before {name}")
            _timed(run, name, stage)
    return run


def _timed(run: RunDir, name: str, stage: Callable[[], object]) -> None:
    """Run one stage; add its wall time to the run's record (a resumed stage adds up)."""
    start = time.monotonic()
    try:
        stage()
    finally:
        timings = run.read_metrics().get("stage_seconds", {})
        timings[name] = round(timings.get(name, 0.0) + time.monotonic() - start, 1)
        run.update_metrics(stage_seconds=timings)
