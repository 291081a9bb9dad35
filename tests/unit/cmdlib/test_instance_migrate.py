"""Instance migration through the processor: refusals, the phases, failures at each
phase, live storage migration of node-local disks, cleanup and the lock plan."""

from __future__ import annotations

from typing import Any

import pytest

from corral.cmdlib.common.instances.migration import (
    LOG_INTERVAL,
    POLL_INTERVAL,
    SILENCE_LIMIT,
    progress_line,
)
from corral.cmdlib.instance_migrate import LUInstanceMigrate
from corral.errors import ConfigurationError, ErrorCode, OpExecError, OpPrereqError
from corral.locking.levels import Level
from corral.objects import AdminState, Instance, Node
from corral.objects.instance import DiskTemplate
from corral.opcodes.mobility import OpInstanceMigrate
from corral.rpc.payloads import MigrationProgress, NodeInfo, StorageSpace
from corral.rpc.results import NodeResult
from tests.support.config import ConfigBuilder, instance_cluster, instance_with_disks
from tests.support.lu_harness import LuHarness, MakeHarness, expect_failure, requested

RUNNING = {"state": "running", "memory": 512, "vcpus": 1, "time": 1.0}
PHASES = ("instance_migratable", "migration_info", "instance_info", "blockdev_create",
          "accept_instance", "instance_migrate", "instance_get_migration_status",
          "instance_finalize_migration_src", "instance_finalize_migration_dst",
          "blockdev_remove", "blockdev_shutdown", "instance_balloon_memory")


def cluster(template: DiskTemplate = DiskTemplate.SHAREDFILE, nodes: int = 3,
            **inst: Any) -> ConfigBuilder:
    b = instance_cluster(nodes=nodes, enabled_hypervisors=("fake", "kvm", "chroot"))
    inst.setdefault("admin_state", AdminState.UP)
    instance_with_disks(b, "vm1", b.data.nodes["node-node2"], template=template, **inst)
    return b


def harness(make_harness: MakeHarness, b: ConfigBuilder) -> LuHarness:
    h = make_harness(b)
    h.rpc.script("instance_info", payload=RUNNING)
    return h


def state(h: LuHarness) -> Instance:
    return h.data.instances["inst-vm1"]


def phases(h: LuHarness) -> list[tuple[str, str]]:
    return [(c.name, c.node) for c in h.rpc.calls if c.name in PHASES]


def set_node(b: ConfigBuilder, name: str, **changes: Any) -> Node:
    node = b.data.nodes[f"node-{name}"].evolve(0.0, **changes)
    b.data.put(node)
    return node


def on_source(h: LuHarness) -> None:
    """The configuration still names node2 for the instance and its disks."""
    assert state(h).primary_node == "node-node2"
    assert all(d.nodes == ("node-node2",) for d in h.data.disks.values())
    h.assert_persisted()


def migrate(**kw: Any) -> OpInstanceMigrate:
    kw.setdefault("target_node", "node3")
    return OpInstanceMigrate(instance_name="vm1", **kw)


# --- success ------------------------------------------------------------------------

def test_migration_runs_the_phases_in_order_and_commits_the_target(
        make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster())
    h.run_sync(migrate())
    assert phases(h) == [
        ("instance_migratable", "node2"), ("instance_info", "node2"),
        ("migration_info", "node2"), ("accept_instance", "node3"), ("instance_migrate", "node2"),
        ("instance_get_migration_status", "node2"),
        ("instance_finalize_migration_src", "node2"),
        ("instance_finalize_migration_dst", "node3"), ("blockdev_shutdown", "node2"),
    ]
    assert state(h).primary_node == "node-node3"
    assert h.data.disks["disk-vm1-0"].nodes == ("node-node3",)
    accept = h.rpc.calls_of("accept_instance")[0]
    assert accept.args[2] == "192.0.2.3"  # the target's address
    assert accept.args[3] is False  # shared storage: no disk copy
    assert h.rpc.calls_of("instance_migrate")[0].args[3] is True  # live by default
    for line in ("Migrating instance vm1", "* preparing node3 to accept the instance",
                 "* migrating instance to node3", "* memory transfer complete", "* done"):
        assert line in h.feedback
    h.assert_persisted()


def test_hooks_name_old_and_new_primary(make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster())
    h.run_sync(migrate(mode="non-live"))
    pre = [c for c in h.rpc.calls_of("hooks_runner") if c.args[:2] == ("instance-migrate", "pre")]
    post = [c for c in h.rpc.calls_of("hooks_runner")
            if c.args[:2] == ("instance-migrate", "post")]
    assert sorted(c.node for c in pre) == ["node1", "node2", "node3"]
    assert sorted(c.node for c in post) == ["node1", "node2", "node3"]
    env = pre[0].args[2]
    assert env["GANETI_OLD_PRIMARY"] == "node2"
    assert env["GANETI_NEW_PRIMARY"] == "node3"
    assert env["GANETI_MIGRATE_LIVE"] == "False"
    assert env["GANETI_MIGRATE_CLEANUP"] == "False"
    assert env["GANETI_OLD_SECONDARY"] == ""
    assert post[0].args[2]["GANETI_OLD_PRIMARY"] == "node2"
    assert h.rpc.calls_of("instance_migrate")[0].args[3] is False


def test_hypervisor_migration_mode_decides_when_not_told(make_harness: MakeHarness) -> None:
    def build() -> ConfigBuilder:
        b = cluster(hypervisor="kvm")  # migration_mode is cluster-global, as in Ganeti
        b.set_cluster(hvparams={"kvm": {"migration_mode": "non-live"}})
        return b

    h = harness(make_harness, build())
    h.run_sync(migrate())
    assert h.rpc.calls_of("instance_migrate")[0].args[3] is False
    h2 = harness(make_harness, build())
    h2.run_sync(migrate(live=True))
    assert h2.rpc.calls_of("instance_migrate")[0].args[3] is True


def test_progress_is_logged_every_half_second(make_harness: MakeHarness) -> None:
    """Polls every 0.1 s (the end is noticed soon), a progress line every 0.5 s."""
    h = harness(make_harness, cluster())
    first = MigrationProgress(status="active", phase="memory", transferred_ram=115,
                              total_ram=256, remaining_ram=141, rate=32.0, expected_downtime=30)
    later = MigrationProgress(status="active", phase="memory", transferred_ram=200,
                              total_ram=256, remaining_ram=56, rate=32.0, expected_downtime=30)
    answers = [first, *[later] * 6,
               MigrationProgress(status="completed", transferred_ram=256, total_ram=256)]
    h.rpc.script("instance_get_migration_status", fn=lambda node, args: answers.pop(0))
    h.run_sync(migrate())
    assert ("* memory transfer progress: 44.92 % (115 MiB transferred, 141 of 256 MiB"
            " remaining, 32.0 MiB/s, expected downtime 30 ms)") in h.feedback
    assert sum(line.startswith("* memory transfer progress") for line in h.feedback) == 2
    assert state(h).primary_node == "node-node3"


def test_disk_phase_line() -> None:
    line = progress_line(MigrationProgress(status="active", phase="disks",
                                           disk_transferred=128, disk_total=1024, rate=64.0))
    assert line == "* disk copy progress: 12.50 % (128/1024 MiB, 64.0 MiB/s)"
    first = progress_line(MigrationProgress(status="active", phase="disks",
                                            disk_transferred=54, disk_total=128))
    assert first == "* disk copy progress: 42.19 % (54/128 MiB)"  # no rate measured yet


def test_guest_is_ballooned_down_to_fit_unless_forbidden(make_harness: MakeHarness) -> None:
    b = cluster(beparams={"minmem": 256, "maxmem": 1024})
    h = harness(make_harness, b)
    h.rpc.script("instance_info", payload={**RUNNING, "memory": 1024})
    h.rpc.script("node_info", payload=NodeInfo(memory_total=4096, memory_free=700))
    h.run_sync(migrate())
    balloon = h.rpc.calls_of("instance_balloon_memory")
    assert [(c.node, c.args[1]) for c in balloon] == [("node2", 700)]
    h2 = harness(make_harness, cluster(beparams={"minmem": 256, "maxmem": 1024}))
    h2.rpc.script("instance_info", payload={**RUNNING, "memory": 1024})
    h2.rpc.script("node_info", payload=NodeInfo(memory_total=4096, memory_free=700))
    with pytest.raises(OpExecError, match="Memory ballooning not allowed"):
        h2.run_sync(migrate(allow_runtime_changes=False))
    assert h2.rpc.calls_of("migration_info") == []
    on_source(h2)


# --- refusals -----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("build", "op", "code", "match"),
    [
        pytest.param(lambda: cluster(admin_state=AdminState.DOWN), {}, ErrorCode.STATE,
                     "Can't migrate, please use failover: instance vm1 is marked down",
                     id="stopped"),
        pytest.param(cluster, {"target_node": "node2"}, ErrorCode.STATE,
                     "Cannot migrate instance vm1 to its primary (node2)", id="same-node"),
        pytest.param(cluster, {"target_node": "node9"}, ErrorCode.NOENT,
                     "Node 'node9' not known", id="unknown-node"),
        pytest.param(lambda: cluster(beparams={"minmem": 4096, "maxmem": 4096}), {},
                     ErrorCode.NORES, "Not enough memory on node node3 for migrating"
                     " instance vm1: needed 4096 MiB, available 2048 MiB", id="no-memory"),
        pytest.param(lambda: cluster(DiskTemplate.FILE), {"target_node": None},
                     ErrorCode.INVAL, "has node-local disks ('file'): give a target node"
                     " or an iallocator", id="file-without-target"),
        pytest.param(lambda: cluster(DiskTemplate.DRBD), {"target_node": None},
                     ErrorCode.STATE, "Instance vm1 uses drbd disks but has no secondary node",
                     id="drbd-without-secondary"),
        pytest.param(cluster, {"iallocator": "hail"}, ErrorCode.INVAL,
                     "Do not specify both, iallocator and node", id="both"),
    ],
)
def test_refusals(make_harness: MakeHarness, build: Any, op: dict[str, Any],
                  code: ErrorCode, match: str) -> None:
    h = harness(make_harness, build())
    expect_failure(h, migrate(**op), code=code, match=match)
    assert h.rpc.calls_of("accept_instance") == []


@pytest.mark.parametrize(
    ("flags", "match"),
    [({"offline": True}, "Can't use offline node: node3"),
     ({"drained": True}, "Can't use drained node node3"),
     ({"vm_capable": False}, "Can't use non-vm_capable node node3")],
)
def test_unusable_targets(make_harness: MakeHarness, flags: dict[str, Any],
                          match: str) -> None:
    b = cluster()
    set_node(b, "node3", **flags)
    h = harness(make_harness, b)
    expect_failure(h, migrate(), code=ErrorCode.STATE, match=match)


def test_hypervisor_not_enabled(make_harness: MakeHarness) -> None:
    b = cluster(hypervisor="kvm")
    b.set_cluster(enabled_hypervisors=("fake",))
    h = harness(make_harness, b)
    expect_failure(h, migrate(), code=ErrorCode.STATE,
                   match="Hypervisor 'kvm' of instance vm1 is not enabled in the cluster")


def test_hypervisor_that_cannot_migrate(make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster(hypervisor="chroot"))
    message = "the chroot hypervisor does not support migration; use failover or move instead"
    h.rpc.script("instance_migratable", fail=message)
    expect_failure(h, migrate(), code=ErrorCode.STATE,
                   match=f"Can't migrate, please use failover: {message}")


def test_allow_failover_fails_a_stopped_instance_over(make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster(admin_state=AdminState.DOWN))
    h.rpc.script("instance_info", payload=None)
    h.run_sync(migrate(allow_failover=True))
    assert "Instance is marked down or offline, fallback allowed, switching to failover" \
        in h.feedback
    assert state(h).primary_node == "node-node3"
    assert h.rpc.calls_of("instance_start") == []
    assert h.rpc.calls_of("accept_instance") == []


def test_allow_failover_when_the_hypervisor_cannot_migrate(make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster(hypervisor="chroot"))
    h.rpc.script("instance_migratable", fail="cannot migrate")
    h.run_sync(migrate(allow_failover=True))
    assert [c.node for c in h.rpc.calls_of("instance_shutdown")] == ["node2"]
    assert [c.node for c in h.rpc.calls_of("instance_start")] == ["node3"]
    assert state(h).primary_node == "node-node3"


# --- failures at each phase -----------------------------------------------------------

FAILURES = [
    ("migration_info", "node2", "Could not migrate instance vm1: failed fetching source"
     " migration information from node2: boom"),
    ("accept_instance", "node3", "the target node3 could not prepare to accept it: boom"),
    ("instance_migrate", "node2", "the source node2 could not start it: boom"),
    ("instance_finalize_migration_src", "node2", "finalization failed on the source node2"),
]


@pytest.mark.parametrize(("call", "node", "match"), FAILURES, ids=[f[0] for f in FAILURES])
def test_failure_before_the_switch_aborts_on_both_nodes(
        make_harness: MakeHarness, call: str, node: str, match: str) -> None:
    h = harness(make_harness, cluster())
    finalized: list[tuple[str, str, bool]] = []

    def failing(target: Node, args: tuple[Any, ...]) -> Any:
        if call == "instance_finalize_migration_src":
            finalized.append((call, target.name, args[1]))
            if args[1] is False:
                return None
        return NodeResult.failure(target.name, call, "boom")

    h.rpc.script(call, node, fn=failing)
    with pytest.raises(OpExecError, match=match) as err:
        h.run_sync(migrate())
    assert "it keeps running on node2" in str(err.value)
    aborts = [(c.name, c.node, c.args[-2] if c.name.endswith("_src") else c.args[-1])
              for c in h.rpc.calls if c.name.startswith("instance_finalize")]
    assert ("instance_finalize_migration_dst", "node3", False) in aborts
    assert ("instance_finalize_migration_src", "node2", False) in aborts
    assert ("instance_finalize_migration_dst", "node3", True) not in aborts
    assert "Migration failed, aborting" in h.feedback
    on_source(h)


def test_failed_status_aborts(make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster())
    h.rpc.script("instance_get_migration_status",
                 payload=MigrationProgress(status="failed", error="connection reset"))
    with pytest.raises(OpExecError, match="Could not migrate instance vm1: connection reset"):
        h.run_sync(migrate())
    on_source(h)


def test_a_source_that_stops_answering_is_given_up_after_three_seconds(
        make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster())
    h.rpc.script("instance_get_migration_status", fail="Connection refused")
    with pytest.raises(OpExecError, match="the source node2 stopped answering"):
        h.run_sync(migrate())
    polls = len(h.rpc.calls_of("instance_get_migration_status"))
    assert polls == 1 + round(SILENCE_LIMIT / POLL_INTERVAL)  # a poll every 0.1 s for 3 s
    warnings = sum("No migration status from node2" in line for line in h.feedback)
    assert 1 < warnings <= 1 + round(SILENCE_LIMIT / LOG_INTERVAL)  # not one per poll
    assert ("instance_finalize_migration_dst", "node3") in phases(h)
    on_source(h)


def test_target_failing_to_resume_after_the_switch_points_to_cleanup(
        make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster())
    h.rpc.script("instance_finalize_migration_dst", "node3",
                 fn=lambda node, args: NodeResult.failure(node.name, "x", "gone")
                 if args[2] else None)
    with pytest.raises(OpExecError, match="migrate --cleanup vm1"):
        h.run_sync(migrate())
    assert state(h).primary_node == "node-node3"
    h.assert_persisted()


# --- live storage migration ----------------------------------------------------------

@pytest.mark.parametrize("template", [DiskTemplate.FILE, DiskTemplate.PLAIN])
def test_node_local_disks_are_copied_then_the_old_ones_removed(
        make_harness: MakeHarness, template: DiskTemplate) -> None:
    h = harness(make_harness, cluster(template, sizes=(1024, 512)))
    space = [StorageSpace(type=kind, name=key, storage_size=10240, storage_free=8192)
             for kind, key in (("lvm-vg", "xenvg"), ("file", "/srv/corral/file-storage"))]
    h.rpc.script("node_info", payload=NodeInfo(memory_total=4096, memory_free=2048,
                                                storage=space))
    old = dict(h.data.disks)
    h.run_sync(migrate())
    created = h.rpc.calls_of("blockdev_create")
    assert [(c.node, c.args[0].logical_id, c.args[0].nodes) for c in created] == [
        ("node3", old[u].logical_id, ("node-node3",)) for u in ("disk-vm1-0", "disk-vm1-1")]
    assert h.rpc.calls_of("accept_instance")[0].args[3] is True
    removed = h.rpc.calls_of("blockdev_remove")
    assert [(c.node, c.args[0].logical_id) for c in removed] == [
        ("node2", old[u].logical_id) for u in ("disk-vm1-0", "disk-vm1-1")]
    assert state(h).primary_node == "node-node3"
    assert all(d.nodes == ("node-node3",) for d in h.data.disks.values())
    assert [d.logical_id for d in h.data.disks.values()] == [d.logical_id for d in old.values()]


@pytest.mark.parametrize("call", ["blockdev_create", "accept_instance", "instance_migrate"])
def test_failed_storage_migration_removes_the_target_disks_only(
        make_harness: MakeHarness, call: str) -> None:
    h = harness(make_harness, cluster(DiskTemplate.FILE, sizes=(1024, 512)))
    if call == "blockdev_create":  # the second disk fails: the first twin goes again
        h.rpc.script(call, "node3", fn=lambda node, args: NodeResult.failure(
            node.name, call, "no space") if args[0].iv_name == "disk/1" else None)
    else:
        h.rpc.script(call, fail="boom")
    with pytest.raises(OpExecError, match="keeps running on node2"):
        h.run_sync(migrate())
    removed = {(c.node, c.args[0].iv_name) for c in h.rpc.calls_of("blockdev_remove")}
    expected = {("node3", "disk/0")} if call == "blockdev_create" else {
        ("node3", "disk/0"), ("node3", "disk/1")}
    assert removed == expected
    on_source(h)


# --- cleanup ----------------------------------------------------------------------------

def listing(**where: list[str]) -> Any:
    return lambda node, args: where.get(node.name, [])


def test_cleanup_when_the_instance_runs_only_on_the_target(make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster())
    h.rpc.script("instance_list", fn=listing(node3=["vm1"]))
    h.run_sync(migrate(cleanup=True))
    assert "* instance running on secondary node (node3), updating config" in h.feedback
    assert state(h).primary_node == "node-node3"
    dst = h.rpc.calls_of("instance_finalize_migration_dst")
    assert [(c.node, c.args[2]) for c in dst] == [("node3", True)]


def test_cleanup_without_target_searches_the_group(make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster())
    h.rpc.script("instance_list", fn=listing(node1=["vm1"]))
    h.run_sync(migrate(cleanup=True, target_node=None))
    assert sorted(c.node for c in h.rpc.calls_of("instance_list")) == ["node1", "node2",
                                                                      "node3"]
    assert state(h).primary_node == "node-node1"


@pytest.mark.parametrize(("status", "winner"), [("completed", "node3"), ("active", "node2")])
def test_cleanup_when_running_on_both(make_harness: MakeHarness, status: str,
                                      winner: str) -> None:
    h = harness(make_harness, cluster())
    h.rpc.script("instance_list", fn=listing(node2=["vm1"], node3=["vm1"]))
    h.rpc.script("instance_get_migration_status", payload=MigrationProgress(status=status))
    h.run_sync(migrate(cleanup=True))
    assert state(h).primary_node == f"node-{winner}"
    dst = [(c.node, c.args[2]) for c in h.rpc.calls_of("instance_finalize_migration_dst")]
    src = [(c.node, c.args[1]) for c in h.rpc.calls_of("instance_finalize_migration_src")]
    completed = status == "completed"
    assert dst == [("node3", completed)]
    assert src == [("node2", completed)]
    h.assert_persisted()


def test_cleanup_when_running_only_on_the_source(make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster())
    h.rpc.script("instance_list", fn=listing(node2=["vm1"]))
    h.run_sync(migrate(cleanup=True))
    assert "* instance confirmed to be running on its primary node (node2)" in h.feedback
    on_source(h)


def test_cleanup_when_running_nowhere(make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster())
    with pytest.raises(OpExecError, match="Instance does not seem to be running at all"):
        h.run_sync(migrate(cleanup=True))
    on_source(h)


# --- locks ------------------------------------------------------------------------------

def test_lock_plan_with_a_target_and_with_an_allocator(make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster(nodes=4))
    lu = LUInstanceMigrate(h.ctx, migrate(), h.feedback.append)
    lu.check_arguments()
    lu.expand_names()
    plan = lu.declare_locks()
    assert requested(plan, Level.INSTANCE).names == frozenset({"vm1"})
    assert requested(plan, Level.NODE).names == frozenset({"node2", "node3"})
    assert requested(plan, Level.NODE).shared  # migrations off one node run together
    assert Level.NODE_RES not in dict(plan.requests)  # memory is reserved by the check
    lu = LUInstanceMigrate(h.ctx, migrate(target_node=None), h.feedback.append)
    lu.expand_names()
    assert requested(lu.declare_locks(), Level.NODE).names == frozenset(
        {"node1", "node2", "node3", "node4"})


def test_allocator_picks_a_target_and_unused_node_locks_are_released(
        make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster(nodes=4))
    held: list[frozenset[str]] = []

    def record(node: Node, args: tuple[Any, ...]) -> Any:
        held.append(frozenset(i.name for i in h.ctx.locks.info()
                              if i.name.startswith("node/") and i.mode))
        return None

    h.rpc.script("instance_migrate", fn=record)
    h.run_sync(migrate(target_node=None))
    target = h.data.nodes[state(h).primary_node].name
    assert target in ("node1", "node3", "node4")
    assert any(line.startswith("Selected nodes for instance vm1 via iallocator")
               for line in h.feedback)
    assert held == [frozenset({"node/node2", f"node/{target}"})]


def test_cleanup_on_both_without_a_status_keeps_the_source(make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster())
    h.rpc.script("instance_list", fn=listing(node2=["vm1"], node3=["vm1"]))
    h.rpc.script("instance_get_migration_status", fail="no migration of instance vm1")
    h.run_sync(migrate(cleanup=True))
    dst = [(c.node, c.args[2]) for c in h.rpc.calls_of("instance_finalize_migration_dst")]
    assert dst == [("node3", False)]
    assert ("blockdev_shutdown", "node3") in phases(h)
    on_source(h)


def test_an_unknown_status_aborts(make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster())
    h.rpc.script("instance_get_migration_status",
                 payload=MigrationProgress(status="confused"))
    with pytest.raises(OpExecError, match="hypervisor returned failure"):
        h.run_sync(migrate())
    on_source(h)


def test_target_group_policy_refuses_unless_ignored(make_harness: MakeHarness) -> None:
    def build() -> ConfigBuilder:
        b = cluster()
        group = b.group("g2", ipolicy={"disk-templates": ["plain"]})
        set_node(b, "node3", group=group.uuid)
        return b

    h = harness(make_harness, build())
    expect_failure(h, migrate(), code=ErrorCode.INVAL,
                   match="Instance vm1 does not meet target node group's (g2) instance policy:"
                         " Disk template sharedfile is not allowed")
    h = harness(make_harness, build())
    h.run_sync(migrate(ignore_ipolicy=True))
    assert "WARNING: Target node node3 is not in the node group of instance vm1" in h.feedback
    assert any(line.startswith("WARNING: Instance vm1 does not meet target node group's")
               for line in h.feedback)
    assert state(h).primary_node == "node-node3"


def test_target_by_uuid(make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster())
    h.run_sync(OpInstanceMigrate(instance_name="vm1", target_node_uuid="node-node3"))
    assert state(h).primary_node == "node-node3"
    expect_failure(h, OpInstanceMigrate(instance_name="vm1", target_node_uuid="nope"),
                   code=ErrorCode.NOENT, match="Node 'nope' not known")


def test_node_local_disks_use_a_given_or_default_allocator(make_harness: MakeHarness) -> None:
    def build(**cluster_changes: Any) -> ConfigBuilder:
        b = cluster(DiskTemplate.PLAIN)
        b.set_cluster(**cluster_changes)
        return b

    h = harness(make_harness, build())
    expect_failure(h, migrate(target_node=None, iallocator="."), code=ErrorCode.INVAL,
                   match="give a target node or an iallocator")
    for b, op in ((build(), migrate(target_node=None, iallocator="corral")),
                  (build(default_iallocator="corral"), migrate(target_node=None))):
        h = harness(make_harness, b)
        space = [StorageSpace(type="lvm-vg", name="xenvg", storage_size=10240,
                              storage_free=8192)]
        h.rpc.script("node_info", payload=NodeInfo(memory_total=4096, memory_free=2048,
                                                    storage=space))
        h.run_sync(op)
        assert state(h).primary_node in ("node-node1", "node-node3")
        assert h.rpc.calls_of("accept_instance")[0].args[3] is True


def test_config_write_failure_after_the_switch_still_resumes_the_guest(
        make_harness: MakeHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness(make_harness, cluster())

    async def refuse(*objects: Any, removed: Any = ()) -> None:
        raise ConfigurationError("Cannot write the configuration on node1: disk is full")

    monkeypatch.setattr(h.writer, "commit", refuse)
    with pytest.raises(OpExecError, match="the configuration could not be updated: Cannot"
                                          " write the configuration"):
        h.run_sync(migrate())
    dst = [(c.node, c.args[2]) for c in h.rpc.calls_of("instance_finalize_migration_dst")]
    assert dst == [("node3", True)]
    assert state(h).primary_node == "node-node2"  # --cleanup makes it follow


def test_target_memory_is_reserved_while_the_instance_travels(
        make_harness: MakeHarness) -> None:
    """During the transfer the target's memory is reserved, so another migration to it
    checks memory with this one counted."""
    h = harness(make_harness, cluster())
    seen: list[int] = []

    def record(node: Node, args: tuple[Any, ...]) -> Any:
        seen.append(h.ctx.reservations.reserved("node3"))
        return None

    h.rpc.script("instance_migrate", fn=record)
    h.run_sync(migrate())
    assert len(seen) == 1
    assert seen[0] > 0  # the instance's memory, reserved on the target
    assert h.ctx.reservations.reserved("node3") == 0  # released when the unit ends


def test_memory_reserved_by_another_unit_counts_as_used(make_harness: MakeHarness) -> None:
    """Another job's reservation on the target (an instance on its way there) leaves
    too little of the node's 2048 MiB free."""
    h = harness(make_harness, cluster(beparams={"minmem": 1024, "maxmem": 1024}))
    h.ctx.reservations.reserve("node3", "job/other", 1536)
    expect_failure(h, migrate(), OpPrereqError, ErrorCode.NORES,
                   "needed 1024 MiB, available 512 MiB")
    h.ctx.reservations.release("job/other")
    h.run_sync(migrate())
    assert state(h).primary_node == "node-node3"


def test_cleanup_keeping_the_source_removes_the_unfinished_disk_copies(
        make_harness: MakeHarness) -> None:
    """An interrupted live storage migration left disk copies on the target: incomplete
    (the mirrors had not finished), so they go when the source keeps the instance."""
    h = harness(make_harness, cluster(DiskTemplate.FILE))
    h.rpc.script("instance_list", fn=listing(node2=["vm1"], node3=["vm1"]))
    h.rpc.script("instance_get_migration_status", payload=MigrationProgress(status="active"))
    h.run_sync(migrate(cleanup=True))
    on_source(h)
    assert {c.node for c in h.rpc.calls_of("blockdev_remove")} == {"node3"}
