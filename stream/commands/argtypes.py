"""Argument types and options shared by the subcommands: a bad value is a one-line usage error."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from stream.metrics import listen_address


def _number(text: str, kind: Callable[[str], float], what: str) -> float:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def positive_int(text: str) -> int:
    value = int(_number(text, int, "a whole number"))
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def whole_number(text: str) -> int:
    """A count that may be 0."""
    value = int(_number(text, int, "a whole number"))
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def positive_seconds(text: str) -> float:
    value = _number(text, float, "a number of seconds")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} must be more than 0 seconds")
    return value


def non_negative(text: str) -> float:
    value = _number(text, float, "a number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def fraction(text: str) -> float:
    value = _number(text, float, "a number")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1")
    return value


def cadence(text: str) -> int:
    """``off`` (0), or every how many frames a step runs."""
    if text == "off":
        return 0
    value = int(_number(text, int, "a whole number or 'off'"))
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1 (or 'off')")
    return value


def attempts(text: str) -> int | None:
    """A number of tries, or ``forever`` (None)."""
    if text == "forever":
        return None
    value = int(_number(text, int, "a number or 'forever'"))
    if value < 1:
        raise argparse.ArgumentTypeError("needs at least 1 attempt")
    return value


def retention_days(text: str) -> float | None:
    """A number of days to keep, or ``forever`` (None)."""
    if text == "forever":
        return None
    value = _number(text, float, "a number of days or 'forever'")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} must be more than 0 days, or 'forever'")
    return value


def add_curve_client_options(parser: argparse.ArgumentParser) -> None:
    """The keys a subscriber needs for a CURVE-encrypted publisher (``emostream keys``)."""
    parser.add_argument("--curve-secret", type=Path, metavar="FILE", help="client secret key")
    parser.add_argument(
        "--curve-server-key", type=Path, metavar="FILE", help="the publisher's public key"
    )


def add_model_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--model NAME`` (a member of the installed family) or ``--models DIR`` (any folder)."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--model",
        metavar="NAME",
        help="a member of the installed model family (emostream models; default: the family's)",
    )
    which.add_argument("--models", type=Path, metavar="DIR", help="a custom model folder instead")


def add_metrics_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--metrics",
        type=listen_address,
        metavar="HOST:PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (default: off; a bare PORT "
        "is 127.0.0.1:PORT)",
    )
