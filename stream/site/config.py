"""The site file: many cameras on one box, described once in TOML and checked before anything runs.

::

    [site]
    publish = "tcp://127.0.0.1:5556"    # where every subscriber connects, for every camera
    metrics = "127.0.0.1:9100"          # the supervisor's Prometheus metrics (optional)
    log_level = "info"                  # debug, info, warning or error
    restart_delay = 1.0                 # first back-off after a camera process dies, seconds
    restart_max_delay = 60.0            # the back-off doubles up to this

    [defaults]                          # any camera key, for every camera
    detect_every = 3

    [cameras.front]                     # the table name is the camera id (its topic)
    source = "rtsp://10.0.0.5:8554/live"

A camera key is one of ``run``'s long options with ``-`` changed to ``_``; a switch such as
``realtime`` takes ``true`` or ``false``. Every value is checked by the same argument types
``run`` uses, so a site file accepts exactly what the command line does, and an error names the
file, the table and the key. ``publish``, ``connect`` and ``camera_id`` are the site's to set.
"""

from __future__ import annotations

import argparse
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from stream.assemble import PipelineConfig
from stream.errors import EmostreamError
from stream.metrics import listen_address

SITE_KEYS = ("publish", "metrics", "log_level", "restart_delay", "restart_max_delay")
LOG_LEVELS = ("debug", "info", "warning", "error")
RESERVED = {
    "publish": "all cameras publish through [site] publish",
    "connect": "the site connects every camera to its own broker",
    "camera_id": "the table name [cameras.<id>] is the camera id",
    "config": "a camera cannot read another site file",
    "check": "--check is for the command line",
}
CAMERA_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class SiteError(EmostreamError):
    """A site file that cannot be used; the message names the file, the table and the key."""


@dataclass(frozen=True)
class Camera:
    """One camera: its id, its pipeline's config, and the same as a ``run`` command line."""

    camera_id: str
    argv: tuple[str, ...]
    """What ``emostream run`` would be given for this camera alone (``--check`` prints it)."""
    config: PipelineConfig


@dataclass(frozen=True)
class Site:
    path: Path
    publish: str = "tcp://127.0.0.1:5556"
    metrics: tuple[str, int] | None = None
    log_level: str = "info"
    restart_delay: float = 1.0
    restart_max_delay: float = 60.0
    cameras: tuple[Camera, ...] = ()


class _Raising(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise SiteError(message)


def load_site(path: Path, add_run_arguments: Callable[[argparse.ArgumentParser], None]) -> Site:
    """Read and check ``path``; ``add_run_arguments`` builds ``run``'s options to check against."""
    try:
        values = tomllib.loads(path.read_text())
    except OSError as exc:
        raise SiteError(f"cannot read site file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SiteError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(values) - {"site", "defaults", "cameras"})
    if unknown:
        raise SiteError(f"{path}: unknown table [{unknown[0]}] (expected site, defaults, cameras)")
    site_values = _table(path, values, "site")
    defaults = _table(path, values, "defaults")
    cameras = _table(path, values, "cameras")
    if not cameras:
        raise SiteError(f"{path}: no cameras (add a [cameras.<id>] table with a source)")
    parser = _Raising(prog="emostream run", add_help=False)
    add_run_arguments(parser)
    options = _long_options(parser)
    _check_keys(path, "defaults", defaults, options)
    built = []
    for camera_id, table in cameras.items():
        where = f"cameras.{camera_id}"
        if not isinstance(table, dict):
            raise SiteError(f"{path}: [cameras] {camera_id} must be a table ([{where}])")
        if not CAMERA_ID.fullmatch(camera_id):
            raise SiteError(
                f"{path}: [{where}]: the camera id may hold letters, digits, '_', '.' and '-'"
            )
        _check_keys(path, where, table, options)
        built.append(_camera(path, where, camera_id, defaults | table, options, parser))
    site = _site(path, site_values)
    _check_ports(path, site, built)
    return Site(**(site | {"path": path, "cameras": tuple(built)}))


def _table(path: Path, values: Mapping[str, Any], name: str) -> dict[str, Any]:
    table = values.get(name, {})
    if not isinstance(table, dict):
        raise SiteError(f"{path}: {name} must be a table ([{name}])")
    return table


def _long_options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    options = {}
    for action in parser._actions:
        for option in action.option_strings:
            if option.startswith("--"):
                options[option[2:].replace("-", "_")] = action
    return options


def _check_keys(
    path: Path, where: str, table: Mapping[str, Any], options: Mapping[str, argparse.Action]
) -> None:
    for key, value in table.items():
        if key in RESERVED:
            raise SiteError(f"{path}: [{where}] {key}: not a camera key ({RESERVED[key]})")
        action = options.get(key)
        if action is None:
            raise SiteError(f"{path}: [{where}] {key}: unknown key (run has no --{_flag(key)})")
        problem = _value_problem(action, value)
        if problem:
            raise SiteError(f"{path}: [{where}] {key}: {problem}")


def _flag(key: str) -> str:
    return key.replace("_", "-")


def _value_problem(action: argparse.Action, value: Any) -> str | None:
    if action.nargs == 0:
        return None if isinstance(value, bool) else f"must be true or false, not {value!r}"
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return f"must be a string or a number, not {value!r}"
    try:
        parsed = action.type(str(value)) if callable(action.type) else str(value)
    except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
        return str(exc) or f"bad value {value!r}"
    if action.choices is not None and parsed not in action.choices:
        return f"{value!r} is not one of {', '.join(map(str, action.choices))}"
    return None


def _camera(
    path: Path,
    where: str,
    camera_id: str,
    values: Mapping[str, Any],
    options: Mapping[str, argparse.Action],
    parser: argparse.ArgumentParser,
) -> Camera:
    if "source" not in values:
        raise SiteError(f"{path}: [{where}] source: missing (every camera needs a source)")
    argv = ["--camera-id", camera_id]
    for key, value in values.items():
        if options[key].nargs == 0:
            argv += [f"--{_flag(key)}"] if value else []
        else:
            argv += [f"--{_flag(key)}", str(value)]
    try:
        args = parser.parse_args(argv)
    except SiteError as exc:
        raise SiteError(f"{path}: [{where}]: {exc}") from None
    return Camera(camera_id, tuple(argv), PipelineConfig.from_options(vars(args)))


def _site(path: Path, values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        where = f"{path}: [site] {key}"
        if key not in SITE_KEYS:
            raise SiteError(f"{where}: unknown key (expected one of {', '.join(SITE_KEYS)})")
        if key == "publish":
            if not isinstance(value, str) or "://" not in value:
                raise SiteError(f"{where}: must be a ZeroMQ endpoint such as tcp://127.0.0.1:5556")
            out[key] = value
        elif key == "metrics":
            try:
                out[key] = listen_address(str(value))
            except argparse.ArgumentTypeError as exc:
                raise SiteError(f"{where}: {exc}") from None
        elif key == "log_level":
            if value not in LOG_LEVELS:
                raise SiteError(f"{where}: must be one of {', '.join(LOG_LEVELS)}, not {value!r}")
            out[key] = value
        else:
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise SiteError(f"{where}: must be a number of seconds above 0, not {value!r}")
            out[key] = float(value)
    if out.get("restart_max_delay", 60.0) < out.get("restart_delay", 1.0):
        raise SiteError(f"{path}: [site] restart_max_delay: must not be below restart_delay")
    return out


def _check_ports(path: Path, site: Mapping[str, Any], cameras: list[Camera]) -> None:
    """Two processes cannot serve metrics on one port; say so now rather than at start-up."""
    taken: dict[tuple[str, int], str] = {}
    if site.get("metrics"):
        taken[site["metrics"]] = "[site]"
    for camera in cameras:
        address = camera.config.metrics
        if address is None:
            continue
        if address in taken:
            raise SiteError(
                f"{path}: [cameras.{camera.camera_id}] metrics: {address[0]}:{address[1]} is "
                f"already used by {taken[address]}"
            )
        taken[address] = f"[cameras.{camera.camera_id}]"
