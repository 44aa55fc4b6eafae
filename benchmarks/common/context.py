"""What every benchmark is given: quick or full, which models, where shared data and scratch are.

Models are the shipped family's default member (``models/family.json``) when one is installed.
Before any are shipped a tiny set is trained once from the astronaut photo
(``tests/tiny_models.py``) in a child process, so this process never loads TensorFlow; figures
from it time the code, not the real models' cost.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from stream.family import default_name, member_dir, members

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
FAMILY = ROOT / "models"
PEERS = ROOT / "benchmarks" / "peers"
"""The workers that time each tool in a process of its own, and fer's environment."""
TINY_BUILD = (
    "import sys; from pathlib import Path; from tests.tiny_models import build_tiny_models; "
    "build_tiny_models(Path(sys.argv[1]))"
)


@dataclass(frozen=True)
class BenchContext:
    quick: bool
    models: Path
    models_kind: str  # "shipped", "given" or "tiny"
    shared: Path | None  # ../shared beside the repository, when it is there
    work: Path  # scratch: generated clips, the tiny models
    threads: int | None  # --threads; None: each setting as `emostream run` would have it

    @property
    def component_threads(self) -> int:
        """Threads for the models where one component is timed alone: ``--threads``, else two,
        ``run``'s default without a detector thread beside them."""
        return self.threads or 2

    def command(self, name: str) -> str:
        """The command that reproduces one benchmark's section on its own."""
        parts = ["python -m benchmarks.run", "--only", name]
        if self.quick:
            parts.append("--quick")
        if self.models_kind == "given":
            parts += ["--models", str(self.models)]
        return " ".join(parts)

    def shared_path(self, relative: str) -> Path | None:
        if self.shared is None:
            return None
        path = self.shared / relative
        return path if path.exists() else None


def shared_dir() -> Path | None:
    """``../shared`` beside the repository (``$EMOSTREAM_SHARED`` overrides it), if it exists."""
    path = Path(os.environ.get("EMOSTREAM_SHARED", ROOT.parent / "shared"))
    return path if path.is_dir() else None


def build_tiny_models(work: Path) -> Path:
    """Train the tests' tiny model set once into ``work/tiny-models``; reused afterwards."""
    root = work / "tiny-models"
    models = root / "models"
    if (models / "manifest.json").exists():
        return models
    shutil.rmtree(root, ignore_errors=True)
    log.info("no shipped models: training the tiny test model set into %s", root)
    result = subprocess.run(
        [sys.executable, "-c", TINY_BUILD, str(root)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0 or not (models / "manifest.json").exists():
        tail = "\n".join((result.stderr or result.stdout).splitlines()[-5:])
        raise RuntimeError(f"could not build the tiny model set (needs the train extra):\n{tail}")
    return models


def make_context(
    quick: bool, models: Path | None, threads: int | None, work: Path | None = None
) -> BenchContext:
    work = work or Path(tempfile.gettempdir()) / "emostream-bench"
    work.mkdir(parents=True, exist_ok=True)
    if models is not None:
        if not (models / "manifest.json").is_file():
            raise RuntimeError(f"no manifest.json in {models}")
        model_dir, kind = models, "given"
    elif members(FAMILY):
        model_dir, kind = member_dir(default_name(FAMILY), FAMILY), "shipped"
    else:
        model_dir, kind = build_tiny_models(work), "tiny"
    return BenchContext(quick, model_dir, kind, shared_dir(), work, threads)
