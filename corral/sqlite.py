"""One way to open the SQLite stores: write-ahead log, full fsync, owner-only file."""

from __future__ import annotations

import logging
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from corral.errors import CorralError

log = logging.getLogger(__name__)

WriteFault = Callable[[sqlite3.Connection], None]
"""A test seam called inside every write transaction, just before ``COMMIT``.

It may raise what a full or failing disk makes SQLite raise (``sqlite3.OperationalError
("database or disk is full")``, ``OSError(EIO)``), after a ``ROLLBACK`` of its own if it
imitates SQLite's automatic rollback."""


class SqliteFile:
    """A SQLite database shared by the event loop's worker threads, guarded by one lock.

    ``journal_mode=WAL`` with ``synchronous=FULL`` makes every committed
    transaction atomic and durable, whatever instant the process is killed at.
    A write that fails raises ``error`` naming what could not be written, on which
    node, and the cause (``Cannot write the job queue on node1: database or disk is full``).
    """

    def __init__(
        self,
        path: Path,
        schema: str,
        *,
        what: str,
        error: type[CorralError],
        node: str | None = None,
        fault: WriteFault | None = None,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.what = what
        self.error = error
        self.node = node or socket.gethostname()
        self.fault = fault
        self.lock = threading.Lock()
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(schema)
        path.chmod(0o600)

    def close(self) -> None:
        with self.lock:
            self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` under the lock, for the body's writes.

        Raises:
            CorralError: (of class ``error``) the disk or SQLite refused the write; nothing
                of it is stored.
        """
        with self.lock:
            cur = self.db.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
                yield cur
                if self.fault is not None:
                    self.fault(self.db)
                cur.execute("COMMIT")
            except (sqlite3.Error, OSError) as err:
                self._rollback()
                raise self.error(f"Cannot write {self.what} on {self.node}: {err}") from err
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        """Roll back the open transaction, if any: SQLite ends some failed ones itself
        (a full disk, an I/O error), and a ``ROLLBACK`` then would hide the cause."""
        if not self.db.in_transaction:
            return
        try:
            self.db.execute("ROLLBACK")
        except sqlite3.Error:
            log.exception("%s: ROLLBACK failed", self.path)
