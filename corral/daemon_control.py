"""Start and stop detached daemons tracked by pid files (blocking helpers).

A daemon is started through a short-lived launcher process, so it is neither
a child of the caller (no zombie to reap) nor in the caller's session. A pid
file only counts when the process it names is alive and its command line
contains an expected string, so a stale file or a reused pid is never
signalled.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from corral import serde
from corral.errors import CommandError

_LAUNCHER = """
import os, subprocess, sys
log = open(sys.argv[1], "ab")
proc = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                        start_new_session=True, cwd="/")
sys.stdout.write(str(proc.pid))
sys.stdout.flush()
os._exit(0)
"""

_POLL = 0.05

NODED_MATCH = ("corral.daemons.noded", "corral-noded")
MASTERD_MATCH = ("corral.daemons.masterd", "corral-masterd")


def masterd_argv(root: Path) -> list[str]:
    """How a node (by its root) starts its master daemon."""
    return [sys.executable, "-m", "corral.daemons.masterd", "--root", str(root)]


def noded_argv(
    root: Path, address: str, port: int, name: str, extra: Sequence[str] = ()
) -> list[str]:
    """How a node (by its root, address, port and name) starts its node daemon."""
    return [
        sys.executable, "-m", "corral.daemons.noded", "--root", str(root),
        "--bind", address, "--port", str(port), "--node-name", name, *extra,
    ]  # fmt: skip


def wait_listening(address: str, port: int, timeout: float) -> bool:
    """Whether something accepts TCP connections on ``address:port`` within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(_POLL)
    return False


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def _matches(pid: int, match: str | Sequence[str]) -> bool:
    """Alive (not a zombie: those have an empty command line) and matching."""
    cmdline = _cmdline(pid)
    patterns = (match,) if isinstance(match, str) else tuple(match)
    return bool(cmdline) and any(p in cmdline for p in patterns)


def read_pid_file(pid_file: Path) -> int | None:
    """The positive pid a pid file holds, if any."""
    try:
        text = pid_file.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def daemon_pid(pid_file: Path, match: str | Sequence[str]) -> int | None:
    """The pid in ``pid_file`` if that process is alive and its command line contains
    ``match`` (or one of several strings)."""
    pid = read_pid_file(pid_file)
    return pid if pid is not None and _matches(pid, match) else None


def spawn_daemon(argv: Sequence[str], pid_file: Path, log_file: Path) -> int:
    """Start ``argv`` detached (own session, stdin ``/dev/null``, output appended to
    ``log_file``), write its pid to ``pid_file`` and return it.

    Raises:
        CommandError: the program could not be started.
    """
    if not argv:
        raise CommandError("No command given to start")
    for path in (pid_file, log_file):
        path.parent.mkdir(parents=True, exist_ok=True)
    launcher = [sys.executable, "-c", _LAUNCHER, str(log_file), *argv]
    result = subprocess.run(launcher, capture_output=True, text=True, timeout=60, check=False)
    pid_text = result.stdout.strip()
    if result.returncode != 0 or not pid_text.isdigit():
        reason = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
        raise CommandError(f"Cannot start {argv[0]}: {reason[0]}")
    serde.atomic_write(pid_file, f"{pid_text}\n".encode(), 0o644)
    return int(pid_text)


def _wait_gone(pid: int, match: str | Sequence[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _matches(pid, match):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL)
    return True


def _kill(pid: int) -> None:
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)  # it leads its own group: take its children too
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop_daemon(pid_file: Path, match: str | Sequence[str], timeout: float = 10.0) -> bool:
    """Stop the daemon a pid file names: SIGTERM, wait up to ``timeout`` seconds, SIGKILL.

    Returns whether a matching process was running. The pid file is removed.
    """
    pid = daemon_pid(pid_file, match)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    if not _wait_gone(pid, match, timeout):
        _kill(pid)
        _wait_gone(pid, match, 5.0)
    if read_pid_file(pid_file) == pid:
        pid_file.unlink(missing_ok=True)
    return True
