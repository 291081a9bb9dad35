"""The command line a daemon records at its start, and when a daemon is a systemd unit's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from corral import daemon_control
from corral.daemon_control import (
    CommandLine,
    record_command_line,
    recorded_command_line,
    spawn_command,
    stop_daemon,
    systemd_unit,
)
from corral.daemons.common import own_command_line


def test_record_round_trip(tmp_path: Path) -> None:
    command = CommandLine(("/usr/bin/python3", "-m", "corral.daemons.noded", "--debug"), "/srv")
    record_command_line(tmp_path / "run" / "d.cmdline.json", command)
    assert recorded_command_line(tmp_path / "run" / "d.cmdline.json") == command


@pytest.mark.parametrize(
    "content",
    [b"", b"[1]", b'{"argv": []}', b'{"argv": ["python3", "-m", "x"]}',
     b'{"argv": ["/usr/bin/python3", 7]}', b'{"argv": ["/usr/bin/python3"], "cwd": "rel"}'],
    ids=["empty", "not-an-object", "no-argv", "relative-program", "not-strings",
         "relative-cwd"],
)
def test_invalid_records_are_ignored(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "r.json").write_bytes(content)
    assert recorded_command_line(tmp_path / "r.json") is None
    assert recorded_command_line(tmp_path / "missing.json") is None


def test_own_command_line_with_explicit_arguments() -> None:
    command = own_command_line("corral.daemons.noded", ["--simulate-lvm", "x", "--debug"])
    assert command.argv == (sys.executable, "-m", "corral.daemons.noded",
                            "--simulate-lvm", "x", "--debug")
    assert command.cwd == os.getcwd()


def test_root_from_the_environment_is_recorded() -> None:
    command = own_command_line("corral.daemons.noded", ["--debug"], "/srv/n1")
    assert command.argv[-3:] == ("--debug", "--root", "/srv/n1")
    named = own_command_line("corral.daemons.noded", ["--root=/a"], "/a")
    assert named.argv[-1] == "--root=/a"
    assert "--root" not in own_command_line("corral.daemons.noded", ["--debug"]).argv


def test_daemons_and_watcher_default_to_corral_root(monkeypatch: pytest.MonkeyPatch) -> None:
    from corral.daemons import noded
    from corral.layout import default_root
    from corral.watcher import main as watcher_main

    monkeypatch.delenv("CORRAL_ROOT", raising=False)
    assert default_root() == "/"
    assert noded.parse_args([]).root == "/"
    monkeypatch.setenv("CORRAL_ROOT", "/tmp/vc/node1")
    assert default_root() == "/tmp/vc/node1"
    assert noded.parse_args([]).root == "/tmp/vc/node1"
    assert watcher_main.parse_args([]).root == "/tmp/vc/node1"
    assert noded.parse_args(["--root", "/x"]).root == "/x"
    monkeypatch.setenv("CORRAL_ROOT", "")
    assert default_root() == "/"


def test_masterd_help_names_corral_root(capsys: pytest.CaptureFixture[str]) -> None:
    from corral.daemons import masterd

    with pytest.raises(SystemExit):
        masterd.main(["--help"])
    assert "$CORRAL_ROOT" in capsys.readouterr().out


def test_own_command_line_of_the_interpreter() -> None:
    assert own_command_line("m", None).argv == (sys.executable, *sys.orig_argv[1:])


def test_spawned_command_runs_in_its_directory(tmp_path: Path) -> None:
    out = tmp_path / "cwd.txt"
    script = f"import os; open({str(out)!r}, 'w').write(os.getcwd())  # corral-test-daemon"
    command = CommandLine((sys.executable, "-c", script), str(tmp_path))
    spawn_command(command, tmp_path / "d.pid", tmp_path / "d.log")
    try:
        subprocess.run([sys.executable, "-c", "import time, pathlib, sys\n"
                        "p = pathlib.Path(sys.argv[1])\n"
                        "while not p.exists() or not p.read_text(): time.sleep(0.02)",
                        str(out)], timeout=30, check=True)
    finally:
        stop_daemon(tmp_path / "d.pid", "corral-test-daemon", timeout=1)
    assert out.read_text() == str(tmp_path)


def _systemctl_answers(monkeypatch: pytest.MonkeyPatch, state: str) -> list[list[str]]:
    calls: list[list[str]] = []

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, f"{state}\n", "")

    monkeypatch.setattr(subprocess, "run", run)
    return calls


@pytest.mark.parametrize(
    ("root", "booted", "state", "expected"),
    [("/", True, "loaded", "corral-noded.service"),
     ("/", True, "not-found", None),
     ("/", False, "loaded", None),
     ("/srv/vnode1", True, "loaded", None)],
    ids=["installed", "not-installed", "no-systemd", "virtual-node"],
)
def test_daemon_unit_used_only_when_installed_under_systemd(
    monkeypatch: pytest.MonkeyPatch, root: str, booted: bool, state: str, expected: str | None
) -> None:
    calls = _systemctl_answers(monkeypatch, state)
    monkeypatch.setattr(daemon_control, "systemd_running", lambda: booted)
    assert systemd_unit(Path(root), "corral-noded") == expected
    if root == "/" and booted:
        assert calls == [["systemctl", "show", "--property=LoadState", "--value",
                          "corral-noded.service"]]
    else:
        assert calls == []
