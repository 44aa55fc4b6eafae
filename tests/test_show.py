"""`--show` opens a real preview window on an X display (Xvfb), and refuses without one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

XVFB = shutil.which("Xvfb")


@pytest.fixture
def display() -> str:
    if XVFB is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    for number in range(90, 110):
        if not Path(f"/tmp/.X11-unix/X{number}").exists():
            break
    server = subprocess.Popen(
        [XVFB, f":{number}", "-screen", "0", "800x600x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        assert time.monotonic() < deadline and server.poll() is None, "Xvfb did not start"
        time.sleep(0.1)
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


def test_show_opens_a_window_on_a_display(display: str, make_clip, model_dir: Path) -> None:
    clip = make_clip(frames=10)
    result = subprocess.run(
        [sys.executable, "-m", "stream", "run", "--source", str(clip), "--show",
         "--publish", "tcp://127.0.0.1:*"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "DISPLAY": display, "EMOSTREAM_MODELS": str(model_dir)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
