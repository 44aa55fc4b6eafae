"""A quiet start: nothing but our own output reaches the terminal when ``run`` or ``demo`` starts.

Native libraries (MediaPipe, LiteRT, FFmpeg, OpenCV) write straight to file descriptor 2, past
Python's logging; each real start here is a separate process whose stderr is read whole.
"""

from __future__ import annotations

import subprocess
import sys
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


def test_native_noise_is_dropped_and_everything_else_passes() -> None:
    """What native code writes on fd 2 goes through the filter; Python's own lines bypass it."""
    script = (
        "import os, sys\n"
        "from stream.process import NativeStderrFilter\n"
        "native = NativeStderrFilter()\n"
        "os.write(2, b'WARNING: Logging before InitGoogle() is written to STDERR\\n')\n"
        "os.write(2, b'W0000 00:00:1796403943.978755 9206 inference_runner_litert.cc:1433] "
        "Input tensor memory is not aligned\\n')\n"
        "os.write(2, b'I1204 17:00:00.123456 1 gl_context.cc:1] GL version\\n')\n"
        "os.write(2, b'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n')\n"
        "os.write(2, b'E1204 17:00:00.123456 1 graph.cc:9] a real native error\\n')\n"
        "os.write(2, b'free(): invalid pointer\\n')\n"
        "print('our own line', file=sys.stderr)\n"
        "native.close()\n"
        "os.write(2, b'W0000 00:00:1.0 1 x.cc:1] after close: the terminal again\\n')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "our own line" in lines
    assert any("a real native error" in line for line in lines)
    assert "free(): invalid pointer" in lines
    assert not any("InitGoogle" in line or "not aligned" in line or "GL version" in line
                   or "XNNPACK" in line for line in lines)  # fmt: skip
    assert lines[-1].endswith("after close: the terminal again")
