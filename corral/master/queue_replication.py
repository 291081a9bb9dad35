"""Job queue replication to the master candidates over node RPC."""

from __future__ import annotations

import logging
from collections.abc import Callable

from corral.objects.config_data import ConfigData
from corral.objects.node import Node
from corral.rpc.nodes import NodeRpc
from corral.rpc.results import NodeResult

log = logging.getLogger(__name__)


class RpcQueueReplicator:
    """Copies job files, renames and the drain flag to every online candidate but the master."""

    def __init__(self, rpc: NodeRpc, config: Callable[[], ConfigData]) -> None:
        self.rpc = rpc
        self.config = config

    def _candidates(self) -> list[Node]:
        cfg = self.config()
        return [
            n
            for n in cfg.nodes.values()
            if n.master_candidate and not n.offline and n.uuid != cfg.cluster.master_node
        ]

    @staticmethod
    def _warn(results: dict[str, NodeResult[None]]) -> None:
        for node, result in results.items():
            if not result.ok:
                log.warning(
                    "job queue replication (%s) to %s failed: %s", result.call, node,
                    result.fail_msg,
                )

    async def update(self, files: list[tuple[str, str]]) -> None:
        self._warn(await self.rpc.jobqueue_update(self._candidates(), [list(f) for f in files]))

    async def rename(self, renames: list[tuple[str, str]]) -> None:
        self._warn(await self.rpc.jobqueue_rename(self._candidates(), [list(r) for r in renames]))

    async def set_drain_flag(self, flag: bool) -> None:
        self._warn(await self.rpc.jobqueue_set_drain_flag(self._candidates(), flag))
