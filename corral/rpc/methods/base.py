"""What every group of typed node RPC methods builds on: the transport seam."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from corral.errors import RpcError
from corral.objects.node import Node
from corral.rpc.client import NodeTarget
from corral.rpc.results import NodeResult

NodeRef = Node | NodeTarget
"""A configured node, or an address (a node that is joining, or a direct call)."""


def target_of(node: NodeRef) -> NodeTarget:
    """Where to reach ``node``."""
    if isinstance(node, NodeTarget):
        return node
    return NodeTarget(node.name, node.primary_ip, node.rpc_port, node.offline)


class RpcMethods(ABC):
    """Base of the method groups: each typed method ends in :meth:`send`."""

    @abstractmethod
    async def send(
        self, name: str, nodes: Sequence[NodeRef], args: tuple[Any, ...], timeout: float | None
    ) -> dict[str, NodeResult[Any]]:
        """Run call ``name`` on ``nodes``; payloads decoded into the call's ``returns``."""

    async def _multi(
        self, name: str, nodes: Sequence[NodeRef], *args: Any, timeout: float | None
    ) -> dict[str, NodeResult[Any]]:
        return await self.send(name, nodes, args, timeout)

    async def _per_node(
        self, name: str, nodes: Sequence[NodeRef], values: Mapping[str, Any], *,
        timeout: float | None,
    ) -> dict[str, NodeResult[Any]]:
        """A call whose one argument differs by node (``Arg.per_node``), sent in parallel."""
        missing = [node.name for node in nodes if node.name not in values]
        if missing:
            raise RpcError(f"RPC call {name!r}: no argument for node(s) {', '.join(missing)}")
        answers = await asyncio.gather(
            *(self.send(name, [node], (values[node.name],), timeout) for node in nodes))
        return {node.name: answer[node.name] for node, answer in zip(nodes, answers, strict=True)}

    async def _single(
        self, name: str, node: NodeRef, *args: Any, timeout: float | None
    ) -> NodeResult[Any]:
        return (await self.send(name, [node], args, timeout))[node.name]
