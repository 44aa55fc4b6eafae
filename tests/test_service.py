"""The shipped systemd unit: systemd accepts it, it runs as a user and restarts, its command parses.

``systemd-analyze verify`` reports unknown keys and bad values as warnings with exit status 0, so
any line it prints about the unit fails the test. The unit's ``/opt/emostream`` paths are pointed
at this checkout first, because verify also checks that the command exists.
"""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stream.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "docs" / "emostream.service"
INSTALLED = "/opt/emostream"


def unit_for_this_checkout(into: Path) -> Path:
    emostream = Path(sys.executable).parent / "emostream"
    text = UNIT.read_text().replace(f"{INSTALLED}/.venv/bin/emostream", str(emostream))
    path = into / "emostream.service"
    path.write_text(text.replace(INSTALLED, str(ROOT)))
    return path


def service_section() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=("#",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser["Service"]


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    unit = unit_for_this_checkout(tmp_path)
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    complaints = [line for line in (done.stdout + done.stderr).splitlines() if unit.name in line]
    assert done.returncode == 0 and not complaints, done.stdout + done.stderr


def test_the_unit_runs_as_a_user_restarts_and_its_command_parses() -> None:
    service = service_section()
    assert service["User"] not in ("", "root") and service["Restart"] == "on-failure"
    command = shlex.split(service["ExecStart"])
    assert command[0] == f"{INSTALLED}/.venv/bin/emostream"
    args = build_parser().parse_args(command[1:])
    assert args.command == "run" and args.source == "0"
