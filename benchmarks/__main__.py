"""``python -m benchmarks``: what there is to measure, by group, and what each benchmark writes.

Read from the files themselves (their first docstring line), without importing any of them, so
the list is instant and cannot go stale; what each one writes is said once, here.
"""

from __future__ import annotations

import ast
from pathlib import Path

HERE = Path(__file__).resolve().parent
GROUPS = ("speed", "accuracy", "deployment", "peers", "common")

SECTION = "a Markdown section on stdout, for benchmarks/RESULTS.md"
WRITES = {
    "speed.throughput": SECTION + " (`benchmarks.run --only throughput`)",
    "speed.versus_fer": SECTION + " (`benchmarks.run --only versus-fer`)",
    "speed.encoder_latency": SECTION + " (`benchmarks.run --only encoder`)",
    "speed.batch_sizes": SECTION + " (`benchmarks.run --only batch`)",
    "speed.detect_ahead": SECTION + " (`benchmarks.run --only ahead`)",
    "speed.threads": SECTION + " (`benchmarks.run --only threads`)",
    "speed.analyze_files": SECTION + "; CSV tables in a scratch folder, removed after",
    "speed.soak": SECTION + "; with --out, the same into a file",
    "accuracy.detection": SECTION + " (`benchmarks.run --only accuracy`)",
    "accuracy.family": SECTION + "; with --card, the Pareto table into models/MODEL_CARD.md",
    "accuracy.mirror_video": SECTION,
    "accuracy.pose": SECTION + " (`benchmarks.run --only pose`)",
    "accuracy.gaze": SECTION + " (`benchmarks.run --only gaze`)",
    "accuracy.label_sources": SECTION,
    "accuracy.macs": "a Markdown table of M MACs per inference for each model file, on stdout",
    "deployment.install": SECTION + "; throw-away virtual environments in a scratch folder",
    "deployment.site": SECTION + "; a site file and a SQLite store in a scratch folder",
    "deployment.store_cost": SECTION + "; a scratch SQLite file and PostgreSQL cluster",
    "deployment.mqtt_bridge": SECTION + "; runs a Mosquitto broker of its own",
    "deployment.train_step": "a Markdown table of seconds a training step, an epoch and a stage",
    "peers.emostream_worker": "one JSON line of timings on stdout (versus_fer runs it)",
    "peers.fer_worker": "one JSON line of timings on stdout, from inside .bench-fer-venv",
    "peers.fer_video_worker": "one JSON line of frames and wall time, from inside .bench-fer-venv",
    "peers.fer_crops_worker": "one JSON line of ms a face for fer's model, inside .bench-fer-venv",
    "peers.fer_env.sh": ".bench-fer-venv/, fer pinned with only what it needs",
}
"""What each benchmark writes; ``common`` holds helpers, which write nothing themselves."""


def summary(path: Path) -> str:
    """The first paragraph of a module's docstring, or a shell script's first comment line."""
    if path.suffix == ".sh":
        comments = [line for line in path.read_text().splitlines()[1:] if line.startswith("#")]
        return comments[0].lstrip("# ").strip() if comments else ""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return " ".join(doc.split("\n\n")[0].split())


def catalogue() -> dict[str, list[tuple[str, str, str]]]:
    """Per group: (module, what it measures, what it writes)."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    for group in GROUPS:
        rows = []
        for path in sorted((HERE / group).iterdir()):
            if path.name == "__init__.py" or path.suffix not in (".py", ".sh"):
                continue
            name = f"{group}.{path.stem if path.suffix == '.py' else path.name}"
            rows.append((name, summary(path), WRITES.get(name, "nothing: a helper")))
        out[group] = rows
    return out


def main() -> int:
    print("emostream benchmarks: python -m benchmarks.run runs the Markdown ones together;")
    print("each module also runs alone as python -m benchmarks.<group>.<module> [--help].\n")
    for group, rows in catalogue().items():
        print(f"{group}/  {summary(HERE / group / '__init__.py')}")
        for name, measures, writes in rows:
            print(f"  {name}\n      {measures}\n      writes: {writes}")
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
