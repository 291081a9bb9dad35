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
from dataclasses import dataclass
from pathlib import Path

from corral import serde
from corral.errors import CommandError

_LAUNCHER = """
import os, subprocess, sys
log = open(sys.argv[1], "ab")
proc = subprocess.Popen(sys.argv[3:], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                        start_new_session=True, cwd=sys.argv[2])
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


# --- the command line a daemon was started with ------------------------------------------


@dataclass(frozen=True, slots=True)
class CommandLine:
    """How a daemon was started: its argument vector and working directory."""

    argv: tuple[str, ...]
    cwd: str = "/"


def record_command_line(path: Path, command: CommandLine) -> None:
    """Write ``command`` (with the writer's pid) as JSON to ``path``, atomically."""
    record = {"argv": list(command.argv), "cwd": command.cwd, "pid": os.getpid()}
    path.parent.mkdir(parents=True, exist_ok=True)
    serde.atomic_write(path, serde.dumps(record), 0o644, fsync=False)


def recorded_command_line(path: Path) -> CommandLine | None:
    """The command line recorded at ``path``; None when absent or not a valid record
    (a non-empty list of strings whose program and directory are absolute paths)."""
    try:
        record = serde.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    argv, cwd = record.get("argv"), record.get("cwd", "/")
    if not (isinstance(argv, list) and argv and all(isinstance(a, str) and a for a in argv)):
        return None
    if not (isinstance(cwd, str) and cwd.startswith("/") and argv[0].startswith("/")):
        return None
    return CommandLine(tuple(argv), cwd)


def spawn_command(command: CommandLine, pid_file: Path, log_file: Path) -> int:
    """:func:`spawn_daemon` for a recorded command line."""
    return spawn_daemon(command.argv, pid_file, log_file, Path(command.cwd))


# --- systemd ------------------------------------------------------------------------------

SYSTEMD_UNITS = {"corral-noded": "corral-noded.service",
                 "corral-masterd": "corral-masterd.service"}
"""The unit of each daemon (``packaging/``)."""


def systemd_running(run_dir: Path = Path("/run/systemd/system")) -> bool:
    """Whether systemd is the init system (sd_booted's test)."""
    return run_dir.is_dir()


def systemd_unit(root: Path, daemon: str) -> str | None:
    """The unit that manages ``daemon`` of the node at ``root``, when there is one: systemd
    runs, the unit is installed (loaded), and the node is the machine itself (a virtual
    node's daemons, with a root prefix, are never the units')."""
    unit = SYSTEMD_UNITS.get(daemon)
    if unit is None or root != Path("/") or not systemd_running():
        return None
    result = subprocess.run(["systemctl", "show", "--property=LoadState", "--value", unit],
                            capture_output=True, text=True, timeout=60, check=False)
    return unit if result.returncode == 0 and result.stdout.strip() == "loaded" else None


def systemctl(action: str, unit: str) -> None:
    """``systemctl <action> <unit>``.

    Raises:
        CommandError: systemctl failed.
    """
    result = subprocess.run(["systemctl", action, unit], capture_output=True, text=True,
                            timeout=120, check=False)
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
        raise CommandError(f"systemctl {action} {unit} failed: {reason[0]}")


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


def spawn_daemon(
    argv: Sequence[str], pid_file: Path, log_file: Path, cwd: Path = Path("/")
) -> int:
    """Start ``argv`` detached (own session, stdin ``/dev/null``, output appended to
    ``log_file``, working directory ``cwd``), write its pid to ``pid_file`` and return it.

    Raises:
        CommandError: the program could not be started.
    """
    if not argv:
        raise CommandError("No command given to start")
    for path in (pid_file, log_file):
        path.parent.mkdir(parents=True, exist_ok=True)
    launcher = [sys.executable, "-c", _LAUNCHER, str(log_file), str(cwd), *argv]
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


EXIT_MESSAGE_LIMIT = 1 << 20
"""Bytes of a daemon's log read for its exit message."""


def log_end(log_file: Path) -> int:
    """Where ``log_file`` ends now: a daemon started next writes its messages after it."""
    try:
        return log_file.stat().st_size
    except OSError:
        return 0


def exit_message(log_file: Path, offset: int, daemon: str) -> str | None:
    """The message ``daemon`` printed on ending with an error, after ``offset`` of its log
    (a daemon prints "``daemon``: message" on stderr, which goes to its log), or None."""
    try:
        with log_file.open("rb") as stream:
            stream.seek(offset)
            text = stream.read(EXIT_MESSAGE_LIMIT).decode(errors="replace")
    except OSError:
        return None
    prefix = f"{daemon}: "
    said = [line[len(prefix):] for line in text.splitlines() if line.startswith(prefix)]
    return said[-1] if said else None


def start_refusal(
    daemon: str, pid_file: Path, match: str | Sequence[str], log_file: Path, offset: int
) -> str | None:
    """None while the daemon started after ``offset`` of its log runs; once it has ended,
    why: the message it printed (the master daemon's "Not master: ..." when the vote
    named another node, exit code 11), else where to look."""
    if daemon_pid(pid_file, match) is not None:
        return None
    return exit_message(log_file, offset, daemon) or f"{daemon} exited; see {log_file}"
