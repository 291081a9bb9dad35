"""The watcher's state file: JSON, locked with ``flock`` for a whole run, replaced atomically.

Format (Ganeti's key names)::

    {"instance": {"<name>": {"restart_count": 2, "restart_when": 1700000000.0,
                             "cleanup_count": 0, "cleanup_when": 0.0}},
     "node": {"<name>": {"bootid": "<kernel boot id>"}}}

Locking: the file itself carries an exclusive ``flock``. A write goes to a temporary
file that is locked *before* it is renamed over the state file, and the old
descriptor is closed only then, so the lock moves with the content. A process that
opened the old file and was waiting for its lock notices (by inode) that the path
now names another file and locks that one instead; it never reads a stale copy.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from pathlib import Path
from types import TracebackType
from typing import Any

from corral.errors import GenericError
from corral.watcher.policy import InstanceRecord, WatcherState

log = logging.getLogger(__name__)

_RECORD_KEYS = ("restart_count", "restart_when", "cleanup_count", "cleanup_when")


class StateLocked(GenericError):
    """Another process holds the state file's lock (another watcher is running)."""


def encode_state(state: WatcherState) -> bytes:
    """The file content for ``state`` (sorted keys, one trailing newline)."""
    data = {
        "instance": {
            name: {key: getattr(record, key) for key in _RECORD_KEYS}
            for name, record in state.instances.items()
        },
        "node": {name: {"bootid": bootid} for name, bootid in state.node_bootids.items()},
    }
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def decode_state(data: bytes) -> WatcherState:
    """Parse a state file; anything unreadable counts as empty (as in Ganeti)."""
    if not data.strip():
        return WatcherState()
    try:
        raw = json.loads(data)
        return WatcherState(_instances(raw.get("instance", {})), _nodes(raw.get("node", {})))
    except (ValueError, TypeError, AttributeError) as err:
        log.warning("Ignoring the unreadable watcher state file: %s", err)
        return WatcherState()


def _instances(raw: dict[str, Any]) -> dict[str, InstanceRecord]:
    return {
        str(name): InstanceRecord(
            restart_count=int(fields.get("restart_count", 0)),
            restart_when=float(fields.get("restart_when", 0.0)),
            cleanup_count=int(fields.get("cleanup_count", 0)),
            cleanup_when=float(fields.get("cleanup_when", 0.0)),
        )
        for name, fields in raw.items()
    }


def _nodes(raw: dict[str, Any]) -> dict[str, str]:
    return {str(name): str(fields["bootid"]) for name, fields in raw.items()
            if isinstance(fields, dict) and fields.get("bootid")}


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


class StateFile:
    """An open, exclusively locked state file; the lock lasts until :meth:`close`."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def open(cls, path: Path, *, blocking: bool = False) -> StateFile:
        """Open (creating it empty if missing) and lock ``path``.

        Raises:
            StateLocked: ``blocking`` is false and another process holds the lock.
            OSError: the file cannot be opened (e.g. its directory is missing).
        """
        flags = fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, flags)
            except BlockingIOError:
                os.close(fd)
                raise StateLocked(
                    f"The watcher state file {path} is locked: another watcher is running"
                ) from None
            if _same_file(fd, path):
                return cls(path, fd)
            os.close(fd)  # replaced while we waited for its lock: lock the new one

    def _held(self) -> int:
        if self._fd is None:
            raise GenericError(f"The watcher state file {self.path} is closed")
        return self._fd

    def read(self) -> WatcherState:
        """The stored state (empty for a new or unreadable file)."""
        fd = self._held()
        chunks = []
        offset = 0
        while chunk := os.pread(fd, 65536, offset):
            chunks.append(chunk)
            offset += len(chunk)
        return decode_state(b"".join(chunks))

    def write(self, state: WatcherState) -> None:
        """Replace the file's content atomically; the lock is kept."""
        old = self._held()
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # nobody else knows this file yet
            _write_all(fd, encode_state(state))
            os.fsync(fd)
            os.replace(temp, self.path)
        except BaseException:
            os.close(fd)
            temp.unlink(missing_ok=True)
            raise
        self._fd = fd
        os.close(old)

    def touch(self) -> None:
        """Mark the file as checked without changing it (its mtime tells the run time)."""
        os.utime(self._held())

    def close(self) -> None:
        """Release the lock."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> StateFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
