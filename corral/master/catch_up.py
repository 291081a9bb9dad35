"""A candidate about to become master catches up with the other candidates first.

The master acknowledges a configuration change or a job once a majority of the candidate
pool holds it, so when the master dies an acknowledged change may live on only some of the
surviving candidates. Before it acts, the winner of the master lease (automatic failover)
therefore asks every reachable candidate: when one reports a newer configuration serial, its
whole configuration replaces this node's replica (never start as master with an older serial
than a reachable candidate reports); every job file this node lacks, or holds in an earlier
state, is copied from the candidates' queue replicas.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Any

import msgspec

from corral import serde
from corral.config.store import Change, ConfigStore
from corral.errors import ConfigurationError
from corral.layout import NodeLayout
from corral.objects.config_data import KIND_TYPES, ConfigData, Kind
from corral.objects.node import Node
from corral.rpc.nodes import NodeRpc
from corral.rpc.payloads import ConfigCopy

log = logging.getLogger(__name__)

CATCH_UP_TIMEOUT = 5.0
"""Seconds a candidate gets to answer (a dead one is skipped)."""

_QUEUE_NAME = re.compile(r"(archive/[0-9]+/)?job-[0-9]+")
_STATUS_RANK = {"queued": 0, "waiting": 1, "running": 2, "canceling": 2,
                "success": 3, "error": 3, "canceled": 3}


@dataclass(frozen=True)
class CatchUp:
    """What the catch-up did: the serial adopted (and from whom), job files copied."""

    serial: int
    source: str | None
    """The candidate whose configuration was adopted; None when this node's was newest."""
    jobs_copied: int


def other_candidates(data: ConfigData, me: str) -> list[Node]:
    return [n for n in data.nodes.values()
            if n.master_candidate and not n.offline and n.name != me]


def _decode(changes: list[Any]) -> list[Change]:
    decoded: list[Change] = []
    for kind_name, uuid, obj in changes:
        kind = Kind(kind_name)
        decoded.append((kind, str(uuid), msgspec.convert(obj, KIND_TYPES[kind])))
    return decoded


def adopt_config(layout: NodeLayout, copy: ConfigCopy) -> None:
    """Replace this node's replica by ``copy`` (one transaction)."""
    store = ConfigStore(layout.config_db)
    try:
        store.replace_all_changes(copy.serial_no, _decode(copy.changes), copy.meta)
    finally:
        store.close()


async def newest_config(
    layout: NodeLayout, rpc: NodeRpc, data: ConfigData, me: str
) -> tuple[int, str | None]:
    """Adopt the newest configuration a reachable candidate holds, when newer than ours."""
    answers = await rpc.config_serial(other_candidates(data, me), rpc_timeout=CATCH_UP_TIMEOUT)
    serials = {name: r.payload for name, r in answers.items() if r.ok and r.payload is not None}
    for name, serial in sorted(serials.items(), key=lambda item: (-item[1], item[0])):
        if serial <= data.serial_no:
            break
        node = next(n for n in data.nodes.values() if n.name == name)
        fetched = await rpc.config_fetch(node, rpc_timeout=CATCH_UP_TIMEOUT)
        if not fetched.ok or fetched.payload is None:
            log.warning("cannot fetch the newer configuration (serial %d) of %s: %s",
                        serial, name, fetched.fail_msg)
            continue
        await asyncio.to_thread(adopt_config, layout, fetched.payload)
        log.info("adopted the configuration of %s (serial %d, ours was %d)",
                 name, fetched.payload.serial_no, data.serial_no)
        return fetched.payload.serial_no, name
    newer = {n: s for n, s in serials.items() if s > data.serial_no}
    if newer:
        raise ConfigurationError(f"candidates {', '.join(sorted(newer))} hold a newer"
                                 " configuration that could not be fetched")
    return data.serial_no, None


def _progress(text: str) -> int:
    """How far a job document got: the sum of its opcodes' status ranks (-1: unreadable)."""
    try:
        doc = serde.loads(text.encode())
        return sum(_STATUS_RANK.get(str(op.get("status")), 0) for op in doc["ops"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return -1


def _merge_files(layout: NodeLayout, files: list[tuple[str, str]], serial: int) -> int:
    queue_dir = layout.queue_dir
    copied = 0
    for name, text in files:
        if not _QUEUE_NAME.fullmatch(name):
            continue
        path = queue_dir / name
        live = queue_dir / path.name
        local = next((p for p in (live, path) if p.exists()), None)
        if local is not None and _progress(local.read_text()) >= _progress(text):
            continue
        if _progress(text) < 0:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        serde.atomic_write(path if local is None else local, text.encode(), 0o600)
        copied += 1
    serial_file = queue_dir / "serial"
    try:
        own = int(serial_file.read_text().strip() or 0)
    except (OSError, ValueError):
        own = 0
    if serial > own:
        queue_dir.mkdir(parents=True, exist_ok=True)
        serde.atomic_write(serial_file, f"{serial}\n".encode(), 0o600)
    return copied


async def merge_queues(layout: NodeLayout, rpc: NodeRpc, data: ConfigData, me: str) -> int:
    """Copy job files this node lacks or holds in an earlier state; how many were copied."""
    copied = 0
    for node in other_candidates(data, me):
        fetched = await rpc.jobqueue_fetch(node, rpc_timeout=CATCH_UP_TIMEOUT)
        if not fetched.ok or fetched.payload is None:
            log.info("no job queue replica from %s: %s", node.name, fetched.fail_msg)
            continue
        copy = fetched.payload
        copied += await asyncio.to_thread(_merge_files, layout, list(copy.files), copy.serial)
    return copied


async def catch_up(layout: NodeLayout, rpc: NodeRpc, data: ConfigData, me: str) -> CatchUp:
    """Both steps; the configuration first (its candidate list then names whom to ask).

    Raises:
        ConfigurationError: a candidate reports a newer configuration that cannot be fetched.
    """
    serial, source = await newest_config(layout, rpc, data, me)
    if source is not None:
        store = ConfigStore(layout.config_db)
        try:
            loaded = store.load()
        finally:
            store.close()
        data = loaded if loaded is not None else data
    copied = await merge_queues(layout, rpc, data, me)
    return CatchUp(serial, source, copied)
