"""The runtime must run where TensorFlow is absent: it must not even import it when it is there."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from stream.cli import build_parser
from stream.faces.detector import FaceDetector
from stream.models import load_models
import stream.dashboard.app, stream.pipeline, stream.evaluate
build_parser()
FaceDetector().close()
print(sorted(m for m in ("tensorflow", "keras", "jax") if m in sys.modules))
"""


def test_runtime_never_imports_tensorflow() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"
