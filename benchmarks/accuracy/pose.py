"""Benchmark: how each member's accuracy falls with head pose, to choose the ``frontal`` range.

The face mesh reads yaw and pitch on every FER2013 val face (each 48×48 photo taken as the
detector's box, as tightly framed as FER2013 crops are); the faces are then grouped by |yaw| and
by |pitch|, and every member is scored on each group by the FER+ crowd majority: accuracy,
balanced accuracy, and the share of val in the group. ``FRONTAL_YAW_DEG`` and
``FRONTAL_PITCH_DEG`` in ``stream/faces/geometry.py`` are set where the default member's balanced
accuracy falls clearly below its frontal figure; the model card quotes this table.

``python -m benchmarks.accuracy.pose``
"""

from __future__ import annotations

import itertools
import logging
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.accuracy.family import DATA, _confusion, _member_probs, load_val
from benchmarks.common import standalone
from benchmarks.common.context import BenchContext
from benchmarks.common.report import Section, Table
from stream.accuracy import balanced_accuracy
from stream.faces.detector import Detection
from stream.faces.geometry import FRONTAL_PITCH_DEG, FRONTAL_YAW_DEG, head_pose
from stream.faces.mesh import FaceMesh
from stream.family import family_root, members
from stream.models import load_models

log = logging.getLogger(__name__)

NAME = "pose"
TITLE = "Accuracy by head pose (the face mesh's yaw and pitch) on FER2013 val, FER+ majority"
YAW_EDGES = (0.0, 10.0, 20.0, 30.0, 40.0, 90.0)
PITCH_EDGES = (0.0, 10.0, 20.0, 30.0, 90.0)
WHOLE = Detection((0.0, 0.0, 1.0, 1.0), 1.0, (0.3, 0.4), (0.7, 0.4))
"""A FER2013 face is its own box: centred, eyes level, about as wide as the photo."""


def poses(images: np.ndarray) -> tuple[np.ndarray, float]:
    """(N, 2) yaw and pitch per face (NaN where the mesh sees no face), and ms a face."""
    mesh = FaceMesh()
    out = np.full((len(images), 2), np.nan)
    start = time.perf_counter()
    for i, gray in enumerate(images):
        found = mesh.run(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), WHOLE)
        if found is not None:
            out[i] = head_pose(found.points)[:2]
    return out, 1000.0 * (time.perf_counter() - start) / max(len(images), 1)


def measure(shared: Path) -> tuple[list[Table], list[str]]:
    val = load_val(shared)
    angles, ms = poses(val.faces.images)
    scored = val.crowd >= 0
    predictions = {
        m.name: _member_probs(load_models(m.path), val.faces.images).argmax(axis=1)
        for m in members(family_root())
    }
    tables = []
    for axis, column, edges in (("|yaw|", 0, YAW_EDGES), ("|pitch|", 1, PITCH_EDGES)):
        table = Table(
            f"By {axis}: accuracy / balanced accuracy on the FER+ majority",
            [axis, "faces", "share", *predictions],
        )
        for low, high in itertools.pairwise(edges):
            size = np.abs(angles[:, column])
            group = scored & (size >= low) & (size < high)
            cells = []
            for predicted in predictions.values():
                confusion = _confusion(predicted[group], val.crowd[group])
                accuracy = float(np.trace(confusion)) / max(int(confusion.sum()), 1)
                cells.append(f"{100 * accuracy:.1f} % / {balanced_accuracy(confusion):.3f}")
            share = 100 * group.sum() / scored.sum()
            table.add(f"{low:.0f}–{high:.0f}°", int(group.sum()), f"{share:.1f} %", *cells)
        tables.append(table)
    missing = int(np.isnan(angles[:, 0]).sum())
    notes = [
        f"The mesh ran at {ms:.2f} ms a face here and saw no face on {missing} of "
        f"{len(angles)} val photos (left out of every row).",
        f"The runtime's frontal range: |yaw| ≤ {FRONTAL_YAW_DEG:.0f}°, "
        f"|pitch| ≤ {FRONTAL_PITCH_DEG:.0f}°.",
    ]
    return tables, notes


def run(ctx: BenchContext) -> Section:
    command = ctx.command(NAME)
    if ctx.shared is None or not (ctx.shared / DATA / "ferplus.csv").exists():
        return Section(NAME, TITLE, command, notes=[f"Skipped: ../shared/{DATA} is missing."])
    tables, notes = measure(ctx.shared)
    return Section(NAME, TITLE, command, tables=tables, notes=notes)


def main(argv: list[str] | None = None) -> int:
    return standalone.main("benchmarks.accuracy.pose", NAME, TITLE, measure, argv)


if __name__ == "__main__":
    raise SystemExit(main())
