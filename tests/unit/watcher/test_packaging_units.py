"""The systemd units in ``packaging/``: valid for ``systemd-analyze verify``, one per
daemon, each starting an entry point of ``pyproject.toml``."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from corral.daemon_control import SYSTEMD_UNITS

ROOT = Path(__file__).resolve().parents[3]
PACKAGING = ROOT / "packaging"
INSTALLED_BIN = "/usr/local/bin/"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(PACKAGING / name)
    return parser


def _scripts() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return dict(project["scripts"])


def test_every_daemon_has_a_unit() -> None:
    for daemon, unit in SYSTEMD_UNITS.items():
        service = _unit(unit)["Service"]
        program = service["ExecStart"].split()[0]
        assert program == f"{INSTALLED_BIN}{daemon}"
        assert daemon in _scripts()


def test_node_daemon_unit_spares_the_guests() -> None:
    assert _unit("corral-noded.service")["Service"]["KillMode"] == "process"


def test_watcher_stays_oneshot_and_does_not_own_the_daemons() -> None:
    service = _unit("corral-watcher.service")["Service"]
    assert service["Type"] == "oneshot"
    assert service["KillMode"] == "process"
    assert service["ExecStart"].split()[0] == f"{INSTALLED_BIN}corral-watcher"


def _localized(tmp_path: Path) -> list[Path]:
    """Copies of the units whose programs are this checkout's entry points (verify checks
    that each ExecStart program exists)."""
    bin_dir = Path(sys.executable).parent
    copies = []
    for source in sorted(PACKAGING.glob("corral-*.service")) + sorted(
            PACKAGING.glob("corral-*.timer")):
        copy = tmp_path / source.name
        copy.write_text(source.read_text().replace(INSTALLED_BIN, f"{bin_dir}/"))
        copies.append(copy)
    return copies


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (scripts/install-deps.sh installs "
                    "the systemd package)")
    copies = _localized(tmp_path)
    for daemon in SYSTEMD_UNITS:
        if not (Path(sys.executable).parent / daemon).exists():
            pytest.skip(f"the {daemon} entry point is not installed in this environment")
    result = subprocess.run([analyze, "verify", "--man=no", *map(str, copies)],
                            capture_output=True, text=True, timeout=120, check=False,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
