"""Replication of configuration changes and ssconf to the other nodes over node RPC."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from corral.config.store import Change
from corral.objects.config_data import ConfigData
from corral.objects.node import Node
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


class RpcReplicator:
    """Sends each commit to the master candidates, and ssconf to all online nodes.

    A candidate that fails to apply a commit (unreachable, or its replica is on
    another serial number) gets a full copy with the next commit.
    """

    def __init__(self, caller: NodeCaller, master_uuid: str) -> None:
        self.caller = caller
        self.master_uuid = master_uuid
        self.needs_full: set[str] = set()

    def _candidates(self, data: ConfigData) -> list[Node]:
        return [
            n
            for n in data.nodes.values()
            if n.master_candidate and not n.offline and n.uuid != data.cluster.master_node
        ]

    async def replicate(
        self, serial_no: int, base_serial: int, changes: list[Change], data: ConfigData
    ) -> None:
        candidates = self._candidates(data)
        if not candidates:
            return
        meta = {"ctime": data.ctime, "mtime": data.mtime, "version": data.version}
        full = [n for n in candidates if n.name in self.needs_full or base_serial < 0]
        delta = [n for n in candidates if n not in full]
        if delta:
            results = await self.caller.config_replicate(
                delta, serial_no, base_serial, wire_changes(changes), meta
            )
            self._note_failures(results)
            full.extend(n for n in delta if n.name in self.needs_full)
        if full:
            everything = [[k.value, o.uuid, o] for k, o in data.all_objects()]
            results = await self.caller.config_replicate(full, serial_no, -1, everything, meta)
            self._note_failures(results)

    def _note_failures(self, results: dict[str, NodeResult[int]]) -> None:
        for name, result in results.items():
            if result.ok:
                self.needs_full.discard(name)
            else:
                log.warning("configuration replication to %s failed: %s", name, result.fail_msg)
                self.needs_full.add(name)

    async def push_ssconf(self, values: dict[str, str], data: ConfigData) -> None:
        nodes = [n for n in data.nodes.values() if not n.offline]
        results = await self.caller.write_ssconf_files(nodes, dict(values))
        for name, result in results.items():
            if not result.ok:
                log.warning("ssconf update on %s failed: %s", name, result.fail_msg)
