"""Persistent configuration store: one SQLite row per object.

A change writes only the objects it touches, in one transaction, so its cost
does not grow with the size of the cluster; SQLite's write-ahead log with
``synchronous=FULL`` makes each commit atomic and durable, whatever instant
the writer is killed at.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

from corral.errors import ConfigurationError
from corral.objects.base import ConfigObject
from corral.objects.cluster import Cluster
from corral.objects.config_data import KIND_TYPES, ConfigData, Kind
from corral.objects.ipolicy import upgrade_cluster_ipolicy
from corral.sqlite import SqliteFile, WriteFault

Change = tuple[Kind, str, ConfigObject | None]
"""(kind, uuid, new object) — ``None`` removes the object."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL, uuid TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (kind, uuid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_encoder = msgspec.json.Encoder()
_decoders = {kind: msgspec.json.Decoder(cls) for kind, cls in KIND_TYPES.items()}


def encode_object(obj: ConfigObject) -> bytes:
    return _encoder.encode(obj)


def decode_object(kind: Kind, data: bytes | str) -> ConfigObject:
    obj: ConfigObject = _decoders[kind].decode(data)
    if isinstance(obj, Cluster):
        # Configurations written before instance policies had their shape: upgrade on load.
        policy = upgrade_cluster_ipolicy(obj.ipolicy)
        if policy != obj.ipolicy:
            obj = msgspec.structs.replace(obj, ipolicy=policy)
    return obj


class ConfigStore:
    """The on-disk configuration of one node (the master's, or a candidate's replica)."""

    def __init__(
        self, path: Path, *, node: str | None = None, fault: WriteFault | None = None
    ) -> None:
        """``node`` names this node in write errors; ``fault`` is a test seam (see sqlite)."""
        self.path = path
        self._file = SqliteFile(
            path, _SCHEMA, what="the configuration", error=ConfigurationError,
            node=node, fault=fault,
        )
        self._lock = self._file.lock
        self._db = self._file.db

    def close(self) -> None:
        self._file.close()

    def name_node(self, node: str) -> None:
        """Name this node in write errors (the master learns its name from the store)."""
        self._file.node = node

    # --- reading ------------------------------------------------------
    def meta(self) -> dict[str, str]:
        with self._lock:
            return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def serial_no(self) -> int:
        return int(self.meta().get("serial_no", "0"))

    def load(self) -> ConfigData | None:
        """The whole configuration, or None when the store is empty."""
        with self._lock:
            rows = self._db.execute("SELECT kind, data FROM objects").fetchall()
        meta = self.meta()
        cluster: Cluster | None = None
        objects: list[ConfigObject] = []
        for kind_name, blob in rows:
            obj = decode_object(Kind(kind_name), blob)
            if isinstance(obj, Cluster):
                cluster = obj
            else:
                objects.append(obj)
        if cluster is None:
            if objects:
                raise ConfigurationError(f"{self.path}: objects without a cluster object")
            return None
        data = ConfigData(
            cluster=cluster,
            serial_no=int(meta.get("serial_no", "1")),
            ctime=float(meta.get("ctime", "0")),
            mtime=float(meta.get("mtime", "0")),
        )
        for obj in objects:
            data.put(obj)
        return data

    # --- writing ------------------------------------------------------
    def apply(self, serial_no: int, changes: Iterable[Change], meta: dict[str, Any]) -> None:
        """Write ``changes`` and the new serial number in one transaction.

        Raises:
            ConfigurationError: the write failed (e.g. the disk is full); nothing was written.
        """
        with self._file.transaction() as cur:
            self._write_changes(cur, changes)
            values = {**{k: str(v) for k, v in meta.items()}, "serial_no": str(serial_no)}
            cur.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", values.items())

    @staticmethod
    def _write_changes(cur: sqlite3.Cursor, changes: Iterable[Change]) -> None:
        for kind, uuid, obj in changes:
            if obj is None:
                cur.execute("DELETE FROM objects WHERE kind=? AND uuid=?", (kind.value, uuid))
            else:
                cur.execute(
                    "INSERT OR REPLACE INTO objects VALUES (?, ?, ?)",
                    (kind.value, uuid, encode_object(obj)),
                )

    def replace_all(self, data: ConfigData) -> None:
        """Replace everything with ``data`` (a full copy, e.g. at cluster init)."""
        meta = {"ctime": data.ctime, "mtime": data.mtime, "version": data.version}
        self.replace_all_changes(data.serial_no, full_changes(data), meta)

    def replace_all_changes(
        self, serial_no: int, changes: Iterable[Change], meta: dict[str, Any]
    ) -> None:
        """Replace every object and the metadata in one transaction; raises
        ConfigurationError like :meth:`apply`."""
        with self._file.transaction() as cur:
            cur.execute("DELETE FROM objects")
            cur.execute("DELETE FROM meta")
            self._write_changes(cur, changes)
            values = {**{k: str(v) for k, v in meta.items()}, "serial_no": str(serial_no)}
            cur.executemany("INSERT INTO meta VALUES (?, ?)", values.items())


def full_changes(data: ConfigData) -> list[Change]:
    """Every object of ``data`` as a change list (for a full replica copy)."""
    return [(kind, obj.uuid, obj) for kind, obj in data.all_objects()]
