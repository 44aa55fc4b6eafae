"""``emostream evaluate``: accuracy of the shipped int8 models on a folder-per-label data set."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from stream.codes.delegates import DELEGATES
from stream.commands.argtypes import add_model_options, positive_int
from stream.evaluate import (
    Evaluation,
    evaluate_crops,
    evaluate_scenes,
    load_labelled_images,
    read_image,
    to_face,
)
from stream.faces.detector import FaceDetector
from stream.family import resolve_model_dir
from stream.models import load_models


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="accuracy, per-class recall and confusion matrix on DATA_DIR/<label>/*.jpg",
        description=(
            "Run the int8 models through the runtime's own code on labelled images in "
            "DATA_DIR/<label>/ (label folders named angry, disgust, fear, happy, sad, surprise, "
            "neutral) and print accuracy, per-class recall, the confusion matrix and ms per face."
        ),
    )
    parser.add_argument("data_dir", type=Path, metavar="DATA_DIR")
    parser.add_argument(
        "--detect",
        action="store_true",
        help="treat images as scenes: detect and crop the face first (for full-size photos)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_model_options(parser)
    parser.add_argument("--delegate", default="cpu", help=f"{', '.join(DELEGATES)} or a path")
    parser.add_argument(
        "--threads", type=positive_int, default=2, help="CPU threads for the models"
    )
    parser.add_argument(
        "--limit", type=positive_int, default=None, help="evaluate at most N images"
    )
    parser.set_defaults(handler=handle)


def format_report(result: Evaluation, detect: bool) -> str:
    labels = result.labels
    width = max(len(name) for name in labels) + 2
    lines = [
        f"images: {result.n}" + (f" (no face found in {result.no_face})" if detect else ""),
        f"accuracy: {100 * result.accuracy:.2f} %"
        + (f" ({100 * result.found_accuracy:.2f} % of the faces found)" if detect else ""),
        f"balanced accuracy: {100 * result.balanced_accuracy:.2f} % (mean recall over the "
        f"{sum(r is not None for r in result.recall().values())} classes present)",
        f"time: {result.ms_per_face:.2f} ms per {'image' if detect else 'face'}",
        "",
        "per-class recall:",
    ]
    lines += [
        f"  {name:<{width}}" + ("     – (no faces)" if r is None else f"{100 * r:6.1f} %")
        for name, r in result.recall().items()
    ]
    lines += ["", "confusion matrix (rows true, columns predicted):"]
    lines.append(" " * width + "".join(f"{name[:7]:>8}" for name in labels))
    for name, row in zip(labels, result.confusion, strict=True):
        lines.append(f"{name:<{width}}" + "".join(f"{v:8d}" for v in row))
    return "\n".join(lines)


def handle(args: argparse.Namespace) -> int:
    model_dir = resolve_model_dir(args.model, args.models)
    models = load_models(model_dir, args.delegate, args.threads)
    name = str(models.manifest.raw.get("name", model_dir.name))
    paths, targets = load_labelled_images(args.data_dir, models.manifest.labels)
    if args.limit is not None:
        pick = np.random.default_rng(0).permutation(len(paths))[: args.limit]
        paths, targets = [paths[i] for i in pick], targets[pick]
    images = [read_image(p) for p in paths]
    if args.detect:
        detector = FaceDetector("short", min_score=0.5, max_faces=1)
        try:
            result = evaluate_scenes(models, images, targets, detector)
        finally:
            detector.close()
    else:
        size = models.manifest.input_size
        faces = np.stack([to_face(image, size) for image in images])
        result = evaluate_crops(models, faces, targets)
    if args.json:
        print(json.dumps({"model": name, "models": str(model_dir)} | result.to_dict()))
    else:
        print(f"model: {name} ({model_dir})\n" + format_report(result, args.detect))
    return 0
