"""Calling configured nodes: configuration ``Node`` objects to RPC targets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corral.objects.node import Node
from corral.rpc.client import NodeTarget, RpcClient
from corral.rpc.results import NodeResult


def target_of(node: Node) -> NodeTarget:
    return NodeTarget(node.name, node.primary_ip, node.rpc_port, node.offline)


class NodeRpc:
    """The master's RPC entry point: call by configuration node, results keyed by node name."""

    def __init__(self, client: RpcClient) -> None:
        self.client = client

    async def call_nodes(
        self, name: str, nodes: Sequence[Node], *args: Any, timeout: float | None = None
    ) -> dict[str, NodeResult[Any]]:
        if not nodes:
            return {}
        return await self.client.call(name, [target_of(n) for n in nodes], *args, timeout=timeout)

    async def call_node(
        self, name: str, node: Node, *args: Any, timeout: float | None = None
    ) -> NodeResult[Any]:
        return await self.client.call_single(name, target_of(node), *args, timeout=timeout)

    async def close(self) -> None:
        await self.client.close()
