"""Failover and migration of drbd instances through the processor: to the secondary only,
the consistency checks, the node calls in Ganeti's order, the swapped roles afterwards,
a failed migration reverted, the cleanup, and the node units' jobs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from corral.cmdlib import (  # noqa: F401  (registers the units)
    instance_failover,
    instance_migrate,
    node_evacuate,
    node_migrate,
)
from corral.cmdlib.common.instances.drbd import DrbdLogicalId, node_drbd_rows
from corral.errors import ErrorCode, OpExecError
from corral.locking.levels import Level
from corral.objects import AdminState, Instance
from corral.opcodes.mobility import (
    OpInstanceFailover,
    OpInstanceMigrate,
    OpNodeEvacuate,
    OpNodeMigrate,
)
from corral.rpc.payloads import DeviceStatus, DrbdSyncProgress
from tests.support.evacuation import moves_of
from tests.support.lu_harness import LuHarness, MakeHarness, expect_failure, requested
from tests.unit.cmdlib.test_cmdlib_instance_drbd import NAME, create, harness

DRBD_CALLS = frozenset({
    "blockdev_find", "instance_shutdown", "blockdev_shutdown", "blockdev_assemble",
    "instance_start", "blockdev_close", "blockdev_open", "drbd_disconnect_net",
    "drbd_attach_net", "drbd_wait_sync", "migration_info", "accept_instance",
    "instance_migrate", "instance_finalize_migration_src", "instance_finalize_migration_dst",
    "blockdev_create", "blockdev_remove", "instance_list"})
HEALTHY = DeviceStatus(path="/dev/drbd0", is_degraded=False, ldisk_status=1)
DEGRADED = DeviceStatus(path="/dev/drbd0", is_degraded=True, ldisk_status=1)


def started(make_harness: MakeHarness, *, start: bool = True) -> LuHarness:
    """db1 on node1 (primary) and node2 (secondary), its disks in sync."""
    h = harness(make_harness)
    h.run_sync(create(start=start))
    h.rpc.script("blockdev_find", payload=HEALTHY)
    h.rpc.reset()
    h.feedback.clear()
    return h


def inst(h: LuHarness) -> Instance:
    found = h.data.instance_by_name(NAME)
    assert found is not None
    return found


def lid(h: LuHarness) -> DrbdLogicalId:
    found = DrbdLogicalId.of(h.data.disks[inst(h).disks[0]])
    assert found is not None
    return found


def phases(h: LuHarness) -> list[tuple[str, tuple[str, ...]]]:
    """The mobility calls in order, consecutive calls of one name merged (their nodes)."""
    merged: list[tuple[str, list[str]]] = []
    for call in h.rpc.calls:
        if call.name not in DRBD_CALLS:
            continue
        if merged and merged[-1][0] == call.name and call.node not in merged[-1][1]:
            merged[-1][1].append(call.node)
        else:
            merged.append((call.name, [call.node]))
    return [(name, tuple(sorted(nodes))) for name, nodes in merged]


def assert_swapped(h: LuHarness, before: DrbdLogicalId) -> None:
    after = lid(h)
    assert inst(h).primary_node == "node-node2"
    assert (after.primary, after.secondary) == ("node-node2", "node-node1")
    assert (after.primary_minor, after.secondary_minor) == (
        before.secondary_minor, before.primary_minor)
    assert (after.port, after.secret) == (before.port, before.secret)
    disk = h.data.disks[inst(h).disks[0]]
    assert disk.nodes == ("node-node2", "node-node1")
    assert [h.data.disks[u].nodes for u in disk.children] == [disk.nodes] * 2
    assert h.data.instance_secondary_nodes(inst(h)) == ["node-node1"]
    assert [row[4:] for row in node_drbd_rows(h.data, "node2")] == [["primary", "node1"]]
    assert [row[4:] for row in node_drbd_rows(h.data, "node1")] == [["secondary", "node2"]]
    h.assert_persisted()


def set_offline(h: LuHarness, node: str) -> None:
    current = h.data.nodes[f"node-{node}"]
    asyncio.run(h.writer.commit(current.evolve(h.clock.now(), offline=True)))


# --- failover ---------------------------------------------------------------------------

def test_failover_goes_to_the_secondary_and_swaps_the_roles(make_harness: MakeHarness) -> None:
    h = started(make_harness)
    before = lid(h)
    h.run_sync(OpInstanceFailover(instance_name=NAME))
    assert phases(h) == [
        ("blockdev_find", ("node2",)), ("instance_shutdown", ("node1",)),
        ("blockdev_shutdown", ("node1", "node2")), ("blockdev_assemble", ("node1", "node2")),
        ("instance_start", ("node2",))]
    assembled = [(c.node, c.args[2]) for c in h.rpc.calls_of("blockdev_assemble")]
    assert assembled == [("node1", False), ("node2", True)]
    assert_swapped(h, before)
    assert inst(h).disks_active
    for line in ("* checking disk consistency between source and target",
                 "* shutting down instance on source node",
                 "* activating the instance's disks on target node node2",
                 "* starting the instance on the target node node2"):
        assert line in h.feedback
    env = next(c.args[2] for c in h.rpc.calls_of("hooks_runner")
               if c.args[:2] == ("instance-failover", "pre"))
    assert (env["GANETI_OLD_SECONDARY"], env["GANETI_NEW_SECONDARY"]) == ("node2", "node1")


def test_failover_of_a_stopped_instance_only_swaps(make_harness: MakeHarness) -> None:
    h = started(make_harness, start=False)
    before = lid(h)
    h.run_sync(OpInstanceFailover(instance_name=NAME))
    assert phases(h) == []
    assert "* not checking disk consistency as instance is not running" in h.feedback
    assert_swapped(h, before)
    assert inst(h).admin_state is AdminState.DOWN


@pytest.mark.parametrize(("op", "verb"), [
    (OpInstanceFailover(instance_name=NAME, target_node="node3"), "failed over"),
    (OpInstanceMigrate(instance_name=NAME, target_node="node3"), "migrated"),
    (OpInstanceMigrate(instance_name=NAME, iallocator="corral"), "migrated"),
])
def test_other_targets_are_refused(make_harness: MakeHarness, op: Any, verb: str) -> None:
    h = started(make_harness)
    expect_failure(h, op, code=ErrorCode.INVAL,
                   match=f"Instances with disk types drbd cannot be {verb} to arbitrary nodes"
                         " (neither an iallocator nor a target node can be passed); the"
                         f" secondary node of instance {NAME} is node2")
    assert phases(h) == []


def test_the_secondary_can_be_named(make_harness: MakeHarness) -> None:
    h = started(make_harness)
    h.run_sync(OpInstanceFailover(instance_name=NAME, target_node="node2"))
    assert inst(h).primary_node == "node-node2"


def test_degraded_secondary_stops_the_failover(make_harness: MakeHarness) -> None:
    h = started(make_harness)
    h.rpc.script("blockdev_find", payload=DEGRADED)
    expect_failure(h, OpInstanceFailover(instance_name=NAME), OpExecError,
                   match="Disk 0 is degraded on target node, aborting failover")
    assert phases(h) == [("blockdev_find", ("node2",))]


def test_ignore_consistency_fails_over_from_a_dead_primary(make_harness: MakeHarness) -> None:
    h = started(make_harness)
    before = lid(h)
    set_offline(h, "node1")
    h.rpc.script("blockdev_find", payload=DEGRADED)
    h.run_sync(OpInstanceFailover(instance_name=NAME, ignore_consistency=True))
    # the offline node is not contacted: only the secondary's disks are activated
    assert phases(h) == [
        ("blockdev_find", ("node2",)), ("blockdev_shutdown", ("node2",)),
        ("blockdev_assemble", ("node2",)), ("instance_start", ("node2",))]
    assert h.rpc.calls_of("blockdev_assemble")[0].args[2] is True
    assert "Node node1 is offline, ignoring degraded disk 0 on target node node2" in h.feedback
    assert any(line.startswith("WARNING: Node node1 is offline") for line in h.feedback)
    assert_swapped(h, before)


def test_a_dead_secondary_failing_assembly_is_only_a_warning(
        make_harness: MakeHarness) -> None:
    h = started(make_harness)
    h.rpc.script("blockdev_assemble", "node1", fail="connection refused")
    h.run_sync(OpInstanceFailover(instance_name=NAME, ignore_consistency=True))
    assert inst(h).primary_node == "node-node2"
    assert any("Could not prepare block device disk/0 on node node1" in line
               for line in h.feedback)


# --- migration --------------------------------------------------------------------------

DUAL = [("blockdev_close", ("node2",)), ("drbd_disconnect_net", ("node1", "node2")),
        ("drbd_attach_net", ("node1", "node2")), ("drbd_wait_sync", ("node1", "node2")),
        ("blockdev_open", ("node1", "node2"))]
SINGLE = [("drbd_wait_sync", ("node1", "node2")), ("drbd_disconnect_net", ("node1", "node2")),
          ("drbd_attach_net", ("node1", "node2")), ("drbd_wait_sync", ("node1", "node2"))]


@pytest.mark.parametrize("live", [True, False])
def test_migration_runs_dual_primary_then_swaps(make_harness: MakeHarness, live: bool) -> None:
    h = started(make_harness)
    before = lid(h)
    h.run_sync(OpInstanceMigrate(instance_name=NAME, live=live))
    assert phases(h) == [
        ("blockdev_find", ("node2",)), ("migration_info", ("node1",)), *DUAL,
        ("accept_instance", ("node2",)), ("instance_migrate", ("node1",)),
        ("instance_finalize_migration_src", ("node1",)),
        ("instance_finalize_migration_dst", ("node2",)),
        ("blockdev_close", ("node1",)), *SINGLE]
    assert [c.args[1] for c in h.rpc.calls_of("drbd_attach_net")] == [True, True, False, False]
    assert [c.args[2] for c in h.rpc.calls_of("blockdev_open")] == [False, False]
    assert h.rpc.calls_of("accept_instance")[0].args[3] is False, "no disk copy"
    assert [c.args[3] for c in h.rpc.calls_of("instance_migrate")] == [live]
    # each node gets its own side of the disk
    for call in h.rpc.calls_of("drbd_attach_net"):
        side = call.args[0][0].dynamic_params
        minor = before.primary_minor if call.node == "node1" else before.secondary_minor
        assert side.local_minor == minor
    assert_swapped(h, before)
    for line in ("* changing into standalone mode", "* changing disks into dual-master mode",
                 "* wait until resync is done", "* opening instance disks on node node2 in"
                 " shared mode", "* closing instance disks on node node1",
                 "* changing disks into single-master mode", "* done"):
        assert line in h.feedback


def test_migration_waits_for_the_resync(make_harness: MakeHarness) -> None:
    h = started(make_harness)
    rounds = iter([DrbdSyncProgress(False, 42.0), DrbdSyncProgress(False, 42.0)])
    h.rpc.script("drbd_wait_sync",
                 fn=lambda node, args: next(rounds, DrbdSyncProgress(True, 100.0)))
    h.run_sync(OpInstanceMigrate(instance_name=NAME))
    assert "   - progress: 42.0%" in h.feedback
    assert len(h.rpc.calls_of("drbd_wait_sync")) == 2 + 2 + 2 + 2


def test_degraded_target_refuses_the_migration(make_harness: MakeHarness) -> None:
    h = started(make_harness)
    h.rpc.script("blockdev_find", payload=DEGRADED)
    expect_failure(h, OpInstanceMigrate(instance_name=NAME), OpExecError,
                   match="Disk 0 is degraded or not fully synchronized on target node,"
                         " aborting migration")
    assert phases(h) == [("blockdev_find", ("node2",))]


def test_failed_migration_goes_back_to_single_primary(make_harness: MakeHarness) -> None:
    h = started(make_harness)
    before = lid(h)
    h.rpc.script("instance_migrate", fail="connection refused")
    expect_failure(h, OpInstanceMigrate(instance_name=NAME), OpExecError,
                   match=f"Could not migrate instance {NAME}")
    assert phases(h)[-7:] == [
        ("instance_migrate", ("node1",)),
        ("instance_finalize_migration_dst", ("node2",)),
        ("instance_finalize_migration_src", ("node1",)),
        ("blockdev_close", ("node2",)), ("drbd_disconnect_net", ("node1", "node2")),
        ("drbd_attach_net", ("node1", "node2")), ("drbd_wait_sync", ("node1", "node2"))]
    assert [c.args[1] for c in h.rpc.calls_of("drbd_attach_net")][-2:] == [False, False]
    assert h.rpc.calls_of("blockdev_shutdown") == [], "the secondary keeps its half"
    assert lid(h) == before


def test_failed_dual_primary_switch_aborts_before_the_hypervisor(
        make_harness: MakeHarness) -> None:
    h = started(make_harness)
    h.rpc.script("drbd_attach_net", "node2", fail="Timeout in disk reconnecting")
    expect_failure(h, OpInstanceMigrate(instance_name=NAME), OpExecError,
                   match="Cannot change disks config on node node2: ")
    assert h.rpc.calls_of("instance_migrate") == []
    assert any("Migration failed and I can't reconnect the drives" in line
               for line in h.feedback)


def test_cleanup_after_the_guest_reached_the_secondary(make_harness: MakeHarness) -> None:
    h = started(make_harness)
    before = lid(h)
    h.rpc.script("instance_list", "node2", payload=[NAME])
    h.run_sync(OpInstanceMigrate(instance_name=NAME, cleanup=True))
    assert h.rpc.nodes_called("instance_list") == ["node1", "node2"]
    assert phases(h)[-5:] == [("blockdev_close", ("node1",)), *SINGLE]
    assert "* instance running on secondary node (node2), updating config" in h.feedback
    assert_swapped(h, before)


def test_cleanup_when_the_guest_stayed(make_harness: MakeHarness) -> None:
    h = started(make_harness)
    before = lid(h)
    h.rpc.script("instance_list", "node1", payload=[NAME])
    h.run_sync(OpInstanceMigrate(instance_name=NAME, cleanup=True))
    assert phases(h)[-5:] == [("blockdev_close", ("node2",)), *SINGLE]
    assert lid(h) == before


# --- node units -------------------------------------------------------------------------

def test_node_migrate_sends_drbd_instances_to_their_secondary(
        make_harness: MakeHarness) -> None:
    h = started(make_harness)
    result = h.run_sync(OpNodeMigrate(node_name="node1", iallocator="corral"))
    [job] = result["jobs"]
    assert moves_of(result) == [("OP_INSTANCE_MIGRATE", NAME, "node2")]
    assert job[0]["iallocator"] is None


def test_node_evacuate_of_primaries_uses_the_secondary(make_harness: MakeHarness) -> None:
    h = started(make_harness)
    result = h.run_sync(OpNodeEvacuate(node_name="node1", mode="primary-only",
                                       iallocator="corral"))
    assert moves_of(result) == [("OP_INSTANCE_MIGRATE", NAME, "node2")]


def test_node_evacuate_fails_when_the_secondary_cannot_take_it(
        make_harness: MakeHarness) -> None:
    h = started(make_harness)
    current = h.data.nodes["node-node2"]
    asyncio.run(h.writer.commit(current.evolve(h.clock.now(), drained=True)))
    with pytest.raises(OpExecError, match=f"Unable to evacuate instances {NAME} \\(Its"
                                          " secondary node node2 cannot take it"):
        h.run_sync(OpNodeEvacuate(node_name="node1", mode="primary-only",
                                  iallocator="corral"))


def test_evacuating_all_migrates_to_the_secondary_then_replaces_it(
        make_harness: MakeHarness) -> None:
    h = started(make_harness)
    result = h.run_sync(OpNodeEvacuate(node_name="node1", mode="all", iallocator="corral"))
    [[migrate, replace]] = result["jobs"]
    assert (migrate["OP_ID"], migrate["target_node"]) == ("OP_INSTANCE_MIGRATE", "node2")
    assert (replace["OP_ID"], replace["mode"], replace["remote_node"]) == (
        "OP_INSTANCE_REPLACE_DISKS", "replace_new_secondary", "node3")


def test_an_offline_secondary_cannot_take_the_instance(make_harness: MakeHarness) -> None:
    h = started(make_harness)
    set_offline(h, "node2")
    for op in (OpInstanceMigrate(instance_name=NAME), OpInstanceFailover(instance_name=NAME)):
        expect_failure(h, op, code=ErrorCode.STATE, match="Can't use offline node: node2")
    assert phases(h) == []


def test_a_stopped_instance_migrates_by_failover_when_allowed(
        make_harness: MakeHarness) -> None:
    h = started(make_harness, start=False)
    before = lid(h)
    expect_failure(h, OpInstanceMigrate(instance_name=NAME), code=ErrorCode.STATE,
                   match="Can't migrate, please use failover")
    h.run_sync(OpInstanceMigrate(instance_name=NAME, allow_failover=True))
    assert_swapped(h, before)
    assert h.rpc.calls_of("drbd_attach_net") == []


def test_migration_hooks_name_the_secondaries(make_harness: MakeHarness) -> None:
    h = started(make_harness)
    h.run_sync(OpInstanceMigrate(instance_name=NAME))
    env = next(c.args[2] for c in h.rpc.calls_of("hooks_runner")
               if c.args[:2] == ("instance-migrate", "pre"))
    assert (env["GANETI_OLD_PRIMARY"], env["GANETI_NEW_PRIMARY"]) == ("node1", "node2")
    assert (env["GANETI_OLD_SECONDARY"], env["GANETI_NEW_SECONDARY"]) == ("node2", "node1")
    hook_nodes = {c.node for c in h.rpc.calls_of("hooks_runner")}
    assert "node3" not in hook_nodes


def test_only_the_two_nodes_are_locked(make_harness: MakeHarness) -> None:
    h = started(make_harness)
    lu = instance_migrate.LUInstanceMigrate(h.ctx, OpInstanceMigrate(instance_name=NAME),
                                            lambda _: None)
    lu.check_arguments()
    lu.expand_names()
    assert requested(lu.declare_locks(), Level.NODE).names == frozenset({"node1", "node2"})


def test_a_silent_source_stops_the_migration_before_the_disks_change(
        make_harness: MakeHarness) -> None:
    h = started(make_harness)
    h.rpc.script("migration_info", "node1", fail="connection refused")
    expect_failure(h, OpInstanceMigrate(instance_name=NAME), OpExecError,
                   match="failed fetching source migration information from node1")
    assert h.rpc.calls_of("blockdev_close") == []
    assert h.rpc.calls_of("drbd_disconnect_net") == []
