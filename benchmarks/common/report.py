"""What a benchmark hands back (titled tables and notes) and how it is printed: Markdown."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from stream.cpu import cpu_flags


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(cell) for cell in cells])

    def markdown(self) -> str:
        lines = [
            f"**{self.title}**",
            "",
            "| " + " | ".join(self.columns) + " |",
            "|" + "|".join(" --- " for _ in self.columns) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


@dataclass
class Section:
    """One benchmark's result: its tables, and notes saying what was measured and what skipped."""

    name: str
    title: str
    command: str
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        parts = [f"## {self.title}", "", f"Command: `{self.command}`"]
        for table in self.tables:
            parts += ["", table.markdown()]
        if self.notes:
            parts += [""] + [f"- {note}" for note in self.notes]
        return "\n".join(parts)


def cpu_model() -> str:
    """``lscpu``'s model name, else the kernel's, else the platform's."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def manifest_sha(model_dir: Path) -> str:
    """The first 12 hex digits of ``manifest.json``'s sha256: it pins every model file's sha."""
    digest = hashlib.sha256((model_dir / "manifest.json").read_bytes()).hexdigest()
    return digest[:12]


def machine_header(root: Path, model_dir: Path, model_kind: str) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return "\n".join(
        [
            f"- machine: {cpu_model()}, {os.cpu_count()} cores, Linux {platform.release()}, "
            f"Python {platform.python_version()}; CPU flags: {cpu_flags() or 'no AVX2'}",
            f"- date: {now}; load average at start: {load}",
            f"- code: git {git_commit(root)} (plus uncommitted changes, if any)",
            f"- models: {model_dir} ({model_kind}), manifest sha256 {manifest_sha(model_dir)}…",
        ]
    )
