"""The runtime on a Raspberry Pi's software: ``emostream evaluate`` in emulated aarch64 Debian.

Each case builds, once, an arm64 Debian root with only what the Pi needs from the system (Python
and the GL/EGL libraries that OpenCV's and MediaPipe's wheels link against): Bookworm with
CPython 3.11 and Trixie with CPython 3.13, the two Raspberry Pi OS releases. The runtime's
dependencies are installed into it from their aarch64 wheels, and the shipped models then score
a few faces through this checkout's code under ``qemu-aarch64``.

qemu is taken from Trixie's ``qemu-user-static``: Bookworm's qemu 7.2 crashes inside LiteRT's and
MediaPipe's TFLite interpreters, which 10.0 runs. Nothing here needs binfmt_misc: qemu is called
directly, with ``-L`` pointing at the arm64 root. The roots are cached in
``~/.cache/emostream-aarch64/``. Needs ``mmdebstrap`` (``.ci/run`` installs it), root and the
package registries; skips, saying which is missing, otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.test_platforms import MACHINES, index_unreachable

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "emostream-aarch64"
SYSTEMS = {
    "bookworm": ("3.11", "libglib2.0-0"),
    "trixie": ("3.13", "libglib2.0-0t64"),
}


def _debootstrap(suite: str, arch: str, packages: list[str], into: Path) -> None:
    if (into / ".complete").exists():
        return
    shutil.rmtree(into, ignore_errors=True)
    into.parent.mkdir(parents=True, exist_ok=True)
    command = ["mmdebstrap", "--variant=extract", f"--architectures={arch}"]
    done = subprocess.run(
        [*command, f"--include={','.join(packages)}", suite, str(into)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        pytest.skip(f"cannot build the {suite} {arch} root: {lines[-1] if lines else '?'}")
    # Trixie's packages keep everything under /usr; the merged-/usr links come from base-files,
    # which an extract-only root lacks, and the dynamic loader is looked up through /lib.
    for name in ("bin", "sbin", "lib"):
        if not (into / name).exists() and (into / "usr" / name).is_dir():
            (into / name).symlink_to(f"usr/{name}")
    (into / ".complete").touch()


def _qemu() -> Path:
    root = CACHE / "qemu-trixie"
    _debootstrap("trixie", "amd64", ["qemu-user-static"], root)
    return root / "usr" / "bin" / "qemu-aarch64"


def _site_packages(python: str) -> Path:
    """The runtime's dependencies as aarch64 wheels, keyed on pyproject.toml's contents."""
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:12]
    target = CACHE / f"site-{python}-{key}"
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    platforms = [arg for tag in MACHINES["linux-aarch64"] for arg in ("--platform", tag)]
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-warn-conflicts"]
    command += ["--only-binary=:all:", *platforms, "--python-version", python]
    command += ["--implementation", "cp", "--target", str(target), str(ROOT)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    (target / ".complete").touch()
    return target


@pytest.fixture(scope="module")
def emulator() -> Path:
    if shutil.which("mmdebstrap") is None:
        pytest.skip("mmdebstrap is not installed (apt-get install mmdebstrap)")
    if os.geteuid() != 0:
        pytest.skip("building the arm64 roots with mmdebstrap needs root")
    reason = index_unreachable()
    if reason:
        pytest.skip(reason)
    return _qemu()


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> Path:
    """Three 48×48 faces labelled happy, and the whole photo as a scene to detect in."""
    data = tmp_path_factory.mktemp("aarch64-faces")
    gray = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    (data / "crops" / "happy").mkdir(parents=True)
    (data / "scenes" / "happy").mkdir(parents=True)
    for i, (x, y) in enumerate([(150, 60), (146, 58), (154, 62)]):
        face = cv2.resize(gray[y : y + 140, x : x + 140], (48, 48), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(data / "crops" / "happy" / f"{i}.png"), face)
    cv2.imwrite(str(data / "scenes" / "happy" / "astronaut.png"), astronaut)
    return data


@pytest.mark.slow
@pytest.mark.parametrize("suite", sorted(SYSTEMS))
def test_evaluate_runs_in_emulated_aarch64(suite: str, emulator: Path, faces: Path) -> None:
    python, glib = SYSTEMS[suite]
    system = CACHE / f"arm64-{suite}"
    packages = ["python3-minimal", "libpython3-stdlib", "libgl1", "libegl1", "libgles2", glib]
    _debootstrap(suite, "arm64", packages, system)
    site = _site_packages(python)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{site}", "PYTHONNOUSERSITE": "1"}
    base = [str(emulator), "-L", str(system), str(system / "usr" / "bin" / f"python{python}")]

    probe = subprocess.run(
        [*base, "-c", "import platform, sys; print(platform.machine(), sys.version_info[:2])"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert probe.stdout.split()[0] == "aarch64", probe.stderr
    for folder, extra, n in (("crops", [], 3), ("scenes", ["--detect"], 1)):
        done = subprocess.run(
            [*base, "-m", "stream", "evaluate", str(faces / folder), "--json", *extra],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        report = json.loads(done.stdout)
        assert report["n"] == n and report["no_face"] == 0
        assert set(report["recall"]) == {
            "angry",
            "disgust",
            "fear",
            "happy",
            "sad",
            "surprise",
            "neutral",
        }
