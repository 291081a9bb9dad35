"""Instance failover through the processor: stop, move, start; refusals and failures."""

from __future__ import annotations

from typing import Any

import pytest

from corral.cmdlib import instance_failover  # noqa: F401  (registers the unit)
from corral.errors import ErrorCode, OpExecError
from corral.objects import AdminState, Instance
from corral.objects.instance import DiskTemplate
from corral.opcodes.mobility import OpInstanceFailover
from corral.rpc.payloads import NodeInfo
from tests.support.config import ConfigBuilder, instance_cluster, instance_with_disks
from tests.support.lu_harness import LuHarness, MakeHarness, expect_failure

STEPS = ("instance_shutdown", "blockdev_shutdown", "blockdev_assemble", "instance_start")


def cluster(template: DiskTemplate = DiskTemplate.SHAREDFILE, **inst: Any) -> ConfigBuilder:
    b = instance_cluster(nodes=3)
    inst.setdefault("admin_state", AdminState.UP)
    inst.setdefault("disks_active", inst["admin_state"] is AdminState.UP)
    instance_with_disks(b, "vm1", b.data.nodes["node-node2"], template=template, **inst)
    return b


def state(h: LuHarness) -> Instance:
    return h.data.instances["inst-vm1"]


def steps(h: LuHarness) -> list[tuple[str, str]]:
    return [(c.name, c.node) for c in h.rpc.calls if c.name in STEPS]


def failover(**kw: Any) -> OpInstanceFailover:
    kw.setdefault("target_node", "node3")
    return OpInstanceFailover(instance_name="vm1", **kw)


def test_failover_stops_moves_and_starts(make_harness: MakeHarness) -> None:
    h = make_harness(cluster())
    h.run_sync(failover(shutdown_timeout=30))
    assert steps(h) == [("instance_shutdown", "node2"), ("blockdev_shutdown", "node2"),
                        ("blockdev_assemble", "node3"), ("instance_start", "node3")]
    assert h.rpc.calls_of("instance_shutdown")[0].args[1] == 30.0
    assert state(h).primary_node == "node-node3"
    assert h.data.disks["disk-vm1-0"].nodes == ("node-node3",)
    assert state(h).disks_active
    for line in ("Failover instance vm1", "* shutting down instance on source node",
                 "* deactivating the instance's disks on source node",
                 "* activating the instance's disks on target node node3",
                 "* starting the instance on the target node node3"):
        assert line in h.feedback
    env = next(c.args[2] for c in h.rpc.calls_of("hooks_runner")
               if c.args[:2] == ("instance-failover", "pre"))
    assert env["GANETI_OLD_PRIMARY"] == "node2"
    assert env["GANETI_NEW_PRIMARY"] == "node3"
    assert env["GANETI_SHUTDOWN_TIMEOUT"] == "30"
    assert env["GANETI_IGNORE_CONSISTENCY"] == "False"
    assert env["GANETI_FAILOVER_CLEANUP"] == "False"
    h.assert_persisted()


def test_stopped_instance_only_changes_primary(make_harness: MakeHarness) -> None:
    h = make_harness(cluster(admin_state=AdminState.DOWN))
    h.rpc.script("node_info", payload=NodeInfo(memory_total=64, memory_free=0))
    h.run_sync(failover())
    assert steps(h) == []
    assert state(h).primary_node == "node-node3"
    assert state(h).admin_state is AdminState.DOWN


def test_node_local_disks_are_refused(make_harness: MakeHarness) -> None:
    for template in (DiskTemplate.FILE, DiskTemplate.PLAIN):
        h = make_harness(cluster(template))
        expect_failure(h, failover(), code=ErrorCode.STATE,
                       match=f"Instance's disk layout '{template.value}' does not allow"
                             " failover; use 'gnt-instance move'")


@pytest.mark.parametrize(
    ("flags", "match"),
    [({"offline": True}, "Can't use offline node: node3"),
     ({"drained": True}, "Can't use drained node node3")],
)
def test_unusable_target(make_harness: MakeHarness, flags: dict[str, Any], match: str) -> None:
    b = cluster()
    b.data.put(b.data.nodes["node-node3"].evolve(0.0, **flags))
    h = make_harness(b)
    expect_failure(h, failover(), code=ErrorCode.STATE, match=match)


def test_same_node_and_memory(make_harness: MakeHarness) -> None:
    h = make_harness(cluster())
    expect_failure(h, failover(target_node="node2"), code=ErrorCode.STATE,
                   match="Cannot fail over instance vm1 to its primary (node2)")
    h = make_harness(cluster(beparams={"minmem": 4096, "maxmem": 4096}))
    expect_failure(h, failover(), code=ErrorCode.NORES, match="Not enough memory on node node3")


def test_shutdown_failure_stops_unless_ignore_consistency(make_harness: MakeHarness) -> None:
    h = make_harness(cluster())
    h.rpc.script("instance_shutdown", fail="Connection refused")
    with pytest.raises(OpExecError, match="Could not shutdown instance vm1 on node node2:"
                                          " Connection refused"):
        h.run_sync(failover())
    assert state(h).primary_node == "node-node2"
    assert h.rpc.calls_of("instance_start") == []
    h = make_harness(cluster())
    h.rpc.script("instance_shutdown", fail="Connection refused")
    h.run_sync(failover(ignore_consistency=True))
    assert any("proceeding anyway; please make sure node node2 is down" in line
               for line in h.feedback)
    assert state(h).primary_node == "node-node3"
    assert [c.node for c in h.rpc.calls_of("instance_start")] == ["node3"]


def test_offline_primary_is_skipped_with_a_warning(make_harness: MakeHarness) -> None:
    b = cluster()
    b.data.put(b.data.nodes["node-node2"].evolve(0.0, offline=True))
    h = make_harness(b)
    h.run_sync(failover())
    assert h.rpc.calls_of("instance_shutdown") == []
    assert any(line.startswith("WARNING: Node node2 is offline") for line in h.feedback)
    assert state(h).primary_node == "node-node3"


def test_start_failure_leaves_the_instance_on_the_new_node_stopped(
        make_harness: MakeHarness) -> None:
    h = make_harness(cluster())
    h.rpc.script("instance_start", fail="no kernel")
    with pytest.raises(OpExecError, match="Could not start instance vm1 on node node3: no"
                                          " kernel; it is now on node node3, stopped"):
        h.run_sync(failover())
    assert state(h).primary_node == "node-node3"
    assert not state(h).disks_active
    assert steps(h)[-1] == ("blockdev_shutdown", "node3")
    h.assert_persisted()


def test_iallocator_chooses_the_target(make_harness: MakeHarness) -> None:
    h = make_harness(cluster())
    h.run_sync(failover(target_node=None))
    assert state(h).primary_node in ("node-node1", "node-node3")
    assert any(line.startswith("Selected nodes for instance vm1 via iallocator corral")
               for line in h.feedback)
