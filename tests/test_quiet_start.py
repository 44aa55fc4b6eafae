"""A quiet start: nothing but our own output reaches the terminal when ``run`` or ``demo`` starts.

Native libraries (MediaPipe, LiteRT, FFmpeg, OpenCV) write straight to file descriptor 2, past
Python's logging; each real start here is a separate process whose stderr is read whole.
"""

from __future__ import annotations

from pathlib import Path

from tests.test_pipeline import emostream, finish, free_endpoint


def test_run_starts_and_ends_without_a_line_on_stderr(make_clip, model_dir: Path) -> None:
    clip = make_clip(frames=30, faces=1)
    process = emostream(
        "run", "--source", str(clip), "--publish", free_endpoint(), model_dir=model_dir
    )
    code, _, err = finish(process, timeout=120)
    assert code == 0
    assert err == ""


def test_demo_starts_without_a_line_on_stderr(model_dir: Path) -> None:
    process = emostream("demo", "--seconds", "3", "--publish", free_endpoint(), model_dir=model_dir)
    code, out, err = finish(process, timeout=120)
    assert code == 0
    assert err == ""
    assert out.splitlines()[0].startswith("CAMERA")  # the subscriber's header comes first
    assert len(out.splitlines()) > 5
