"""Master candidates' replica of the configuration."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from corral.backend.context import NodeContext
from corral.backend.handlers import handles
from corral.config.store import Change, ConfigStore
from corral.errors import ConfigurationError
from corral.objects.config_data import KIND_TYPES, Kind
from corral.rpc.payloads import ConfigCopy


def replica_store(ctx: NodeContext) -> ConfigStore:
    """The node's replica store, opened once per daemon."""
    store = ctx.services.config_replica
    if store is None:
        ctx.layout.data_dir.mkdir(parents=True, exist_ok=True)
        store = ctx.services.config_replica = ConfigStore(ctx.layout.config_db)
    return store


def close_replica(ctx: NodeContext) -> None:
    """Close the open replica, if any (before its files are removed)."""
    store, ctx.services.config_replica = ctx.services.config_replica, None
    if store is not None:
        store.close()


def _decode_changes(changes: list[Any]) -> list[Change]:
    decoded: list[Change] = []
    for kind_name, uuid, obj in changes:
        kind = Kind(kind_name)
        value = None if obj is None else msgspec.convert(obj, KIND_TYPES[kind])
        decoded.append((kind, str(uuid), value))
    return decoded


def _apply(
    store: ConfigStore, serial_no: int, base_serial: int, changes: list[Any], meta: dict[str, Any]
) -> int:
    decoded = _decode_changes(changes)
    if base_serial < 0:
        store.replace_all_changes(serial_no, decoded, meta)
        return serial_no
    local = store.serial_no()
    if local != base_serial:
        raise ConfigurationError(
            f"replica out of sync: local serial {local}, change applies on {base_serial}"
        )
    store.apply(serial_no, decoded, meta)
    return serial_no


@handles("config_replicate")
async def config_replicate(
    ctx: NodeContext, serial_no: int, base_serial: int, changes: list[Any], meta: dict[str, Any]
) -> int:
    store = replica_store(ctx)
    return await asyncio.to_thread(_apply, store, serial_no, base_serial, changes, meta)


@handles("config_serial")
async def config_serial(ctx: NodeContext) -> int:
    if not ctx.layout.config_db.exists():
        return 0
    return replica_store(ctx).serial_no()


def _copy(store: ConfigStore) -> ConfigCopy:
    data = store.load()
    if data is None:
        raise ConfigurationError("this node's configuration replica is empty")
    changes: list[Any] = [[kind.value, obj.uuid, obj] for kind, obj in data.all_objects()]
    meta = {"ctime": data.ctime, "mtime": data.mtime, "version": data.version}
    return ConfigCopy(serial_no=data.serial_no, changes=changes, meta=meta)


@handles("config_fetch")
async def config_fetch(ctx: NodeContext) -> ConfigCopy:
    """The whole replica, for a candidate becoming master with an older one."""
    if not ctx.layout.config_db.exists():
        raise ConfigurationError("this node holds no configuration replica")
    return await asyncio.to_thread(_copy, replica_store(ctx))


@handles("node_demote_from_mc")
async def node_demote_from_mc(ctx: NodeContext) -> bool:
    """Drop the configuration replica and the candidate-only files (the CA key, the
    RAPI certificate); refused while a master daemon runs here."""
    if ctx.layout.pid_file("corral-masterd").exists():
        raise ConfigurationError("this node runs the master daemon; it cannot be demoted")
    close_replica(ctx)
    for suffix in ("", "-wal", "-shm"):
        path = ctx.layout.config_db.with_name(ctx.layout.config_db.name + suffix)
        path.unlink(missing_ok=True)
    for path in ctx.layout.candidate_files:
        path.unlink(missing_ok=True)
    return True
