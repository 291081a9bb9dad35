"""A master daemon that refuses to start (the vote or the master term says this node is
not master, exit code 11) is reported with its own message by whoever started it: the
daemon control helpers, ``gnt-cluster master-failover``'s start and the watcher."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from corral import daemon_control
from corral.cli.errors import CliError
from corral.cli.master_role import start_local_master
from corral.daemon_control import MASTERD_MATCH, CommandLine, exit_message, log_end, start_refusal
from corral.daemons.common import record_start
from corral.layout import NodeLayout
from corral.watcher import daemons
from corral.watcher import main as watcher_main
from corral.watcher.main import EXIT_NOTMASTER

REFUSAL = ("Not master: this node's configuration is of master term 1, but node node2 has"
           " seen term 2 (a failover happened meanwhile).")


def _refusing_masterd(tmp_path: Path) -> list[str]:
    """A stand-in for corral-masterd that refuses as the real one does (run_daemon)."""
    script = tmp_path / "corral-masterd-refusing.py"
    script.write_text("import sys\n"
                      "print('some start-up noise', file=sys.stderr)\n"
                      f"print('corral-masterd: ' + {REFUSAL!r}, file=sys.stderr)\n"
                      "sys.exit(11)\n")
    return [sys.executable, str(script)]


def test_exit_message_is_the_last_one_after_the_offset(tmp_path: Path) -> None:
    log = tmp_path / "masterd.log"
    log.write_text("corral-masterd: an old refusal\n")
    offset = log_end(log)
    assert exit_message(log, offset, "corral-masterd") is None
    with log.open("a") as stream:
        stream.write("2026 corral-masterd ERROR something\ncorral-masterd: the new one\n")
    assert exit_message(log, offset, "corral-masterd") == "the new one"
    assert exit_message(log, 0, "corral-noded") is None
    assert exit_message(tmp_path / "absent.log", 0, "corral-masterd") is None


def test_a_running_daemon_has_no_refusal(tmp_path: Path) -> None:
    layout = NodeLayout(tmp_path)
    pid_file = layout.pid_file("corral-masterd")
    log = layout.log_file("corral-masterd")
    assert start_refusal("corral-masterd", pid_file, MASTERD_MATCH, log, 0) == (
        f"corral-masterd exited; see {log}")
    record_start(pid_file, layout.command_line_file("corral-masterd"), CommandLine(("x",)))
    assert start_refusal("corral-masterd", pid_file, ("pytest", "python"), log, 0) is None


def test_failover_start_reports_the_refusal(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    argv = _refusing_masterd(tmp_path)
    monkeypatch.setattr(daemon_control, "masterd_argv", lambda root: list(argv))
    with pytest.raises(CliError, match="the master daemon refused to start: Not master: this"
                       " node's configuration is of master term 1"):
        start_local_master(NodeLayout(tmp_path), no_voting=True)


def test_watcher_start_reports_the_refusal(tmp_path: Path) -> None:
    layout = NodeLayout(tmp_path)
    layout.command_line_file("corral-masterd").parent.mkdir(parents=True, exist_ok=True)
    daemon_control.record_command_line(layout.command_line_file("corral-masterd"),
                                       CommandLine(tuple(_refusing_masterd(tmp_path))))
    with pytest.raises(daemons.MasterdRefused, match="refused to start: Not master"):
        daemons.ensure_masterd(layout)


def test_watcher_exits_11_when_the_master_daemon_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(*_args: object) -> int:
        raise daemons.MasterdRefused(f"The master daemon refused to start: {REFUSAL}")

    monkeypatch.setattr(watcher_main, "run", refuse)
    assert watcher_main.main(["--root", str(tmp_path)]) == EXIT_NOTMASTER
    assert "this node does not act as master" in caplog.text
    assert "Traceback" not in caplog.text


def test_cluster_init_start_reports_the_refusal(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from corral.bootstrap import init
    from corral.errors import OpExecError

    argv = _refusing_masterd(tmp_path)
    monkeypatch.setattr(init, "masterd_argv", lambda root: list(argv))
    with pytest.raises(OpExecError, match="The master daemon refused to start: Not master"):
        init.start_masterd(NodeLayout(tmp_path), feedback=lambda _m: None)
