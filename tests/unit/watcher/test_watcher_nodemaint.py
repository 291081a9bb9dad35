"""Node maintenance: what runs on an offline node that still answers is stopped."""

from __future__ import annotations

import asyncio
from typing import Any

from corral.rpc.calls import CALLS
from corral.rpc.client import NodeTarget
from corral.rpc.results import NodeResult, typed
from corral.watcher.nodemaint import FORCED_STOP, stop_leftovers


class FakeRpc:
    def __init__(self, running: dict[str, dict[str, Any]], refuse: frozenset[str] = frozenset()
                 ) -> None:
        self.running = running
        self.refuse = refuse
        self.calls: list[tuple[str, str, tuple[Any, ...]]] = []

    async def call_single(self, name: str, target: NodeTarget, *args: Any,
                          timeout: float | None = None) -> NodeResult[Any]:
        self.calls.append((name, target.name, args))
        if target.name in self.refuse:
            return NodeResult.failure(target.name, name, "Connection refused")
        payload = self.running.get(target.name, {}) if name == "all_instances_info" else None
        return typed(NodeResult(target.name, name, payload), CALLS[name].returns)


def test_instances_on_reachable_offline_nodes_are_forced_off() -> None:
    rpc = FakeRpc({"node3": {"web": {"state": "running", "hypervisor": "kvm"},
                             "db": {"state": "running", "hypervisor": "chroot"}}},
                  refuse=frozenset({"node4"}))
    targets = [NodeTarget("node3", "10.0.0.3", 1811), NodeTarget("node4", "10.0.0.4", 1811)]
    stopped = asyncio.run(stop_leftovers(rpc, targets, ["kvm", "chroot"]))
    assert stopped == ["node3/db", "node3/web"]
    shutdowns = [(node, args) for name, node, args in rpc.calls if name == "instance_shutdown"]
    assert [(node, a[0].name, a[0].instance.hypervisor, a[1]) for node, a in shutdowns] == [
        ("node3", "db", "chroot", FORCED_STOP), ("node3", "web", "kvm", FORCED_STOP)]
    assert shutdowns[0][1][2][0][0] == "gnt:watcher"
    assert ("all_instances_info", "node4", (["kvm", "chroot"], {})) in rpc.calls


def test_nothing_running_means_nothing_stopped() -> None:
    rpc = FakeRpc({})
    assert asyncio.run(stop_leftovers(rpc, [NodeTarget("node3", "10.0.0.3")], ["fake"])) == []
    assert [c[0] for c in rpc.calls] == ["all_instances_info"]
