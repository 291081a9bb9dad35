"""Detached daemons tracked by pid files."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.daemon_control import daemon_pid, spawn_daemon, stop_daemon
from corral.errors import CommandError

IGNORE_TERM = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
               "print('ready', flush=True); time.sleep(300)")


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes() != b""
    except OSError:
        return False


def _wait_for(predicate: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def files(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    pid_file, log_file = tmp_path / "run" / "d.pid", tmp_path / "log" / "d.log"
    yield pid_file, log_file
    stop_daemon(pid_file, "corral-test-daemon", timeout=0.1)  # never leave one behind


def test_spawn_detached_then_stop(files: tuple[Path, Path]) -> None:
    pid_file, log_file = files
    argv = [sys.executable, "-c", "print('hello', flush=True); import time; time.sleep(300)",
            "corral-test-daemon"]
    pid = spawn_daemon(argv, pid_file, log_file)
    assert pid_file.read_text().strip() == str(pid)
    assert daemon_pid(pid_file, "corral-test-daemon") == pid
    assert daemon_pid(pid_file, "something-else") is None
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # not our child: nothing for us to reap
    assert os.getsid(pid) == pid
    assert _wait_for(lambda: "hello" in log_file.read_text())
    assert stop_daemon(pid_file, ["corral-test-daemon", "other"], timeout=5) is True
    assert not _alive(pid)
    assert not pid_file.exists()
    assert stop_daemon(pid_file, "corral-test-daemon") is False


def test_stop_kills_a_daemon_ignoring_sigterm(files: tuple[Path, Path]) -> None:
    pid_file, log_file = files
    pid = spawn_daemon([sys.executable, "-c", IGNORE_TERM, "corral-test-daemon"],
                       pid_file, log_file)
    assert _wait_for(lambda: "ready" in log_file.read_text())
    start = time.monotonic()
    assert stop_daemon(pid_file, "corral-test-daemon", timeout=0.3) is True
    assert time.monotonic() - start >= 0.3
    assert not _alive(pid)


def test_stale_pid_file_is_never_signalled(tmp_path: Path) -> None:
    pid_file = tmp_path / "d.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    assert daemon_pid(pid_file, "corral-test-daemon") is None
    assert stop_daemon(pid_file, "corral-test-daemon") is False
    assert not pid_file.exists()
    pid_file.write_text("garbage")
    assert daemon_pid(pid_file, "x") is None


def test_spawn_failure_is_reported(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="Cannot start /nonexistent/corral-daemon"):
        spawn_daemon(["/nonexistent/corral-daemon"], tmp_path / "p", tmp_path / "l")
    assert not (tmp_path / "p").exists()
