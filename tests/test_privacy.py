"""Privacy by default: blurred faces in pictures, a private store with a retention, quiet listeners.

Each test runs the real thing: ``emostream run`` on an OpenCV clip with a real subscriber, the
SQLite store on disk, a real ZeroMQ socket.
"""

from __future__ import annotations

import logging
import stat
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream.cli import build_parser
from stream.publish.publisher import Publisher
from stream.publish.subscriber import Subscriber
from stream.store.database import Store
from stream.store.recorder import Recorder
from tests.test_pipeline import collect, emostream, finish, free_endpoint, preview_socket
from tests.test_record import frame_message


def detail(image: np.ndarray, box: list[float]) -> float:
    """Variance of the Laplacian inside the middle of a face's box: high where there is detail.

    The middle 60 % keeps clear of the outline and label that ``annotate`` draws on the box.
    """
    height, width = image.shape[:2]
    x, y, w, h = box
    x0, x1 = int((x + 0.2 * w) * width), int((x + 0.8 * w) * width)
    y0, y1 = int((y + 0.2 * h) * height), int((y + 0.8 * h) * height)
    grey = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def frames_of(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            return frames
        frames.append(image)


def test_blur_faces_leaves_no_face_detail_in_the_recording_or_previews(
    make_clip, model_dir: Path, tmp_path: Path
) -> None:
    clip = make_clip(frames=16, faces=1)
    endpoint = free_endpoint()
    record = tmp_path / "blurred.mp4"
    previews = preview_socket(endpoint, "cam")
    process = emostream(
        "run", "--source", str(clip), "--publish", endpoint, "--camera-id", "cam",
        "--wait-subscribers", "2", "--wait-timeout", "30", "--record", str(record),
        "--blur-faces", "--preview-fps", "50", model_dir=model_dir,
    )  # fmt: skip
    try:
        with Subscriber(endpoint, ["emostream/cam"]) as subscriber:
            messages, _ = collect(subscriber, 16)
        _, jpeg = previews.recv_multipart()
    finally:
        previews.close(linger=0)
    code, _, err = finish(process)
    assert code == 0, err

    boxes = {m["frame"]: m["faces"][0]["box"] for m in messages if m["faces"]}
    assert len(boxes) >= 12
    original, blurred = frames_of(clip), frames_of(record)
    assert len(blurred) == len(original) == 16
    for number, box in boxes.items():
        before, after = detail(original[number], box), detail(blurred[number], box)
        assert before > 50, "the clip's face should have detail to hide"
        assert after < 0.1 * before, (number, before, after)
    preview = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    box = next(iter(boxes.values()))
    assert detail(preview, box) < 0.1 * detail(original[0], box)


def test_a_new_store_is_readable_by_its_owner_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "history.db"
    store = Store(str(path))
    recorder = Recorder(store, batch_s=0.0)
    recorder.take(frame_message("lobby", 0, at=time.time()))
    assert recorder.flush()
    for file in (path, path.with_name("history.db-wal"), path.with_name("history.db-shm")):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    store.close()

    shared = tmp_path / "shared.db"
    shared.touch(mode=0o644)
    shared.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="stream.store.database"):
        Store(str(shared)).close()
    assert "chmod 600" in caplog.text


def test_record_keeps_thirty_days_unless_told() -> None:
    parse = build_parser().parse_args
    base = ["record", "--connect", "tcp://127.0.0.1:1", "--db", "h.db"]
    assert parse(base).keep_days == 30
    assert parse([*base, "--keep-days", "forever"]).keep_days is None
    assert parse([*base, "--keep-days", "0.5"]).keep_days == 0.5
    with pytest.raises(SystemExit):
        parse([*base, "--keep-days", "0"])


def test_the_default_retention_prunes_what_is_older(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "h.db"))
    now = time.time()
    recorder = Recorder(store, batch_s=0.0, keep_days=build_parser().parse_args(
        ["record", "--connect", "tcp://127.0.0.1:1", "--db", "x"]).keep_days)  # fmt: skip
    recorder.take(frame_message("lobby", 0, at=now - 31 * 86400))
    recorder.take(frame_message("lobby", 1, at=now - 29 * 86400))
    assert recorder.flush()
    assert store.query("SELECT frame FROM faces") == [(1,)]
    store.close()


def test_a_publisher_open_to_the_network_without_curve_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="stream.publish.publisher"):
        Publisher("tcp://127.0.0.1:*").close()
        assert caplog.text == ""
        Publisher("tcp://0.0.0.0:*").close()
    assert "without CURVE" in caplog.text


def test_every_listener_defaults_to_loopback() -> None:
    parse = build_parser().parse_args
    assert parse(["run", "--source", "0"]).publish.startswith("tcp://127.0.0.1:")
    assert parse(["run", "--source", "0", "--metrics", "9100"]).metrics == ("127.0.0.1", 9100)
    assert (
        parse(
            ["mqtt", "--connect", "tcp://127.0.0.1:1", "--broker", "mqtt://h", "--metrics", "9101"]
        ).metrics[0]
        == "127.0.0.1"
    )
    assert parse(["dashboard"]).host == "127.0.0.1"
    assert parse(["broker"]).backend.startswith("tcp://127.0.0.1:")
