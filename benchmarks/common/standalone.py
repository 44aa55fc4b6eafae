"""The command line of a benchmark that reads ``../shared`` and prints one Markdown section,
for running it on its own (``python -m benchmarks.accuracy.<name>``) as well as through
``benchmarks.run``."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks.common.context import ROOT
from benchmarks.common.report import Section, Table

Measure = Callable[..., tuple[list[Table], list[str]]]
"""Called with ``shared`` and, as keywords, the options ``add_options`` declared."""


def main(
    module: str,
    name: str,
    title: str,
    measure: Measure,
    argv: list[str] | None,
    add_options: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """Parse ``--shared`` (and the benchmark's own options), measure, print the section with the
    command that reproduces it."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=title)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    if add_options is not None:
        add_options(parser)
    options = vars(parser.parse_args(argv))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    tables, notes = measure(options.pop("shared"), **options)
    command = shlex.join(["python", "-m", module, *(argv if argv is not None else sys.argv[1:])])
    print(Section(name, title, command, tables=tables, notes=notes).markdown())
    return 0
