"""Evaluate a finished run on ``val``: float and int8 accuracy, the ablation table, detection path.

Int8 figures come from the runtime's own code (``stream.evaluate``) on the exported files, after
the manifest is written with the calibrations the runtime needs (crop convention and the
reconstruction-error quantiles behind the quality score).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from stream.codes.encoder import FaceEncoder
from stream.codes.macs import face_pass_macs
from stream.codes.runner import open_runner
from stream.evaluate import evaluate_crops, evaluate_scenes
from stream.faces.calibrate import calibrate_crop
from stream.faces.detector import FaceDetector
from stream.faces.paste import paste_face
from stream.labels.quality import QualityScorer
from stream.models import Models, load_models
from train.config import ModelConfig, TrainConfig
from train.export import MODEL_FILES
from train.fit import RunDir, float_probs, load_splits
from train.manifest import write_manifest
from train.model import build_encoder, build_head, load_float32
from train.scores import objective_of

log = logging.getLogger(__name__)

UNCERTAIN_BELOW = 0.01


def ablations(run: RunDir, cfg_model: ModelConfig, seed: int) -> dict[str, float]:
    """The seed's alternatives on frozen pre-trained codes, scored on val."""
    codes = np.load(run.path("codes_pretrained.npz"))
    x, y, xv, yv = codes["train"], codes["train_labels"], codes["val"], codes["val_labels"]
    candidates = {
        "logistic regression": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        "linear SVM": make_pipeline(StandardScaler(), LinearSVC(C=0.1, max_iter=5000)),
        "random forest": RandomForestClassifier(300, n_jobs=-1, random_state=seed),
    }
    scores: dict[str, float] = {}
    for name, model in candidates.items():
        model.fit(x, y)
        scores[name] = float((model.predict(xv) == yv).mean())
        log.info("ablation %s: %.4f", name, scores[name])
    head = load_float32(lambda: build_head(cfg_model), run.model("head_frozen"))
    scores["dense head on frozen codes"] = float(
        (head.predict(xv, verbose=0).argmax(1) == yv).mean()
    )
    return scores


def error_quantiles(out: Path, faces: np.ndarray) -> list[float]:
    """Quantiles 0..100 % of the int8 reconstruction error of held-out training faces."""
    encoder = FaceEncoder(open_runner(out / MODEL_FILES["encoder"]))
    scorer = QualityScorer(open_runner(out / MODEL_FILES["decoder"]), encoder.code_spec, [0, 1])
    errors = np.concatenate(
        [
            scorer.errors(faces[i : i + 256], encoder.encode(faces[i : i + 256]))
            for i in range(0, len(faces), 256)
        ]
    )
    return np.quantile(errors, np.linspace(0, 1, 101)).tolist()


def with_flip(models: Models, flip: bool) -> Models:
    return dataclasses.replace(
        models, manifest=dataclasses.replace(models.manifest, flip_average=flip)
    )


def evaluate_run(cfg: TrainConfig, run_dir: str | Path, out_dir: str | Path) -> dict:
    run = RunDir(run_dir)
    out = Path(out_dir)
    splits = load_splits(cfg)
    if splits.val is None:
        raise FileNotFoundError("the config names no val data to evaluate on")
    val, holdout = splits.val, splits.holdout

    crop = calibrate_crop(splits.train.images, seed=cfg.seed)
    quantiles = error_quantiles(out, holdout.images)
    write_manifest(cfg, out, crop, quantiles, UNCERTAIN_BELOW)
    models = load_models(out)
    # Mirror averaging is a model-selection choice: made on the held-out split, never on val,
    # by the holdout objective (train.scores.OBJECTIVE) like every other choice.
    holdout_acc = {
        flip: objective_of(
            evaluate_crops(with_flip(models, flip), holdout.images, holdout.labels).confusion
        )
        for flip in (False, True)
    }
    single = face_pass_macs(out)
    budget = cfg.export.max_macs_per_face
    affordable = not budget or 2 * single <= budget
    flip = affordable and holdout_acc[True] > holdout_acc[False]
    if not affordable:
        log.info("mirror averaging would cost %.1f M MACs a face, over the %.1f M budget",
                 2 * single / 1e6, budget / 1e6)  # fmt: skip
    log.info("holdout int8 objective %s: mirror averaging %s", holdout_acc, "on" if flip else "off")
    write_manifest(cfg, out, crop, quantiles, UNCERTAIN_BELOW, flip_average=flip)
    models = load_models(out)
    int8 = evaluate_crops(models, val.images, val.labels)
    single_crop = evaluate_crops(with_flip(models, False), val.images, val.labels)
    log.info("int8 accuracy on val: %.4f (single crop %.4f)", int8.accuracy, single_crop.accuracy)

    encoder = load_float32(
        lambda: build_encoder(cfg.model, cfg.data.image_size), run.model("encoder")
    )
    head = load_float32(lambda: build_head(cfg.model), run.model("head"))
    float_acc = float((float_probs(encoder, head, val.images, flip).argmax(1) == val.labels).mean())
    log.info("float accuracy on val: %.4f", float_acc)

    rng = np.random.default_rng(cfg.seed)
    frames = [paste_face(face, rng).frame for face in val.images]
    detector = FaceDetector("short", min_score=0.5, max_faces=1)
    detected = evaluate_scenes(models, frames, val.labels, detector)
    detector.close()
    log.info(
        "int8 accuracy through detection: %.4f (%d no face)", detected.accuracy, detected.no_face
    )

    evaluation = {
        "float_accuracy": round(float_acc, 4),
        "int8": int8.to_dict(),
        "int8_single_crop": round(single_crop.accuracy, 4),
        "int8_detect": detected.to_dict(),
        "flip_average": flip,
        "holdout_int8": {"single_crop": holdout_acc[False], "flip_average": holdout_acc[True]},
        "ablations": {k: round(v, 4) for k, v in ablations(run, cfg.model, cfg.seed).items()},
        "crop": crop.to_dict(),
        "error_quantiles": quantiles,
    }
    run.update_metrics(evaluation=evaluation)
    return evaluation
