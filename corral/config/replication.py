"""Replication of configuration changes and ssconf to the other nodes over node RPC."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from corral.config.store import Change
from corral.errors import ConfigurationError
from corral.objects.config_data import ConfigData
from corral.objects.node import Node
from corral.rpc.majority import (
    ACK_BOUND,
    DEFAULT_BACKOFF,
    CatchUp,
    CatchUpBackoff,
    acks_needed,
    gather_majority,
    require_majority,
)
from corral.rpc.results import NodeResult

log = logging.getLogger(__name__)


class NodeCaller(Protocol):
    """The part of the typed RPC client (:class:`corral.rpc.nodes.NodeRpc`) replication needs."""

    async def config_replicate(
        self,
        nodes: Sequence[Node],
        serial_no: int,
        base_serial: int,
        changes: list[Any],
        meta: dict[str, Any],
    ) -> dict[str, NodeResult[int]]:
        """Apply changes on the candidates; each answers its new serial number."""

    async def write_ssconf_files(
        self, nodes: Sequence[Node], values: dict[str, Any]
    ) -> dict[str, NodeResult[None]]:
        """Replace the ssconf files of ``nodes``."""


def wire_changes(changes: list[Change]) -> list[list[Any]]:
    return [[kind.value, uuid, obj] for kind, uuid, obj in changes]


def _everything(data: ConfigData) -> list[list[Any]]:
    """A full copy of the configuration, as ``config_replicate`` changes."""
    return [[k.value, o.uuid, o] for k, o in data.all_objects()]


def _meta(data: ConfigData) -> dict[str, Any]:
    return {"ctime": data.ctime, "mtime": data.mtime, "version": data.version}


class RpcReplicator:
    """Sends each commit to the master candidates, and ssconf to all online nodes.

    A commit is acknowledged once the master and enough candidates for a majority of
    the pool hold it (:mod:`corral.rpc.majority`); otherwise it fails naming the
    unreachable candidates. A candidate that does not apply a commit within ``bound``
    seconds is lagging: commits skip it, and a background loop sends it a full copy
    until it is level. A delta a candidate refuses (its replica is on another serial
    number) is followed at once by a full copy.
    """

    def __init__(
        self,
        caller: NodeCaller,
        master_uuid: str,
        bound: float = ACK_BOUND,
        backoff: CatchUpBackoff = DEFAULT_BACKOFF,
    ) -> None:
        self.caller = caller
        self.master_uuid = master_uuid
        self.bound = bound
        self.needs_full: set[str] = set()
        self.behind: dict[str, int] = {}
        """Lagging candidates: the last serial number each is known to hold."""
        self.catch_up = CatchUp(self._catch_up, self.behind.__contains__, backoff)
        self._held: dict[str, int] = {}
        self._latest = -1
        self._data: ConfigData | None = None

    def _candidates(self, data: ConfigData) -> list[Node]:
        return [
            n
            for n in data.nodes.values()
            if n.master_candidate and not n.offline and n.uuid != data.cluster.master_node
        ]

    def lagging(self) -> dict[str, str]:
        """``{candidate: "configuration serial 41 of 57"}`` for every lagging candidate."""
        return {
            name: f"configuration serial {serial} of {self._latest}"
            for name, serial in sorted(self.behind.items())
        }

    async def replicate(
        self, serial_no: int, base_serial: int, changes: list[Change], data: ConfigData
    ) -> None:
        """Return once a majority holds ``serial_no``; raise ConfigurationError if none can."""
        self._data, self._latest = data, serial_no
        candidates = self._candidates(data)
        self._forget_others({n.name for n in candidates})
        if not candidates:
            return
        pool, needed = len(candidates) + 1, acks_needed(len(candidates) + 1)
        delta = wire_changes(changes)
        calls = {
            n.name: self._send(n, serial_no, base_serial, delta, data)
            for n in candidates
            if n.name not in self.behind
        }
        outcome = await gather_majority(calls, needed, self.bound)
        for name in outcome.acked:
            self.needs_full.discard(name)
            self._held[name] = serial_no
        for name, reason in outcome.failed.items():
            self._fall_behind(name, base_serial, reason, outcome.pending.get(name))
        waiting = [name for name in self.behind if name not in outcome.failed]
        require_majority(
            f"configuration serial {serial_no}", outcome, needed, pool, waiting,
            ConfigurationError,
        )

    async def _send(
        self, node: Node, serial_no: int, base_serial: int, delta: list[Any], data: ConfigData
    ) -> NodeResult[int]:
        """The delta (unless the candidate needs a full copy), then a full copy if refused."""
        meta = _meta(data)
        if base_serial >= 0 and node.name not in self.needs_full:
            result = (await self.caller.config_replicate(
                [node], serial_no, base_serial, delta, meta
            ))[node.name]
            if result.ok:
                return result
            log.warning("configuration delta refused by %s: %s", node.name, result.fail_msg)
        return (await self.caller.config_replicate(
            [node], serial_no, -1, _everything(data), meta
        ))[node.name]

    def _fall_behind(
        self, name: str, base_serial: int, reason: str, pending: asyncio.Task[Any] | None
    ) -> None:
        if name not in self.behind:
            log.warning("master candidate %s is lagging (configuration): %s", name, reason)
            self.behind[name] = self._held.get(name, base_serial)
        self.needs_full.add(name)
        self.catch_up.start(name, pending)

    def _forget_others(self, candidates: set[str]) -> None:
        """Drop the lag records of nodes that are no longer online candidates."""
        for name in [n for n in self.behind if n not in candidates]:
            del self.behind[name]

    async def _catch_up(self, name: str) -> bool:
        """Send lagging ``name`` a full copy; whether it answered."""
        data = self._data
        node = None if data is None else data.node_by_name(name)
        if data is None or node is None or node not in self._candidates(data):
            self.behind.pop(name, None)
            return True
        serial = data.serial_no
        result = (await self.caller.config_replicate(
            [node], serial, -1, _everything(data), _meta(data)
        ))[name]
        if not result.ok:
            log.info("catch-up of %s failed: %s", name, result.fail_msg)
            return False
        self._held[name] = serial
        if serial >= self._latest:
            self.behind.pop(name, None)
            self.needs_full.discard(name)
        elif name in self.behind:
            self.behind[name] = serial
        return True

    async def push_ssconf(self, values: dict[str, str], data: ConfigData) -> None:
        nodes = [n for n in data.nodes.values() if not n.offline]
        results = await self.caller.write_ssconf_files(nodes, dict(values))
        for name, result in results.items():
            if not result.ok:
                log.warning("ssconf update on %s failed: %s", name, result.fail_msg)
