"""What both daemons do the same way: logging, pid files, waiting for a stop signal."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from corral.errors import CorralError


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
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{os.getpid()}\n")


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
    return event


def run_daemon(
    name: str, serve: Coroutine[Any, Any, None], log_file: Path | None, debug: bool
) -> int:
    """Run a daemon's main coroutine; a CorralError ends it with a one-line message."""
    setup_logging(log_file, debug)
    try:
        asyncio.run(serve)
    except CorralError as err:
        logging.getLogger(name).error("%s", err)
        print(f"{name}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0
