"""``emostream``: the one command-line entry point, with a subcommand per job.

Errors a user can cause (:class:`~stream.errors.EmostreamError`) are printed as one line on stderr
with a non-zero exit; Ctrl-C ends a command cleanly with status 130, and so does SIGTERM until a
command installs its own handling (``run`` then finishes its current frame and exits 0).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from typing import NoReturn

from stream.errors import EmostreamError
from stream.process import NativeStderrFilter, exit_now_if_threads_linger, quiet_native_logs

COMMANDS = (
    "run",
    "demo",
    "analyze",
    "subscribe",
    "broker",
    "keys",
    "evaluate",
    "dashboard",
    "mqtt",
    "record",
    "models",
)


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, like every other emostream error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="emostream",
        description=(
            "Real-time facial-expression recognition: video in, MediaPipe faces, int8 encoder and "
            "expression head, labels out over ZeroMQ."
        ),
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="-v: progress logs, -vv: debug and native logs",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    for name in COMMANDS:
        importlib.import_module(f"stream.commands.{name}").register(sub)
    return parser


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None, own_process: bool = False) -> int:
    """Run one command. ``own_process`` (the console script) also filters what native code
    writes to stderr, which only a process of its own may do to its file descriptors."""
    # A service manager may stop us while imports or models are still loading; without this,
    # SIGTERM's default action kills the process before anything it opened is closed.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _main(argv, own_process)
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None, own_process: bool) -> int:
    args = build_parser().parse_args(argv)
    native = None
    if args.verbose < 2:
        quiet_native_logs()
        native = NativeStderrFilter() if own_process else None
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        code = int(args.handler(args) or 0)
    except EmostreamError as exc:
        print(f"emostream {args.command}: error: {exc}", file=sys.stderr)
        code = exc.exit_code
    finally:
        if native is not None:
            native.close()
    return code


def entry() -> None:
    """Console-script entry point."""
    code = main(own_process=True)
    exit_now_if_threads_linger(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
