"""Durable job storage: one SQLite row per job, batched transactions.

Batching lets many job updates share one fsync, which is what makes a burst of
a thousand submissions cheap, while every acknowledged write is on disk.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from corral import serde
from corral.errors import JobQueueError
from corral.sqlite import SqliteFile, WriteFault

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    archived INTEGER NOT NULL DEFAULT 0,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


LOAD_CHUNK = 500
"""Ids per query of :meth:`JobStore.load_many` (SQLite limits bound parameters)."""
_MAX_ROWID = 2**63 - 1


class JobStore:
    """Jobs on disk. Thread-safe; called from worker threads."""

    def __init__(
        self, path: Path, *, node: str | None = None, fault: WriteFault | None = None
    ) -> None:
        """``node`` names this node in write errors; ``fault`` is a test seam (see sqlite)."""
        self._file = SqliteFile(
            path, _SCHEMA, what="the job queue", error=JobQueueError, node=node, fault=fault
        )
        self._lock = self._file.lock
        self._db = self._file.db

    def close(self) -> None:
        self._file.close()

    def last_id(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='serial'").fetchone()
        return int(row[0]) if row else 0

    def save(self, jobs: Iterable[tuple[int, bytes]], serial: int) -> None:
        """Write job documents (id, JSON) and the id serial in one transaction.

        Raises:
            JobQueueError: the write failed (e.g. the disk is full); nothing was written.
        """
        with self._file.transaction() as cur:
            cur.executemany(
                "INSERT INTO jobs (id, data) VALUES (?, ?) "
                "ON CONFLICT(id) DO UPDATE SET data=excluded.data",
                jobs,
            )
            cur.execute("INSERT OR REPLACE INTO meta VALUES ('serial', ?)", (str(serial),))

    def archive(self, ids: Iterable[int]) -> None:
        """Flag jobs archived, in one transaction; raises JobQueueError like :meth:`save`."""
        with self._file.transaction() as cur:
            cur.executemany("UPDATE jobs SET archived=1 WHERE id=?", ((i,) for i in ids))

    def load_active(self) -> list[dict[str, Any]]:
        """Every job not yet archived, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT data FROM jobs WHERE archived=0 ORDER BY id").fetchall()
        return [serde.loads(r[0]) for r in rows]

    def load(self, job_id: int) -> tuple[dict[str, Any], bool] | None:
        """One job (archived or not) and whether it is archived."""
        with self._lock:
            row = self._db.execute(
                "SELECT data, archived FROM jobs WHERE id=?", (job_id,)
            ).fetchone()
        return None if row is None else (serde.loads(row[0]), bool(row[1]))

    def load_many(self, job_ids: Iterable[int]) -> list[tuple[dict[str, Any], bool]]:
        """The jobs (archived or not) among ``job_ids`` that exist, each with whether it is
        archived; one query per :data:`LOAD_CHUNK` ids (ids SQLite cannot hold exist nowhere)."""
        wanted = sorted({i for i in job_ids if 0 <= i <= _MAX_ROWID})
        found: list[tuple[dict[str, Any], bool]] = []
        for start in range(0, len(wanted), LOAD_CHUNK):
            chunk = wanted[start:start + LOAD_CHUNK]
            marks = ",".join("?" * len(chunk))
            with self._lock:
                rows = self._db.execute(
                    f"SELECT data, archived FROM jobs WHERE id IN ({marks})", chunk
                ).fetchall()
            found.extend((serde.loads(row[0]), bool(row[1])) for row in rows)
        return found

    def archived_ids(self) -> list[int]:
        with self._lock:
            rows = self._db.execute("SELECT id FROM jobs WHERE archived=1 ORDER BY id").fetchall()
        return [int(r[0]) for r in rows]
