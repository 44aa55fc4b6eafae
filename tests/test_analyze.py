"""``emostream analyze`` and the Python API, on real video files the tests write with OpenCV."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from stream.analysis.rows import columns, read_table
from stream.publish.subscriber import Subscriber
from tests.test_pipeline import free_endpoint

ROOT = Path(__file__).resolve().parents[1]
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def analyze(*args: str, model_dir: Path, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stream", "analyze", *args, "--models", str(model_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


def container_times(path: Path) -> list[float]:
    """Each frame's timestamp as the container gives it: ffprobe where present, else OpenCV."""
    if shutil.which("ffprobe"):
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
             "frame=pts_time", "-of", "csv=p=0", str(path)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        return [float(v) for v in re.findall(r"[0-9.]+", out)]
    capture, times = cv2.VideoCapture(str(path)), []
    while capture.read()[0]:
        times.append(capture.get(cv2.CAP_PROP_POS_MSEC) / 1000)
    return times


@pytest.fixture(scope="module")
def two_faces_then_none(make_clip, tmp_path_factory) -> Path:
    """24 frames with two faces, then 12 with none, joined into one file."""
    folder = tmp_path_factory.mktemp("analyze")
    faces = make_clip(folder / "faces.avi", frames=24, size=(480, 240), faces=2)
    empty = make_clip(folder / "empty.avi", frames=12, size=(480, 240), faces=0)
    out = folder / "joined.avi"
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"MJPG"), 24, (480, 240))
    for part in (faces, empty):
        capture = cv2.VideoCapture(str(part))
        while (read := capture.read())[0]:
            writer.write(read[1])
    writer.release()
    return out


def test_one_row_per_face_per_frame_with_the_container_time(
    two_faces_then_none: Path, model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rows.jsonl"
    done = analyze(str(two_faces_then_none), "--out", str(out), model_dir=model_dir)
    assert done.returncode == 0, done.stderr
    rows = read_table(out)
    assert list(rows[0]) == columns(LABELS)
    per_frame: dict[int, list[dict]] = {}
    for row in rows:
        per_frame.setdefault(row["frame"], []).append(row)
    assert sorted(per_frame) == list(range(36))
    assert all(len(per_frame[i]) == 2 for i in range(24))
    assert all(len(per_frame[i]) == 1 and per_frame[i][0]["track"] is None for i in range(24, 36))
    assert all(per_frame[30][0][name] is None for name in ("label", "x", "p_happy", "quality"))
    times = [per_frame[i][0]["time_s"] for i in range(36)]
    assert times == sorted(times) and len(set(times)) == 36
    assert times == pytest.approx(container_times(two_faces_then_none), abs=1e-3)
    face = per_frame[5][0]
    assert sum(face[f"p_{label}"] for label in LABELS) == pytest.approx(1.0, abs=1e-3)
    assert face["label"] in LABELS and 0 < face["w"] < 1 and isinstance(face["uncertain"], bool)
    assert abs(face["yaw"]) < 30 and face["frontal"] is True and 0 <= face["eye_left"] <= 1
    assert all(per_frame[30][0][name] is None for name in ("yaw", "mouth", "frontal"))
    assert face["gaze_yaw"] is None and face["gaze_pitch"] is None  # no --gaze


def _run_messages(clip: Path, model_dir: Path, *extra: str) -> dict[int, dict]:
    endpoint = free_endpoint()
    with Subscriber(endpoint) as subscriber:
        process = subprocess.Popen(
            [sys.executable, "-m", "stream", "run", "--source", str(clip), "--models",
             str(model_dir), "--publish", endpoint, "--camera-id", "same",
             "--wait-subscribers", "1", "--wait-timeout", "90", *extra],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        messages = {}
        deadline = time.monotonic() + 120
        while len(messages) < 30 and time.monotonic() < deadline:
            message = subscriber.receive(timeout=1.0)
            if message is not None and not message.is_stats:
                messages[message.payload["frame"]] = message.payload
        process.wait(timeout=60)
    assert process.returncode == 0, process.stderr.read()
    assert len(messages) == 30
    return messages


def test_the_same_labels_and_boxes_as_run(make_clip, model_dir: Path, tmp_path: Path) -> None:
    """analyze detects inline on the frames it is due: run --detection inline, row for row.

    run's default detects ahead on its own thread, so a detection frame carries the boxes of the
    detection before it; every other frame is the same. Both read the gaze here."""
    clip = make_clip(frames=30, faces=1)
    inline = _run_messages(clip, model_dir, "--detection", "inline", "--gaze")
    ahead = _run_messages(clip, model_dir)
    out = tmp_path / "rows.csv"
    assert analyze(str(clip), "--gaze", "--out", str(out), model_dir=model_dir).returncode == 0
    rows = read_table(out)
    for row in rows:
        (face,) = inline[row["frame"]]["faces"]
        assert row["label"] == face["label"] and row["track"] == face["id"]
        assert [row["x"], row["y"], row["w"], row["h"]] == face["box"]
        assert row["confidence"] == face["confidence"]
        assert [row["yaw"], row["pitch"], row["roll"]] == list(face["pose"].values())
        assert [row["eye_right"], row["eye_left"], row["mouth"], row["frontal"]] == [
            *face["eyes_open"],
            face["mouth_open"],
            face["frontal"],
        ]
        gaze = face["gaze"]
        assert [row["gaze_yaw"], row["gaze_pitch"]] == (
            [gaze["yaw"], gaze["pitch"]] if gaze else [None, None]
        )
    assert any(inline[n]["faces"][0]["gaze"] is not None for n in inline)
    not_detection_frames = [row for row in rows if row["frame"] % 3 != 0]
    for row in not_detection_frames:
        (face,) = ahead[row["frame"]]["faces"]
        assert [row["x"], row["y"], row["w"], row["h"]] == face["box"]


def test_workers_give_identical_output_and_every_format_round_trips(
    make_clip, model_dir: Path, tmp_path: Path
) -> None:
    clips = [
        make_clip(tmp_path / f"c{i}.mp4", frames=12 + 6 * i, faces=1 + i % 2) for i in range(3)
    ]
    outputs = {}
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}.jsonl"
        done = analyze(str(tmp_path / "c*.mp4"), "--workers", workers, "--out", str(out),
                       model_dir=model_dir)  # fmt: skip
        assert done.returncode == 0, done.stderr
        outputs[workers] = out.read_bytes()
    assert outputs["1"] == outputs["2"]
    rows = read_table(tmp_path / "w1.jsonl")
    assert [row["source"] for row in rows] == sorted(row["source"] for row in rows)
    assert {row["source"] for row in rows} == {str(c) for c in clips}
    for suffix in (".csv", ".parquet"):
        out = tmp_path / f"rows{suffix}"
        done = analyze(*map(str, clips), "--out", str(out), "--workers", "1", model_dir=model_dir)
        assert done.returncode == 0, done.stderr
        assert read_table(out) == rows, suffix


def test_bad_inputs_cost_one_line_each(make_clip, model_dir: Path, tmp_path: Path) -> None:
    good = make_clip(frames=24, faces=1)
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")
    whole = make_clip(tmp_path / "whole.avi", frames=24, faces=1)  # MJPEG: cut, it still plays
    truncated = tmp_path / "cut.avi"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    out = tmp_path / "rows.csv"
    done = analyze(str(tmp_path / "missing.mp4"), str(not_video), str(truncated), str(good),
                   "--out", str(out), model_dir=model_dir)  # fmt: skip
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert any("missing.mp4: no such file" in line for line in lines)
    assert any("notes.mp4: not a video file" in line for line in lines)
    cut = [line for line in lines if "cut.avi" in line]
    assert len(cut) == 1 and re.search(r"ended after \d+ of 24 frames", cut[0])
    assert len(lines) == 3, done.stderr
    rows = read_table(out)
    assert {row["source"] for row in rows} == {str(truncated), str(good)}
    assert 0 < sum(row["source"] == str(truncated) for row in rows) < 24

    only_good = analyze(str(truncated), str(good), "--out", str(out), model_dir=model_dir)
    assert only_good.returncode == 0, only_good.stderr
    unwritable = analyze(str(good), "--out", str(tmp_path / "no" / "such" / "dir.csv"),
                         model_dir=model_dir)  # fmt: skip
    assert unwritable.returncode != 0
    assert unwritable.stderr.strip().splitlines() == [
        f"emostream analyze: error: cannot write {tmp_path / 'no' / 'such' / 'dir.csv'}: "
        "No such file or directory"
    ]


def test_parquet_without_pyarrow_names_the_extra(make_clip, model_dir: Path, tmp_path) -> None:
    probe = (
        "import sys; sys.modules['pyarrow'] = None; from stream.cli import entry; "
        f"sys.argv = ['emostream', 'analyze', {str(make_clip(frames=4))!r}, '--out', "
        f"{str(tmp_path / 'x.parquet')!r}, '--models', {str(model_dir)!r}]; entry()"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "emostream analyze: error: writing Parquet needs pyarrow: pip install 'emostream[analysis]'"
    ]


def test_summary_plot_and_progress_only_on_a_terminal(
    two_faces_then_none: Path, model_dir: Path, tmp_path: Path
) -> None:
    plot = tmp_path / "plot.png"
    done = analyze(str(two_faces_then_none), "--summary", "--plot", str(plot), model_dir=model_dir)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:5] == ["source", "track", "on", "screen", "frames"]
    whole, *tracks = [line.split() for line in lines[1:]]
    assert whole[1] == "all" and whole[2] == "1.5" and whole[4] == "36"
    assert len(tracks) == 2 and all(t[2] == "1.0" and t[4] == "24" for t in tracks)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "frame" not in done.stderr  # no bar: stderr was a pipe

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "stream", "analyze", str(two_faces_then_none), "--models",
         str(model_dir), "--out", str(tmp_path / "r.csv")],
        stdout=subprocess.DEVNULL, stderr=follower,
    )  # fmt: skip
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert process.wait(timeout=120) == 0
    assert b"36/36" in seen and b"frame/s" in seen


def test_the_documented_api_example_runs(
    make_clip, astronaut, model_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    readme = (ROOT / "docs" / "analyze.md").read_text()
    block = readme.split("<!-- api-example -->")[1].split("<!-- /api-example -->")[0]
    code = block.split("```python")[1].split("```")[0]
    shutil.copy(make_clip(frames=12, faces=1), tmp_path / "clip.mp4")
    cv2.imwrite(str(tmp_path / "photo.jpg"), astronaut)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMOSTREAM_MODELS", str(model_dir))
    printed: list[str] = []
    namespace = {"print": lambda *a: printed.append(" ".join(map(str, a)))}
    exec(compile(code, "docs/analyze.md", "exec"), namespace)
    assert printed[0].split()[0] in LABELS
    assert len(printed) == 1 + 12
    table = namespace["table"]
    records = table.to_dict("records") if hasattr(table, "to_dict") else table
    assert len(records) == 12 and json.dumps(records[0], default=str)


def test_every_output_error_is_one_class(tmp_path: Path) -> None:
    """A caller catching stream.errors.OutputError catches analyze's table errors too."""
    from stream.analysis.rows import TableWriter
    from stream.errors import OutputError

    with pytest.raises(OutputError, match="unknown table format"):
        TableWriter(tmp_path / "rows.xlsx", LABELS)
    with pytest.raises(OutputError, match="cannot write"):
        TableWriter(tmp_path / "no" / "such" / "rows.csv", LABELS)
