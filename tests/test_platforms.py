"""The runtime resolves to binary wheels on every platform our users run, proved against the index.

For each target, pip resolves the whole runtime dependency tree (the base install, not the
extras) as that platform's installer would, with ``--only-binary=:all:``, and writes its
``--report``. Nothing is installed. A Raspberry Pi on Bookworm has glibc 2.36, so Linux targets
accept every manylinux tag up to 2.36; macOS targets accept 11.0 to 14.0. The test needs the
package index and skips, saying so, where it cannot be reached.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHONS = ("3.11", "3.12", "3.13")
MACHINES = {
    "linux-aarch64": [f"manylinux_2_{minor}_aarch64" for minor in range(17, 37)]
    + ["manylinux2014_aarch64"],
    "linux-x86_64": [f"manylinux_2_{minor}_x86_64" for minor in range(17, 37)]
    + ["manylinux2014_x86_64"],
    "macos-arm64": [f"macosx_{major}_0_arm64" for major in range(11, 15)],
}
NEVER = {"jax", "jaxlib", "tensorflow", "tensorflow-cpu", "scikit-image", "scipy"}


@cache
def index_unreachable() -> str | None:
    """Why the package index cannot be used here, or None when it answers."""
    try:
        probe = subprocess.run(
            [sys.executable, "-m", "pip", "index", "versions", "pip"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        return "the package index did not answer within 120 s"
    if probe.returncode != 0:
        lines = [line for line in probe.stderr.splitlines() if line.strip()]
        return f"the package index is unreachable: {lines[-1] if lines else probe.returncode}"
    return None


def resolve(machine: str, python: str, tmp_path: Path) -> list[dict]:
    report = tmp_path / "report.json"
    platforms = [arg for tag in MACHINES[machine] for arg in ("--platform", tag)]
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed"]
    command += ["--quiet", "--only-binary=:all:", *platforms, "--python-version", python]
    command += ["--implementation", "cp", "--target", str(tmp_path / "target")]
    done = subprocess.run(
        [*command, "--report", str(report), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(report.read_text())["install"]


@pytest.mark.slow
@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_runtime_resolves_to_binary_wheels(machine: str, python: str, tmp_path: Path) -> None:
    reason = index_unreachable()
    if reason:
        pytest.skip(reason)
    items = resolve(machine, python, tmp_path)
    names = {item["metadata"]["name"].lower(): item for item in items}
    assert "emostream" in names and "mediapipe" in names and "ai-edge-litert" in names
    assert not NEVER & names.keys(), f"the runtime pulls in {sorted(NEVER & names.keys())}"
    assert names["mediapipe"]["metadata"]["version"].startswith("1.")
    for name, item in names.items():
        if name == "emostream":
            continue
        wheel = item["download_info"]["url"].rsplit("/", 1)[-1]
        assert wheel.endswith(".whl"), f"{name} would be built from source: {wheel}"
