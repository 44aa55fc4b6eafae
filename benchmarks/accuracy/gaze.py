"""Benchmark: how consistent the gaze is, and what the iris model costs on top of the mesh.

No clip here comes with where its people look, so this measures consistency, not accuracy. On
every 2nd frame of the shared clips with a face (``../shared/videos``), each detected face's gaze
is read on the frame and on its mirror image: a perfect reader gives opposite yaws and equal
pitches, so half the yaws' sum and half the pitches' difference are its error from asymmetry
alone. The eyes' turn within the head (gaze less head pose) is given too: over people who mostly
look near the camera, a median far from zero is a bias of the geometric eye model. Cost: the
median milliseconds of the mesh alone and of the mesh with the iris model on both eyes, per face.

``python -m benchmarks.accuracy.gaze``
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import standalone
from benchmarks.common.context import BenchContext
from benchmarks.common.report import Section, Table
from stream.faces.detector import FaceDetector
from stream.faces.geometry import eye_turn, read_geometry
from stream.faces.mesh import FaceMesh

log = logging.getLogger(__name__)

NAME = "gaze"
TITLE = "Gaze: agreement with the mirror image, and the iris model's cost"
CLIPS = ("WolfgangLanger_Pexels.mp4", "single_face.mp4", "face_noface.mov", "noface_face.mov")
EVERY = 2


def _gaze(frame: np.ndarray, detector: FaceDetector, mesh: FaceMesh) -> list[tuple]:
    """(gaze, eye turn, ms of the mesh with the iris model) for each face the mesh reads."""
    found = []
    for det in detector.detect_bgr(frame)[:1]:
        start = time.perf_counter()
        result = mesh.run(frame, det)
        ms = 1000.0 * (time.perf_counter() - start)
        if result is None or result.irises is None:
            continue
        geometry = read_geometry(result.points, result.irises)
        if geometry.gaze is not None:
            turn = eye_turn(result.points, result.irises, geometry.eyes_open)
            found.append((geometry.gaze, turn, ms))
    return found


def _mesh_ms(frames: list[np.ndarray], detector: FaceDetector, mesh: FaceMesh) -> float:
    times = []
    for frame in frames:
        for det in detector.detect_bgr(frame)[:1]:
            start = time.perf_counter()
            mesh.run(frame, det)
            times.append(1000.0 * (time.perf_counter() - start))
    return float(np.median(times)) if times else float("nan")


def measure(shared: Path) -> tuple[list[Table], list[str]]:
    detector = FaceDetector("short", min_score=0.5, max_faces=1)
    plain, with_iris = FaceMesh(), FaceMesh(gaze=True)
    table = Table(
        "Per clip: faces read on a frame and its mirror; median (90th percentile) of the error",
        ["clip", "faces", "yaw error", "pitch error", "eye yaw in head", "eye pitch in head"],
    )
    sampled: list[np.ndarray] = []
    iris_ms: list[float] = []
    for name in CLIPS:
        path = shared / "videos" / name
        if not path.exists():
            continue
        capture = cv2.VideoCapture(str(path))
        yaw_err, pitch_err, turns = [], [], []
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            index += 1
            if index % EVERY:
                continue
            here = _gaze(frame, detector, with_iris)
            there = _gaze(np.ascontiguousarray(frame[:, ::-1]), detector, with_iris)
            if len(here) != 1 or len(there) != 1:
                continue
            (gaze, turn, ms), (mirrored, _, _) = here[0], there[0]
            yaw_err.append(abs(gaze[0] + mirrored[0]) / 2)
            pitch_err.append(abs(gaze[1] - mirrored[1]) / 2)
            turns.append(turn)
            iris_ms.append(ms)
            if len(sampled) < 200:
                sampled.append(frame)
        capture.release()
        if not turns:
            continue
        eye = np.array(turns)

        def spread(values: list[float]) -> str:
            return f"{np.median(values):.1f}° ({np.percentile(values, 90):.1f}°)"

        table.add(
            name, len(turns), spread(yaw_err), spread(pitch_err),
            f"{np.median(eye[:, 0]):+.1f}°", f"{np.median(eye[:, 1]):+.1f}°",
        )  # fmt: skip
    if not iris_ms:
        return [], ["No shared clip with a face was found: nothing measured."]
    mesh_ms = _mesh_ms(sampled, detector, plain)
    notes = [
        f"Per face, one thread: the mesh alone {mesh_ms:.2f} ms, the mesh and the iris model on "
        f"both eyes {np.median(iris_ms):.2f} ms (medians; `run --gaze` pays the difference at "
        "each face-mesh reading).",
        "Errors are in degrees of gaze: how far a reading and its mirror image's disagree, "
        "halved. They bound the reader's noise from below; they say nothing of a bias shared "
        "by both sides.",
    ]
    return [table], notes


def run(ctx: BenchContext) -> Section:
    command = ctx.command(NAME)
    if ctx.shared is None or not (ctx.shared / "videos").is_dir():
        return Section(NAME, TITLE, command, notes=["Skipped: ../shared/videos is missing."])
    tables, notes = measure(ctx.shared)
    return Section(NAME, TITLE, command, tables=tables, notes=notes)


def main(argv: list[str] | None = None) -> int:
    return standalone.main("benchmarks.accuracy.gaze", NAME, TITLE, measure, argv)


if __name__ == "__main__":
    raise SystemExit(main())
