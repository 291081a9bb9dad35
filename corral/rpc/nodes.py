"""The master's typed node RPC: one method per call of :mod:`corral.rpc.calls`.

A SINGLE call's method takes the node and answers a ``NodeResult[T]``; a MULTI call's
takes the nodes and answers ``{node name: NodeResult[T]}``, where ``T`` is the call's
``returns``. Every payload is decoded into ``T`` by the client; an answer of the wrong
shape is a failed result naming the call, never an exception. ``rpc_timeout``
(seconds) overrides the table's timeout. The methods live in :mod:`corral.rpc.methods`,
one module per subject; ``tests/architecture/test_rpc_table.py`` checks them against the
table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corral.rpc.client import RpcClient
from corral.rpc.methods.base import NodeRef, target_of
from corral.rpc.methods.epoch_calls import EpochCalls
from corral.rpc.methods.impexp_calls import ImpExpCalls
from corral.rpc.methods.instance_calls import InstanceCalls
from corral.rpc.methods.join_calls import JoinCalls
from corral.rpc.methods.migration_calls import MigrationCalls
from corral.rpc.methods.mirror_calls import MirrorCalls
from corral.rpc.methods.mirror_export_calls import MirrorExportCalls
from corral.rpc.methods.node_calls import NodeCalls
from corral.rpc.methods.replication_calls import ReplicationCalls
from corral.rpc.methods.storage_calls import StorageCalls
from corral.rpc.results import NodeResult

__all__ = ["NodeRef", "NodeRpc", "target_of"]


class NodeRpc(
    NodeCalls, ReplicationCalls, InstanceCalls, MigrationCalls, StorageCalls, MirrorCalls,
    JoinCalls, ImpExpCalls, MirrorExportCalls, EpochCalls,
):
    """The master's RPC entry point: typed calls by node, results keyed by node name."""

    def __init__(self, client: RpcClient) -> None:
        self.client = client

    async def send(
        self, name: str, nodes: Sequence[NodeRef], args: tuple[Any, ...], timeout: float | None
    ) -> dict[str, NodeResult[Any]]:
        """Run call ``name`` on ``nodes``; payloads decoded into the call's ``returns``.

        The one transport seam: a fake replaces this method and keeps the typed methods.
        """
        if not nodes:
            return {}
        targets = [target_of(n) for n in nodes]
        return await self.client.call(name, targets, *args, timeout=timeout)

    def set_epoch(self, epoch: int) -> None:
        """Send ``epoch`` (the master's term) with every later call; forgets fencing."""
        self.client.epoch = epoch
        self.client.fenced = None

    def fenced(self) -> str | None:
        """A node's refusal when a later master term exists (this master must not act)."""
        return self.client.fenced

    async def close(self) -> None:
        await self.client.close()
