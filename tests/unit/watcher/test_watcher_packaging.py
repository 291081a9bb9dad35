"""The systemd units and the cron line shipped in packaging/ run the watcher every 5 minutes."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGING = Path(__file__).resolve().parents[3] / "packaging"
BINARY = "/usr/local/bin/corral-watcher"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((PACKAGING / name).read_text())
    return parser


def test_service_runs_the_watcher_once() -> None:
    service = _unit("corral-watcher.service")["Service"]
    assert service["Type"] == "oneshot"
    assert service["ExecStart"] == BINARY


def test_timer_fires_every_five_minutes() -> None:
    unit = _unit("corral-watcher.timer")
    assert unit["Timer"]["OnCalendar"] == "*:0/5"
    assert unit["Install"]["WantedBy"] == "timers.target"


def test_cron_line() -> None:
    lines = [line for line in (PACKAGING / "corral-watcher.cron").read_text().splitlines()
             if line and not line.startswith("#") and "=" not in line.split()[0]]
    assert lines == [f"*/5 * * * * root {BINARY}"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze (package systemd) is not installed")
def test_units_pass_systemd_analyze(tmp_path: Path) -> None:
    watcher = Path(sys.executable).parent / "corral-watcher"
    for name in ("corral-watcher.service", "corral-watcher.timer"):
        text = (PACKAGING / name).read_text().replace(BINARY, str(watcher))
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / n) for n in
                                        ("corral-watcher.timer", "corral-watcher.service"))],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "corral-watcher" not in result.stderr, result.stderr
