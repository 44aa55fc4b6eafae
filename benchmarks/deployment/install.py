"""Benchmark 5: what the runtime costs to install and to start, before and after a change.

Each tree (this checkout, and an earlier commit taken with ``git archive``) is installed alone
into a fresh virtual environment with the runtime's own dependencies only (``pip install -e``,
no extras), as a user's ``pip install`` would, and then measured there:

- the size of ``site-packages`` without pip and setuptools (the installer, not the runtime), and
  its largest distributions;
- which distributions came in, and whether jax did;
- import time: ``stream.pipeline``, ``stream.models`` and the face detector module, the median of
  five fresh interpreters, timed inside each so interpreter start-up is left out;
- time to a ready detector: the same imports plus building the short-range ``FaceDetector``.

Installs need the package index; the benchmark reports what it could not install and goes on.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import statistics
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from benchmarks.common.context import ROOT, BenchContext
from benchmarks.common.report import Section, Table

log = logging.getLogger(__name__)

NAME = "install"
TITLE = "Installed size and import time of the runtime"
BEFORE = "2c2372c"  # the last commit on mediapipe 0.10.21 (with jax, numpy<2, CPython < 3.13)
RUNS = 5
INSTALLER = {"pip", "setuptools", "_distutils_hack", "distutils-precedence.pth"}
PROBE = """
import json, sys, time
start = time.perf_counter()
import stream.pipeline, stream.models, stream.faces.detector
imported = time.perf_counter()
stream.faces.detector.FaceDetector("short").close()
ready = time.perf_counter()
print(json.dumps({"import": imported - start, "ready": ready - start,
                  "tensorflow": "tensorflow" in sys.modules, "jax": "jax" in sys.modules}))
"""
DISTRIBUTIONS = (
    "import importlib.metadata as m, json; "
    "print(json.dumps(sorted({d.metadata['Name'].lower() for d in m.distributions()})))"
)


@dataclass(frozen=True)
class Install:
    label: str
    megabytes: float
    largest: list[tuple[str, float]]
    distributions: list[str]
    import_ms: float
    ready_ms: float


def tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def export_commit(revision: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def install(label: str, tree: Path, work: Path, python: str) -> Install:
    venv = work / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True, timeout=600)
    log.info("installing %s into %s", label, venv)
    subprocess.run([*pip, "-e", str(tree)], check=True, timeout=1800, capture_output=True)
    packages = site_packages(venv)
    sizes: dict[str, int] = {}
    for entry in packages.iterdir():
        if entry.name in INSTALLER or entry.name.split("-")[0] in INSTALLER:
            continue
        sizes[entry.name] = tree_size(entry) if entry.is_dir() else entry.stat().st_size
    largest = sorted(sizes.items(), key=lambda kv: kv[1], reverse=True)[:6]
    python_bin = str(venv / "bin" / "python")
    names = json.loads(
        subprocess.run(
            [python_bin, "-c", DISTRIBUTIONS], capture_output=True, text=True, check=True
        ).stdout
    )
    probes = []
    for _ in range(RUNS):
        done = subprocess.run(
            [python_bin, "-c", PROBE], capture_output=True, text=True, cwd=work, timeout=300
        )
        if done.returncode != 0:
            raise RuntimeError(f"{label}: the import probe failed: {done.stderr.strip()[-300:]}")
        probes.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return Install(
        label=label,
        megabytes=sum(sizes.values()) / 1e6,
        largest=[(name, size / 1e6) for name, size in largest],
        distributions=[n for n in names if n not in INSTALLER and n != "emostream"],
        import_ms=1000 * statistics.median(p["import"] for p in probes),
        ready_ms=1000 * statistics.median(p["ready"] for p in probes),
    )


def measure(before: str | None, python: str) -> tuple[list[Install], list[str]]:
    results, notes = [], []
    with tempfile.TemporaryDirectory(prefix="emostream-install-") as scratch:
        trees: list[tuple[str, Path]] = []
        if before:
            try:
                old = export_commit(before, Path(scratch) / "old")
                trees.append((f"before (git {before})", old))
            except (subprocess.SubprocessError, OSError) as exc:
                notes.append(f"before: cannot export git {before}: {exc}")
        trees.append(("this checkout", ROOT))
        for index, (label, tree) in enumerate(trees):
            work = Path(scratch) / f"env{index}"
            work.mkdir()
            try:
                results.append(install(label, tree, work, python))
            except (subprocess.SubprocessError, OSError, RuntimeError) as exc:
                notes.append(f"{label}: not measured: {str(exc).splitlines()[0]}")
    return results, notes


def section(results: list[Install], notes: list[str], command: str, python: str) -> Section:
    table = Table(
        "Base install (no extras) in a fresh venv, " + python,
        ["install", "site-packages MB", "distributions", "jax", "import ms", "detector ready ms"],
    )
    for r in results:
        table.add(
            r.label,
            f"{r.megabytes:.0f}",
            len(r.distributions),
            "yes" if "jax" in r.distributions else "no",
            f"{r.import_ms:.0f}",
            f"{r.ready_ms:.0f}",
        )
    out = Section(NAME, TITLE, command, tables=[table])
    for r in results:
        biggest = ", ".join(f"{name} {mb:.0f}" for name, mb in r.largest)
        out.notes.append(f"{r.label}: largest entries (MB): {biggest}")
    if len(results) == 2:
        out.notes.append(
            f"size after / before: {results[1].megabytes / results[0].megabytes:.2f}; "
            f"import after / before: {results[1].import_ms / results[0].import_ms:.2f}"
        )
    out.notes.append(
        "site-packages without pip and setuptools; import times are medians of "
        f"{RUNS} fresh interpreters, timed inside each (interpreter start-up excluded)"
    )
    out.notes.extend(notes)
    return out


def run(ctx: BenchContext) -> Section:
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    results, notes = measure(BEFORE, python)
    return section(results, notes, ctx.command(NAME), python)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.deployment.install", description=TITLE
    )
    parser.add_argument("--before", default=BEFORE, help=f"earlier commit (default {BEFORE})")
    parser.add_argument("--python", default="python3.11", help="interpreter for the venvs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    results, notes = measure(args.before, args.python)
    command = shlex.join(["python", "-m", "benchmarks.deployment.install", *(argv or sys.argv[1:])])
    print(section(results, notes, command, args.python).markdown())
    return 0 if results else 1


if __name__ == "__main__":
    raise SystemExit(main())
