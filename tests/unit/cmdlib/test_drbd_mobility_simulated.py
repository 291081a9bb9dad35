"""The master's drbd failover and migration driving the real node handlers over the DRBD
and LVM simulators (node1 and node2 of one state file): the roles the simulated kernel
ends with, never a split brain, never two primaries outside dual-primary mode."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from corral import serde
from corral.backend import blockdev, mirror_rpc  # noqa: F401  (registers the handlers)
from corral.backend.context import NodeContext
from corral.backend.handlers import HANDLERS
from corral.backend.server import decode_args
from corral.clock import Clock
from corral.errors import CorralError, OpExecError
from corral.opcodes.mobility import OpInstanceFailover, OpInstanceMigrate
from corral.rpc.calls import CALLS
from corral.rpc.nodes import NodeRef
from corral.rpc.results import NodeResult, typed
from corral.testing.drbd_model import PRIMARY, SECONDARY, crash, locked_state
from tests.support.drbd import DrbdNodes, node_context
from tests.support.fake_rpc import FakeNodeRpc, RecordedCall
from tests.support.lu_harness import LuHarness, MakeHarness, expect_failure
from tests.unit.cmdlib.test_cmdlib_instance_drbd import NAME, create, harness, lvm_free
from tests.unit.cmdlib.test_drbd_mobility import lid, set_offline

ROUTED = frozenset({
    "blockdev_create", "blockdev_remove", "blockdev_assemble", "blockdev_shutdown",
    "blockdev_find", "blockdev_close", "blockdev_open", "drbd_disconnect_net",
    "drbd_attach_net", "drbd_wait_sync"})
"""Calls answered by the real handlers; the others (hypervisor, hooks) as FakeNodeRpc."""


class SimulatedNodes(FakeNodeRpc):
    """Storage calls run the node handlers of node1 and node2 in process."""

    def __init__(self, clock: Clock, contexts: dict[str, NodeContext]) -> None:
        super().__init__(clock)
        self.contexts = contexts

    async def send(self, name: str, nodes: Sequence[NodeRef], args: tuple[Any, ...],
                   timeout: float | None) -> dict[str, NodeResult[Any]]:
        if name not in ROUTED:
            return await super().send(name, nodes, args, timeout)
        return {node.name: await self._handle(name, node, args) for node in nodes}

    async def _handle(self, name: str, node: NodeRef, args: tuple[Any, ...]) -> NodeResult[Any]:
        if node.offline:
            return NodeResult.failure(node.name, name, "Node is marked offline", offline=True)
        self.calls.append(RecordedCall(name, node.name, args))
        kwargs = decode_args(CALLS[name], serde.dumps(list(args)))
        try:
            payload = await HANDLERS[name](self.contexts[node.name], **kwargs)
        except CorralError as err:
            return NodeResult.failure(node.name, name, str(err))
        answer = NodeResult(node=node.name, call=name, payload=serde.loads(serde.dumps(payload)))
        return typed(answer, CALLS[name].returns)


@pytest.fixture
def sim(make_harness: MakeHarness, tmp_path: Path) -> tuple[LuHarness, DrbdNodes]:
    """db1 running on node1 (primary) and node2, created through the handlers, in sync."""
    nodes = DrbdNodes(tmp_path / "sim")
    h = harness(make_harness)
    rpc = SimulatedNodes(h.clock, {n: node_context(nodes, n) for n in ("node1", "node2")})
    rpc.script("node_info", fn=lvm_free(10_000))
    h.rpc = h.ctx.rpc = rpc
    h.run_sync(create(start=True, disks=[{"size": 32}]))  # small: the simulator copies data
    nodes.settle()
    assert kernel(nodes, h) == {"node1": (PRIMARY, "Connected"), "node2": (SECONDARY,
                                                                         "Connected")}
    return h, nodes


def kernel(nodes: DrbdNodes, h: LuHarness) -> dict[str, tuple[str, str]]:
    """What the simulated kernels hold for the disk: node → (role, connection); checks
    that no split brain happened and that two primaries are in dual-primary mode."""
    ids = lid(h)
    minor = {"node-node1": ids.primary_minor, "node-node2": ids.secondary_minor}
    found: dict[str, tuple[str, str]] = {}
    nodes.nodes["node1"].drbd.proc_text()  # settles the shared state
    with locked_state(nodes.root / "drbd-state.json") as state:
        for uuid, number in ((ids.primary, minor[ids.primary]),
                             (ids.secondary, minor[ids.secondary])):
            name = uuid.removeprefix("node-")
            side = state.minors(name).get(number)
            if side is None:
                continue
            assert not side.split_brain, (name, side)
            found[name] = (side.role, side.conn)
            if side.role == PRIMARY and side.net.get("allow-two-primaries") != "yes":
                others = [m for n, ms in state.nodes.items() if n != name for m in ms.values()
                          if m.local == side.remote and m.role == PRIMARY]
                assert not others, "two primaries without dual-primary mode"
    return found


def test_migration_leaves_one_primary_on_the_old_secondary(
        sim: tuple[LuHarness, DrbdNodes]) -> None:
    h, nodes = sim
    h.run_sync(OpInstanceMigrate(instance_name=NAME))
    assert kernel(nodes, h) == {"node2": (PRIMARY, "Connected"),
                                "node1": (SECONDARY, "Connected")}
    with locked_state(nodes.root / "drbd-state.json") as state:
        assert all("allow-two-primaries" not in m.net
                   for ms in state.nodes.values() for m in ms.values())
    h.run_sync(OpInstanceFailover(instance_name=NAME))
    assert kernel(nodes, h) == {"node1": (PRIMARY, "Connected"),
                                "node2": (SECONDARY, "Connected")}


def test_failed_migration_keeps_the_source_primary(sim: tuple[LuHarness, DrbdNodes]) -> None:
    h, nodes = sim
    h.rpc.script("instance_migrate", fail="connection refused")
    expect_failure(h, OpInstanceMigrate(instance_name=NAME), OpExecError,
                   match="Could not migrate instance")
    assert kernel(nodes, h) == {"node1": (PRIMARY, "Connected"),
                                "node2": (SECONDARY, "Connected")}


def test_a_crashed_primary_is_replaced_by_its_secondary(
        sim: tuple[LuHarness, DrbdNodes]) -> None:
    h, nodes = sim
    with locked_state(nodes.root / "drbd-state.json") as state:
        crash(state, "node1")
    set_offline(h, "node1")
    h.run_sync(OpInstanceFailover(instance_name=NAME, ignore_consistency=True))
    assert kernel(nodes, h) == {"node2": (PRIMARY, "WFConnection")}
    [found] = h.rpc.calls_of("blockdev_find")
    assert found.node == "node2"
    assert "Node node1 is offline, ignoring degraded disk 0 on target node node2" in h.feedback
