"""Detection ahead on a thread of its own: which detection each frame uses, whatever the timing.

A stand-in detector reads the frame number painted into each frame's corner and returns the
astronaut's face box with that number as its score, so every result says which frame's
detection labelled it. It can be made slow, erratic, blocked or failing; the real MediaPipe
detector runs in the end-to-end checks at the bottom.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from stream.assemble import RecognizerOptions, member_macs, video_recognizer
from stream.behind import BEHIND_NICE
from stream.faces.ahead import FIXED, FRESHEST
from stream.faces.detector import Detection, FaceDetector
from stream.faces.mesh import FaceMesh, Mesh
from stream.faces.tracker import IouTracker
from stream.models import Manifest, load_models
from stream.pipeline import Pipeline, PipelineOptions
from stream.publish import schema
from stream.publish.subscriber import Subscriber
from stream.recognizer import FORESIGHT, Recognition, Recognizer
from stream.sources import Frame
from tests.test_pipeline import ListSink, ScriptedSource, collect, emostream, finish, free_endpoint


def painted(image: np.ndarray, number: int) -> np.ndarray:
    out = image.copy()
    out[0, 0] = (number % 256, number // 256, 0)
    return out


class StandIn:
    """A detector that knows which frame it was given, with a delay of the test's choosing."""

    def __init__(self, reference: FaceDetector, astronaut: np.ndarray) -> None:
        self.box = reference.detect(astronaut[:, :, ::-1].copy())[0]
        self.delay = lambda: 0.0
        self.gate = threading.Event()
        self.gate.set()
        self.fail_on: set[int] = set()
        self.seen: list[int] = []

    def detect_bgr(self, bgr: np.ndarray) -> list[Detection]:
        number = int(bgr[0, 0, 0]) + 256 * int(bgr[0, 0, 1])
        self.seen.append(number)
        self.gate.wait(timeout=30)
        time.sleep(self.delay())
        if number in self.fail_on:
            raise RuntimeError(f"frame {number} is bad")
        b = self.box
        return [Detection(b.box, float(number), b.right_eye, b.left_eye)]


@pytest.fixture
def stand_in(astronaut: np.ndarray):
    reference = FaceDetector()
    yield StandIn(reference, astronaut)
    reference.close()


def recognizer_with(model_dir: Path, stand_in: StandIn, **kwargs) -> Recognizer:
    return Recognizer(load_models(model_dir), stand_in, IouTracker(), **kwargs)  # type: ignore[arg-type]


def used(recognizer: Recognizer, astronaut: np.ndarray, frames: range) -> list[int]:
    return [
        int(recognizer.recognize(painted(astronaut, k)).faces[0].detection.score) for k in frames
    ]


def test_fixed_labels_each_frame_with_the_newest_detection_started_before_it(
    model_dir: Path, stand_in: StandIn, astronaut: np.ndarray
) -> None:
    recognizer = recognizer_with(model_dir, stand_in, detect_every=3, ahead=FIXED)
    try:
        got = used(recognizer, astronaut, range(12))
    finally:
        recognizer.close()
    assert got == [0, 0, 0, 0, 3, 3, 3, 6, 6, 6, 9, 9]
    assert sorted(stand_in.seen) == [0, 3, 6, 9]  # only the frames due, each once


def test_fixed_gives_the_same_frames_however_slow_or_erratic_the_detector(
    model_dir: Path, stand_in: StandIn, astronaut: np.ndarray
) -> None:
    expected = [2 * ((k - 1) // 2) if k else 0 for k in range(16)]
    for delay in (lambda: 0.0, lambda: 0.03, lambda: random.uniform(0.0, 0.02)):
        stand_in.delay = delay
        recognizer = recognizer_with(model_dir, stand_in, detect_every=2, ahead=FIXED)
        try:
            assert used(recognizer, astronaut, range(16)) == expected
        finally:
            recognizer.close()


def test_freshest_never_waits_for_a_busy_detector(
    model_dir: Path, stand_in: StandIn, astronaut: np.ndarray
) -> None:
    recognizer = recognizer_with(model_dir, stand_in, detect_every=2, ahead=FRESHEST)
    try:
        assert used(recognizer, astronaut, range(2)) == [0, 0]  # the first frame waits
        stand_in.gate.clear()  # the detector hangs on the next frame it gets
        start = time.monotonic()
        assert used(recognizer, astronaut, range(2, 8)) == [0] * 6
        assert time.monotonic() - start < 5  # labelled with the old boxes, not held up
        stand_in.gate.set()
        deadline = time.monotonic() + 10
        newest = 0
        while newest == 0 and time.monotonic() < deadline:
            newest = used(recognizer, astronaut, range(8, 9))[0]
        assert newest == 2  # the frame that was in the detector when it hung
    finally:
        stand_in.gate.set()
        recognizer.close()


def test_a_failed_detection_fails_one_frame_and_the_stream_goes_on(
    model_dir: Path, stand_in: StandIn, astronaut: np.ndarray
) -> None:
    stand_in.fail_on = {3}
    recognizer = recognizer_with(model_dir, stand_in, detect_every=3, ahead=FIXED)
    try:
        assert used(recognizer, astronaut, range(4)) == [0] * 4
        with pytest.raises(RuntimeError, match="frame 3 is bad"):
            recognizer.recognize(painted(astronaut, 4))
        assert used(recognizer, astronaut, range(5, 7)) == [0, 0]  # the old boxes carry on
        assert used(recognizer, astronaut, range(7, 10)) == [6, 6, 6]
    finally:
        recognizer.close()


def number_of(bgr: np.ndarray) -> int:
    return int(bgr[0, 0, 0]) + 256 * int(bgr[0, 0, 1])


class Logged(Recognizer):
    """Records, in order, which painted frame each :meth:`foresee` and :meth:`recognize` got."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, int]] = []

    def foresee(self, bgr: np.ndarray, distance: int) -> None:
        if distance == self.foresight:
            self.calls.append(("foresee", number_of(bgr)))
        super().foresee(bgr, distance)

    def recognize(self, bgr: np.ndarray) -> Recognition:
        self.calls.append(("recognize", number_of(bgr)))
        return super().recognize(bgr)


def test_a_foreseen_detection_starts_foresight_frames_early_and_changes_nothing(
    model_dir: Path, stand_in: StandIn, astronaut: np.ndarray
) -> None:
    stand_in.delay = lambda: 0.01
    recognizer = recognizer_with(model_dir, stand_in, detect_every=3, ahead=FIXED)
    got, foreseen = [], []
    try:
        for k in range(12):
            while distance := recognizer.foresight:
                due = k + distance
                foreseen.append((k, due))
                recognizer.foresee(painted(astronaut, due), distance)
                recognizer.foresee(painted(astronaut, due), distance)  # asked twice: started once
                recognizer.foresee(painted(astronaut, due + 1), distance + 1)  # not asked: ignored
                deadline = time.monotonic() + 10
                while due not in stand_in.seen and time.monotonic() < deadline:
                    time.sleep(0.001)
                assert due in stand_in.seen  # started before frame k is even labelled
            got.append(used(recognizer, astronaut, range(k, k + 1))[0])
    finally:
        recognizer.close()
    assert foreseen == [(due - FORESIGHT, due) for due in (3, 6, 9, 12)]
    assert got == [0, 0, 0, 0, 3, 3, 3, 6, 6, 6, 9, 9]  # as without foreseeing
    assert sorted(stand_in.seen) == [0, 3, 6, 9, 12]


def test_foreseeing_every_frame_reads_foresight_ahead_and_changes_nothing(
    model_dir: Path, stand_in: StandIn, astronaut: np.ndarray
) -> None:
    """With a detection due on every frame, FORESIGHT are always running ahead, none twice."""
    recognizer = recognizer_with(model_dir, stand_in, detect_every=1, ahead=FIXED)
    got, foreseen = [], []
    try:
        for k in range(8):
            while distance := recognizer.foresight:
                foreseen.append(k + distance)
                recognizer.foresee(painted(astronaut, k + distance), distance)
            got.append(used(recognizer, astronaut, range(k, k + 1))[0])
    finally:
        recognizer.close()
    assert foreseen == list(range(1, 8 + FORESIGHT))
    assert got == [0, 0, 1, 2, 3, 4, 5, 6]  # frame k labelled with frame k - 1's detection
    assert sorted(stand_in.seen) == list(range(8 + FORESIGHT))


def test_only_the_fixed_schedule_foresees(
    model_dir: Path, stand_in: StandIn, astronaut: np.ndarray
) -> None:
    for ahead in (None, FRESHEST):
        recognizer = recognizer_with(model_dir, stand_in, detect_every=2, ahead=ahead)
        try:
            for k in range(4):
                assert not recognizer.foresight
                recognizer.foresee(painted(astronaut, 100 + k), 1)  # ignored
                recognizer.recognize(painted(astronaut, k))
        finally:
            recognizer.close()
    assert not [n for n in stand_in.seen if n >= 100]


class Held(ScriptedSource):
    """Every frame decoded and held, so :meth:`peek` sees them; each read goes into ``log``."""

    def __init__(self, images: list[np.ndarray], log: list[tuple[str, int]]) -> None:
        super().__init__(images)
        self.log = log

    def read(self, timeout: float | None = None) -> Frame | None:
        frame = super().read(timeout)
        if frame is not None:
            self.log.append(("read", frame.index))
        return frame


class Unbuffered(Held):
    """Holds no frame ahead of the one it hands over, as a camera."""

    def peek(self, ahead: int) -> Frame | None:
        return None


def logged_run(
    model_dir: Path, stand_in: StandIn, images: list[np.ndarray], source: type[Held]
) -> tuple[list[str], list[dict[str, Any]]]:
    """The pipeline over ``images`` on the fixed schedule, every third frame: the reads,
    handovers and recognitions in order, and the frame messages."""
    recognizer = Logged(load_models(model_dir), stand_in, IouTracker(), detect_every=3, ahead=FIXED)  # type: ignore[arg-type]
    sink = ListSink()
    try:
        held = source(images, recognizer.calls)
        counters = Pipeline(held, recognizer, sink, PipelineOptions("t")).run()
    finally:
        recognizer.close()
    assert counters.frames == len(images)
    frames = [
        schema.decode(topic, payload) for topic, payload in sink.messages if topic == b"emostream/t"
    ]
    return [f"{kind} {n}" for kind, n in recognizer.calls], frames


def test_the_pipeline_hands_detection_frames_over_from_the_source_and_labels_as_without(
    model_dir: Path, stand_in: StandIn, astronaut: np.ndarray
) -> None:
    images = [painted(astronaut, k) for k in range(14)]
    order, frames = logged_run(model_dir, stand_in, images, Held)
    assert [int(f["faces"][0]["score"]) for f in frames] == [
        3 * ((k - 1) // 3) if k else 0 for k in range(14)
    ]
    for due in (3, 6, 9, 12):  # each detection frame handed over FORESIGHT frames before its turn
        assert order.index(f"foresee {due}") == order.index(f"recognize {due - FORESIGHT}") - 1
    for k in range(1, 14):  # and nothing read early for it: a frame is read after the one before
        assert order.index(f"read {k}") > order.index(f"recognize {k - 1}")
    assert sorted(stand_in.seen) == [0, 3, 6, 9, 12]
    assert all(f["latency_ms"]["total"] >= f["latency_ms"]["detect"] for f in frames)


def test_a_source_without_frames_at_hand_is_not_waited_on_for_them(
    model_dir: Path, stand_in: StandIn, astronaut: np.ndarray
) -> None:
    """A live source holds no frames ahead: each detection runs from its own frame."""
    order, frames = logged_run(
        model_dir, stand_in, [painted(astronaut, k) for k in range(8)], Unbuffered
    )
    assert len(frames) == 8
    assert not [call for call in order if call.startswith("foresee")]
    assert sorted(stand_in.seen) == [0, 3, 6]


class StandInMesh:
    """A face mesh that gives the astronaut's real points with the frame's painted number as
    its presence, so each face says which frame's reading it carries; slow on demand."""

    def __init__(self, detector: StandIn, astronaut: np.ndarray) -> None:
        mesh = FaceMesh().run(astronaut, detector.box)
        assert mesh is not None
        self.points = mesh.points
        self.delay = lambda: 0.0
        self.seen: list[tuple[int, str]] = []

    def run(self, bgr: np.ndarray, det: Detection) -> Mesh:
        number = number_of(bgr)
        self.seen.append((number, threading.current_thread().name))
        time.sleep(self.delay())
        return Mesh(self.points, float(number))


def mesh_shown(recognizer: Recognizer, astronaut: np.ndarray, frames: range) -> list[int]:
    shown = []
    for k in frames:
        (face,) = recognizer.recognize(painted(astronaut, k)).faces
        assert face.mesh is not None and face.geometry is not None
        shown.append(int(face.mesh.presence))
    return shown


def test_ahead_the_mesh_runs_on_its_own_thread_and_shows_from_the_next_frame(
    model_dir: Path, stand_in: StandIn, astronaut: np.ndarray
) -> None:
    """A reading due on frame k is taken on frame k and carried from frame k + 1, however long
    it takes; a new face's first reading is waited for on its own frame."""
    mesh = StandInMesh(stand_in, astronaut)
    for delay in (lambda: 0.0, lambda: 0.03, lambda: random.uniform(0.0, 0.02)):
        mesh.delay, mesh.seen = delay, []
        recognizer = recognizer_with(
            model_dir, stand_in, detect_every=3, ahead=FIXED, mesh=mesh, mesh_every=4
        )
        try:
            got = mesh_shown(recognizer, astronaut, range(12))
        finally:
            recognizer.close()
        assert got == [0, 0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8]
        assert [number for number, _ in mesh.seen] == [0, 4, 8]
        assert {thread for _, thread in mesh.seen} == {"face-mesh_0"}


def test_inline_the_mesh_shows_on_the_frame_it_is_read(
    model_dir: Path, stand_in: StandIn, astronaut: np.ndarray
) -> None:
    mesh = StandInMesh(stand_in, astronaut)
    recognizer = recognizer_with(model_dir, stand_in, detect_every=3, mesh=mesh, mesh_every=4)
    got = mesh_shown(recognizer, astronaut, range(12))
    assert got == [0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8]
    assert {thread for _, thread in mesh.seen} == {threading.current_thread().name}


class PriorityNoted:
    """A call that notes the nice value of every thread that makes it."""

    def __init__(self, call: Callable[..., Any]) -> None:
        self.call = call
        self.nices: set[int] = set()

    def __call__(self, *args: Any) -> Any:
        self.nices.add(os.getpriority(os.PRIO_PROCESS, 0))
        return self.call(*args)


@pytest.mark.skipif(sys.platform != "linux", reason="only Linux keeps a nice value per thread")
def test_ahead_the_detector_and_the_mesh_run_behind_the_frames_thread(
    model_dir: Path, stand_in: StandIn, astronaut: np.ndarray
) -> None:
    """Inline, both run on the frame's thread at its priority."""
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    detect = stand_in.detect_bgr
    for ahead, expected in ((FIXED, min(mine + BEHIND_NICE, 19)), (None, mine)):
        mesh = StandInMesh(stand_in, astronaut)
        noted_detect, noted_mesh = PriorityNoted(detect), PriorityNoted(mesh.run)
        stand_in.detect_bgr = noted_detect  # type: ignore[method-assign]
        mesh.run = noted_mesh  # type: ignore[method-assign]
        recognizer = recognizer_with(
            model_dir, stand_in, detect_every=3, ahead=ahead, mesh=mesh, mesh_every=4
        )
        try:
            mesh_shown(recognizer, astronaut, range(9))
        finally:
            recognizer.close()
        assert noted_detect.nices == noted_mesh.nices == {expected}
        assert os.getpriority(os.PRIO_PROCESS, 0) == mine


def test_close_stops_the_threads(model_dir: Path, stand_in: StandIn, astronaut: np.ndarray) -> None:
    mesh = StandInMesh(stand_in, astronaut)
    recognizer = recognizer_with(model_dir, stand_in, ahead=FIXED, mesh=mesh, mesh_every=2)
    mesh_shown(recognizer, astronaut, range(3))
    recognizer.close()
    names = [t.name for t in threading.enumerate() if t.is_alive()]
    assert not [name for name in names if name == "face-detector" or name.startswith("face-mesh")]
    with pytest.raises(ValueError, match="ahead must be one of"):
        recognizer_with(model_dir, stand_in, ahead="sometimes")


def _labels(clip: Path, model_dir: Path, *extra: str) -> list[list[tuple[int, str]]]:
    endpoint = free_endpoint()
    process = emostream(
        "run", "--source", str(clip), "--publish", endpoint, "--camera-id", "ahead",
        "--wait-subscribers", "1", "--wait-timeout", "30", *extra, model_dir=model_dir,
    )  # fmt: skip
    with Subscriber(endpoint, ["emostream/ahead"]) as subscriber:
        frames, _ = collect(subscriber, 36)
    code, _, err = finish(process)
    assert code == 0, err
    return [sorted((f["id"], f["label"]) for f in m["faces"]) for m in frames]


def test_run_on_a_file_gives_the_same_labels_every_time(make_clip, model_dir: Path) -> None:
    clip = make_clip(frames=36, faces=2)
    first, second = _labels(clip, model_dir), _labels(clip, model_dir)
    assert len(first) == 36 and first == second
    inline = _labels(clip, model_dir, "--detection", "inline")
    agree = sum(a == b for a, b in zip(first, inline, strict=True))
    assert agree >= 0.9 * len(inline)  # the same faces; only detection frames use older boxes


@pytest.mark.parametrize(
    ("cores", "detection", "macs", "threads", "expected"),
    [(2, "ahead", 9_240_192, None, 1), (1, "ahead", 34_239_744, None, 1),
     (2, "ahead", 230_100_480, None, 2), (2, "ahead", None, None, 2),
     (4, "ahead", 9_240_192, None, 2), (2, "inline", 9_240_192, None, 2),
     (2, "ahead", 9_240_192, 3, 3)],
)  # fmt: skip
def test_a_light_members_threads_leave_a_small_cpus_second_core_to_detection(
    monkeypatch, cores: int, detection: str, macs: int | None, threads: int | None, expected: int
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(cores)))
    options = RecognizerOptions(threads=threads, detection=detection)
    assert options.model_threads(macs) == expected


def test_a_members_cost_comes_from_its_manifest(model_dir: Path, tmp_path: Path) -> None:
    assert member_macs(model_dir) == Manifest.load(model_dir).raw["cost"]["macs_per_face"]
    stripped = tmp_path / "model"
    shutil.copytree(model_dir, stripped)
    manifest = json.loads((stripped / "manifest.json").read_text())
    del manifest["cost"]
    (stripped / "manifest.json").write_text(json.dumps(manifest))
    assert member_macs(stripped) is None


@pytest.mark.parametrize(("cores", "detection", "pool"), [(2, "ahead", 1), (4, "ahead", 4),
                                                          (2, "inline", 4)])  # fmt: skip
def test_opencv_keeps_to_one_thread_only_ahead_on_a_small_cpu(
    monkeypatch, model_dir: Path, stand_in: StandIn, cores: int, detection: str, pool: int
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(cores)))
    original = cv2.getNumThreads()
    cv2.setNumThreads(4)
    try:
        options = RecognizerOptions(detection=detection, landmarks=0)
        recognizer = video_recognizer(load_models(model_dir), stand_in, None, options)  # type: ignore[arg-type]
        recognizer.close()
        assert cv2.getNumThreads() == pool
    finally:
        cv2.setNumThreads(original)
