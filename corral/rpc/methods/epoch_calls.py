"""The master epoch: what a node remembers, and the announcement of a new term."""

from __future__ import annotations

from collections.abc import Sequence

from corral.rpc.methods.base import NodeRef, RpcMethods
from corral.rpc.results import NodeResult


class EpochCalls(RpcMethods):
    """The master epoch of the nodes (fencing, :mod:`corral.rpc.access`)."""

    async def master_epoch(
        self,
        nodes: Sequence[NodeRef],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[int]]:
        """The highest master epoch the node has seen."""
        return await self._multi("master_epoch", nodes, timeout=rpc_timeout)

    async def master_epoch_announce(
        self,
        nodes: Sequence[NodeRef],
        epoch: int,
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[int]]:
        """A new master term: remember its epoch; answers the node's epoch."""
        return await self._multi("master_epoch_announce", nodes, epoch, timeout=rpc_timeout)
