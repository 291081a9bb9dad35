"""What both daemons do the same way: logging, pid files, waiting for a stop signal."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from corral import serde
from corral.daemon_control import CommandLine, record_command_line
from corral.daemons import memtrace
from corral.errors import CorralError
from corral.rpc.listener import raise_nofile_limit

PRIVATE_UMASK = 0o077


def setup_logging(log_file: Path | None, debug: bool) -> None:
    level = logging.DEBUG if debug else logging.INFO
    handler: logging.Handler
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file)
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def write_pid_file(path: Path) -> None:
    """Atomically: whoever watches the daemon never reads an empty pid file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    serde.atomic_write(path, f"{os.getpid()}\n".encode(), 0o644, fsync=False)


def own_command_line(module: str, argv: Sequence[str] | None, root: str | None = None
                     ) -> CommandLine:
    """How to start this daemon again: the interpreter's own command line (flags such as
    ``-X`` included) when ``main`` parses ``sys.argv``, else ``python -m module argv``.
    A ``root`` the command line does not name (it came from ``$CORRAL_ROOT``) is added as
    ``--root``, so that a restart from another environment finds the same files."""
    args = sys.orig_argv[1:] if argv is None else ["-m", module, *argv]
    if root is not None and not any(a == "--root" or a.startswith("--root=") for a in args):
        args = [*args, "--root", root]
    return CommandLine((sys.executable, *args), os.getcwd())


def record_start(pid_file: Path, command_file: Path, command: CommandLine) -> None:
    """Write the pid file, and next to it the command line the watcher restarts with."""
    write_pid_file(pid_file)
    record_command_line(command_file, command)


def remove_pid_file(path: Path) -> None:
    try:
        if path.read_text().strip() == str(os.getpid()):
            path.unlink()
    except OSError:
        pass


def stop_event() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT."""
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, event.set)
    memtrace.install(loop)
    return event


def run_daemon(
    name: str, serve: Coroutine[Any, Any, None], log_file: Path | None, debug: bool
) -> int:
    """Run a daemon's main coroutine; a CorralError ends it with a one-line message.

    Files the daemon creates are private (umask 077): configuration, job queue, SQLite's
    ``-wal``/``-shm`` files, keys, tokens and logs are 0600, directories 0700. The soft
    descriptor limit is raised to the hard one; listeners size their caps from it.
    """
    os.umask(PRIVATE_UMASK)
    setup_logging(log_file, debug)
    old, new = raise_nofile_limit()
    logging.getLogger(name).info("descriptor limit %d (soft limit was %d)", new, old)
    try:
        asyncio.run(serve)
    except CorralError as err:
        logging.getLogger(name).error("%s", err)
        print(f"{name}: {err}", file=sys.stderr)
        return int(getattr(err, "exit_code", 1))
    except KeyboardInterrupt:
        return 0
    return 0
