"""A node RPC that records every call and answers from scripts or sensible defaults."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import corral
from corral.clock import Clock, split_time
from corral.errors import RpcError
from corral.objects.node import Node
from corral.rpc.calls import CALLS
from corral.rpc.nodes import NodeRpc
from corral.rpc.results import NodeResult
from corral.version import PROTOCOL_VERSION

Responder = Callable[[Node, tuple[Any, ...]], Any]
"""Computes a payload from the node and the call's arguments (or returns a NodeResult)."""


@dataclass(frozen=True, slots=True)
class RecordedCall:
    name: str
    node: str
    args: tuple[Any, ...]


class FakeNodeRpc(NodeRpc):
    """Checks calls against the RPC table like the real client, never touches the network.

    Offline nodes are not contacted (and not recorded), as with the real client.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: list[RecordedCall] = []
        self._scripts: dict[tuple[str, str | None], Responder] = {}

    # --- scripting ------------------------------------------------------
    def script(self, name: str, node: str | None = None, *, payload: Any = None,
               fail: str | None = None, fn: Responder | None = None) -> None:
        """Answer ``name`` (on ``node``, or on every node) with a payload, failure or function."""
        if fn is None:
            def fn(target: Node, args: tuple[Any, ...]) -> Any:
                if fail is not None:
                    return NodeResult.failure(target.name, name, fail)
                return payload
        self._scripts[(name, node)] = fn

    def reset(self) -> None:
        self.calls.clear()

    # --- inspection -----------------------------------------------------
    def calls_of(self, name: str) -> list[RecordedCall]:
        return [c for c in self.calls if c.name == name]

    def nodes_called(self, name: str) -> list[str]:
        return sorted(c.node for c in self.calls_of(name))

    # --- the NodeRpc interface ---------------------------------------------
    async def call_nodes(self, name: str, nodes: Sequence[Node], *args: Any,
                         timeout: float | None = None) -> dict[str, NodeResult[Any]]:
        call = CALLS.get(name)
        if call is None or len(call.args) != len(args):
            raise RpcError(f"bad RPC call {name!r} with {len(args)} argument(s)")
        return {node.name: self._answer(name, node, args) for node in nodes}

    async def call_node(self, name: str, node: Node, *args: Any,
                        timeout: float | None = None) -> NodeResult[Any]:
        return (await self.call_nodes(name, [node], *args, timeout=timeout))[node.name]

    async def close(self) -> None:
        return None

    def _answer(self, name: str, node: Node, args: tuple[Any, ...]) -> NodeResult[Any]:
        if node.offline:
            return NodeResult.failure(node.name, name, "Node is marked offline", offline=True)
        self.calls.append(RecordedCall(name, node.name, args))
        responder = self._scripts.get((name, node.name)) or self._scripts.get((name, None))
        payload = responder(node, args) if responder else self._default(name, args)
        if isinstance(payload, NodeResult):
            return payload
        return NodeResult(node=node.name, call=name, payload=payload)

    def _default(self, name: str, args: tuple[Any, ...]) -> Any:
        if name == "version":
            return PROTOCOL_VERSION
        if name == "hooks_runner":
            return []
        if name == "node_verify":
            return verify_answer(args[0], self.clock.now())
        if name == "node_info":
            return {"memory_total": 4096, "memory_free": 2048, "storage": [], "hv": {}}
        return None


def verify_answer(checks: dict[str, Any], now: float, digest: str = "0" * 40) -> dict[str, Any]:
    """A healthy node's ``node_verify`` answer to ``checks``."""
    answers: dict[str, Any] = {
        "filelist": dict.fromkeys(checks.get("filelist") or [], digest),
        "nodelist": {},
        "hypervisor": dict.fromkeys(checks.get("hypervisor") or []),
        "version": [PROTOCOL_VERSION, corral.__version__],
        "time": list(split_time(now)),
        "node-setup": [],
    }
    return {key: value for key, value in answers.items() if key in checks}
