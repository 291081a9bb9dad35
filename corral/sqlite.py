"""One way to open the SQLite stores: write-ahead log, full fsync, owner-only file."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class SqliteFile:
    """A SQLite database shared by the event loop's worker threads, guarded by one lock.

    ``journal_mode=WAL`` with ``synchronous=FULL`` makes every committed
    transaction atomic and durable, whatever instant the process is killed at.
    """

    def __init__(self, path: Path, schema: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.lock = threading.Lock()
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(schema)
        path.chmod(0o600)

    def close(self) -> None:
        with self.lock:
            self.db.close()
