"""Detection ahead on a thread of its own: which detection each frame uses, whatever the timing.

A stand-in detector reads the frame number painted into each frame's corner and returns the
astronaut's face box with that number as its score, so every result says which frame's
detection labelled it. It can be made slow, erratic, blocked or failing; the real MediaPipe
detector runs in the end-to-end checks at the bottom.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from stream.faces.ahead import FIXED, FRESHEST
from stream.faces.detector import Detection, FaceDetector
from stream.faces.tracker import IouTracker
from stream.models import load_models
from stream.publish.subscriber import Subscriber
from stream.recognizer import Recognizer
from tests.test_pipeline import collect, emostream, finish, free_endpoint


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

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        number = int(rgb[0, 0, 2]) + 256 * int(rgb[0, 0, 1])  # painted in BGR, read in RGB
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


def test_close_stops_the_thread(model_dir: Path, stand_in: StandIn) -> None:
    recognizer = recognizer_with(model_dir, stand_in, ahead=FIXED)
    recognizer.close()
    assert not any(t.name == "face-detector" and t.is_alive() for t in threading.enumerate())
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
