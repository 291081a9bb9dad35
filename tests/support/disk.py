"""Failing disks for the stores: an injected write fault, and a real small tmpfs."""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

DISK_FULL = "database or disk is full"


def disk_full() -> BaseException:
    """What SQLite raises when the disk is full."""
    return sqlite3.OperationalError(DISK_FULL)


def io_error() -> BaseException:
    """What a failing disk can make a write raise."""
    return OSError(errno.EIO, os.strerror(errno.EIO))


class WriteFaults:
    """A store's ``fault`` seam: from the Nth write transaction on, each one fails, until
    :meth:`clear`. ``auto_rollback`` imitates SQLite, which ends a transaction itself on a
    full disk, so the store finds none open when it handles the error."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._countdown: int | None = None
        self._error: Callable[[], BaseException] = disk_full
        self._auto_rollback = True
        self.failures = 0
        """Writes failed so far."""

    def fail_from(
        self,
        nth: int = 1,
        error: Callable[[], BaseException] = disk_full,
        auto_rollback: bool = True,
    ) -> None:
        with self._lock:
            self._countdown, self._error, self._auto_rollback = nth, error, auto_rollback

    def clear(self) -> None:
        with self._lock:
            self._countdown = None

    def __call__(self, db: sqlite3.Connection) -> None:
        with self._lock:
            if self._countdown is None:
                return
            self._countdown = max(self._countdown - 1, 0)
            if self._countdown:
                return
            self.failures += 1
            error, auto_rollback = self._error(), self._auto_rollback
        if auto_rollback:
            db.execute("ROLLBACK")
        raise error


async def until(condition: Callable[[], bool]) -> None:
    """Wait, without a deadline of its own (the test timeout bounds it), for ``condition``."""
    while not condition():
        await asyncio.sleep(0.005)


@contextmanager
def small_tmpfs(directory: Path, size: str = "4m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``directory``, always unmounted at the end.

    Skips the test when not root or when mounting is refused (a container without
    CAP_SYS_ADMIN).
    """
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    directory.mkdir(parents=True, exist_ok=True)
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
        capture_output=True, text=True, check=False,
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mount.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=True)


def fill(directory: Path) -> Path:
    """Write a file in ``directory`` until its filesystem is full; returns the file."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as out:
        for size in (len(chunk), 4096, 1):
            try:
                while True:
                    out.write(chunk[:size])
            except OSError as err:
                if err.errno != errno.ENOSPC:
                    raise
    return filler
