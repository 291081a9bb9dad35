"""Mirror instances on the master: exports around start and stop, live migration to
the secondary (no disk copy, roles and URIs swapped), failover (normal and with the
primary dead), refusals of other targets, and the resync of a returned secondary."""

from __future__ import annotations

from typing import Any, Literal

import pytest

from corral.cmdlib import instance_disks, instance_failover, instance_ops  # noqa: F401
from corral.cmdlib.common.instances.mirror import MirrorLogicalId
from corral.cmdlib.common.instances.mirror_mobility import RESYNC_RETRIES
from corral.cmdlib.instance_migrate import LUInstanceMigrate  # noqa: F401
from corral.errors import ErrorCode, OpExecError
from corral.objects import AdminState, Instance
from corral.objects.instance import Disk, DiskTemplate
from corral.opcodes.instance import (
    OpInstanceActivateDisks,
    OpInstanceDeactivateDisks,
    OpInstanceReboot,
    OpInstanceShutdown,
    OpInstanceStartup,
)
from corral.opcodes.mobility import OpInstanceFailover, OpInstanceMigrate
from corral.rpc.payloads import MigrationProgress, MirrorDiskSync
from corral.rpc.results import NodeResult
from tests.support.config import ConfigBuilder, instance_cluster
from tests.support.lu_harness import LuHarness, MakeHarness, expect_failure
from tests.unit.cmdlib.test_instance_migrate import listing

SyncState = Literal["in_sync", "degraded", "resyncing"]
RUNNING = {"state": "running", "memory": 512, "vcpus": 1, "time": 1.0}
PATH = "/srv/corral/file-storage/vm1/disk-vm1-0.file.disk0"
CALLS = ("mirror_export_start", "mirror_export_stop", "instance_start", "instance_shutdown",
         "accept_instance", "instance_migrate", "instance_finalize_migration_src",
         "instance_finalize_migration_dst", "instance_reboot", "blockdev_create",
         "instance_mirror_resync")


def cluster(admin_state: AdminState = AdminState.UP, disks: int = 1) -> ConfigBuilder:
    """node1..node3 (secondary IPs 10.0.0.<n>), ``vm1`` on node2 mirrored to node3."""
    b = instance_cluster(nodes=3, enabled_disk_templates=("file", "mirror"))
    for n in range(1, 4):
        b.data.put(b.data.nodes[f"node-node{n}"].evolve(0, secondary_ip=f"10.0.0.{n}"))
    uuids = []
    for index in range(disks):
        uuid = f"disk-vm1-{index}"
        lid = MirrorLogicalId("loop", PATH.replace("disk0", f"disk{index}"), "10.0.0.3",
                              11000 + index, uuid)
        b.data.put(Disk(uuid=uuid, dev_type=DiskTemplate.MIRROR, size=1024,
                        iv_name=f"disk/{index}", logical_id=lid.as_tuple(),
                        nodes=("node-node2", "node-node3")))
        uuids.append(uuid)
    b.data.put(Instance(uuid="inst-vm1", name="vm1", primary_node="node-node2",
                        hypervisor="kvm", os="busybox", disk_template=DiskTemplate.MIRROR,
                        disks=tuple(uuids), admin_state=admin_state,
                        disks_active=admin_state is AdminState.UP, network_port=11010))
    return b


def harness(make_harness: MakeHarness, b: ConfigBuilder | None = None) -> LuHarness:
    h = make_harness(b or cluster())
    h.rpc.script("instance_info", payload=RUNNING)
    return h


def calls(h: LuHarness) -> list[tuple[str, str]]:
    return [(c.name, c.node) for c in h.rpc.calls if c.name in CALLS]


def export_starts(h: LuHarness) -> list[tuple[str, str, int, str]]:
    """(node, address, port, client) per mirror_export_start."""
    return [(c.node, c.args[1], c.args[2], c.args[3])
            for c in h.rpc.calls_of("mirror_export_start")]


def the_disk(h: LuHarness) -> tuple[Disk, MirrorLogicalId]:
    disk = h.data.disks["disk-vm1-0"]
    lid = MirrorLogicalId.of(disk)
    assert lid is not None
    return disk, lid


def swapped_to_node3(h: LuHarness) -> None:
    """The configuration after the roles swapped: node3 primary, node2 secondary."""
    assert h.data.instances["inst-vm1"].primary_node == "node-node3"
    disk, lid = the_disk(h)
    assert disk.nodes == ("node-node3", "node-node2")
    assert (lid.path, lid.address, lid.port, lid.export) == (PATH, "10.0.0.2", 11000,
                                                             "disk-vm1-0")
    h.assert_persisted()


def offline(name: str) -> Any:
    def answer(node: Any, args: tuple[Any, ...]) -> Any:
        return NodeResult.failure(node.name, name, "node is offline", offline=True)
    return answer


# --- lifecycle ---------------------------------------------------------------------

def test_startup_serves_the_secondary_before_the_instance_starts(
        make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster(AdminState.DOWN, disks=2))
    h.rpc.script("instance_info", payload=None)
    h.run_sync(OpInstanceStartup(instance_name="vm1"))
    assert calls(h) == [("mirror_export_start", "node3"), ("mirror_export_start", "node3"),
                        ("instance_start", "node2")]
    assert export_starts(h) == [("node3", "10.0.0.3", 11000, "node2"),
                                ("node3", "10.0.0.3", 11001, "node2")]


def test_unreachable_secondary_starts_degraded_with_a_warning(
        make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster(AdminState.DOWN))
    h.rpc.script("instance_info", payload=None)
    h.rpc.script("mirror_export_start", "node3", fail="connection refused")
    h.rpc.script("blockdev_assemble", "node3", fail="connection refused")
    h.run_sync(OpInstanceStartup(instance_name="vm1"))
    assert ("instance_start", "node2") in calls(h)
    assert h.data.instances["inst-vm1"].admin_state is AdminState.UP
    assert any("Cannot export disk disk/0 of instance vm1 on node node3: connection refused;"
               " instance vm1 will run with disk disk/0 degraded" in line
               for line in h.feedback), h.feedback


def test_shutdown_and_deactivate_stop_the_exports(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    h.run_sync(OpInstanceShutdown(instance_name="vm1"))
    assert calls(h) == [("instance_shutdown", "node2"), ("mirror_export_stop", "node3")]
    h.rpc.reset()
    h.run_sync(OpInstanceActivateDisks(instance_name="vm1"))
    assert calls(h) == [("mirror_export_start", "node3")]
    h.rpc.reset()
    h.rpc.script("instance_info", payload=None)
    h.run_sync(OpInstanceDeactivateDisks(instance_name="vm1"))
    assert calls(h) == [("mirror_export_stop", "node3")]


def test_reboot_serves_the_secondary_first(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    h.run_sync(OpInstanceReboot(instance_name="vm1", reboot_type="hard"))
    assert calls(h) == [("mirror_export_start", "node3"), ("instance_reboot", "node2")]


def statuses(*states: SyncState) -> Any:
    """instance_mirror_status answers: disk 0 in sync, disk 1 in ``states`` in turn (the
    last one from then on)."""
    seen: list[SyncState] = []

    def answer(node: Any, args: tuple[Any, ...]) -> Any:
        state = states[min(len(seen), len(states) - 1)]
        seen.append(state)
        return [MirrorDiskSync(index=0, state="in_sync"), MirrorDiskSync(index=1, state=state)]
    return answer


def test_activate_disks_resyncs_a_degraded_running_mirror(make_harness: MakeHarness) -> None:
    """The first resync fails while QEMU reconnects: asked again until it runs."""
    h = harness(make_harness, cluster(disks=2))
    h.rpc.script("instance_mirror_status", fn=statuses("degraded", "degraded", "resyncing"))
    h.run_sync(OpInstanceActivateDisks(instance_name="vm1"))
    resyncs = h.rpc.calls_of("instance_mirror_resync")
    assert [(c.node, c.args[1], c.args[2]) for c in resyncs] == [("node2", [1], False)] * 2
    assert "* resyncing disk(s) 1 of instance vm1 to its secondary" in h.feedback
    assert not any("Could not resync" in line for line in h.feedback)


def test_a_mirror_that_stays_degraded_is_a_warning(make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster(disks=2))
    h.rpc.script("instance_mirror_status", fn=statuses("degraded"))
    h.rpc.script("instance_mirror_resync", fail="NBD client not connected")
    h.run_sync(OpInstanceActivateDisks(instance_name="vm1"))
    assert len(h.rpc.calls_of("instance_mirror_resync")) == RESYNC_RETRIES
    assert any("Could not resync disk(s) 1 of instance vm1 on node node2: NBD client not"
               " connected" in line for line in h.feedback), h.feedback


def test_stopped_instance_is_not_resynced(make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster(AdminState.DOWN))
    h.rpc.script("instance_info", payload=None)
    h.run_sync(OpInstanceActivateDisks(instance_name="vm1"))
    assert h.rpc.calls_of("instance_mirror_status") == []


# --- migration -----------------------------------------------------------------------

def test_live_migration_swaps_roles_without_copying(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    h.run_sync(OpInstanceMigrate(instance_name="vm1"))
    assert calls(h) == [
        ("accept_instance", "node3"), ("instance_migrate", "node2"),
        ("instance_finalize_migration_src", "node2"), ("mirror_export_stop", "node3"),
        ("mirror_export_start", "node2"), ("instance_finalize_migration_dst", "node3")]
    assert export_starts(h) == [("node2", "10.0.0.2", 11000, "node3")]
    accept = h.rpc.calls_of("accept_instance")[0]
    assert accept.args[3] is False  # no disk copy
    [sent] = accept.args[0].disks
    assert sent.logical_id == (
        "loop", PATH, "nbd+tls://10.0.0.2:11000/disk-vm1-0")
    [source_disk] = h.rpc.calls_of("instance_migrate")[0].args[1].disks
    assert source_disk.logical_id[2] == "nbd+tls://10.0.0.3:11000/disk-vm1-0"
    assert not any("disk copy" in line for line in h.feedback)
    swapped_to_node3(h)


def test_migration_back_swaps_again(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    h.run_sync(OpInstanceMigrate(instance_name="vm1"))
    h.run_sync(OpInstanceMigrate(instance_name="vm1", target_node="node2"))
    disk, lid = the_disk(h)
    assert disk.nodes == ("node-node2", "node-node3")
    assert (lid.address, lid.port) == ("10.0.0.3", 11000)


def test_aborted_migration_leaves_exports_and_config(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    h.rpc.script("instance_migrate", fail="migration refused")
    expect_failure(h, OpInstanceMigrate(instance_name="vm1"), OpExecError,
                   match="keeps running on node2")
    assert h.rpc.calls_of("mirror_export_stop") == []
    assert h.data.disks["disk-vm1-0"].nodes == ("node-node2", "node-node3")


@pytest.mark.parametrize("op", [
    OpInstanceMigrate(instance_name="vm1", target_node="node1"),
    OpInstanceFailover(instance_name="vm1", target_node="node1"),
])
def test_target_other_than_the_secondary_is_refused(make_harness: MakeHarness,
                                                    op: Any) -> None:
    h = harness(make_harness)
    expect_failure(h, op, code=ErrorCode.INVAL,
                   match="it can only migrate to its secondary node node3, not node1"
                   if isinstance(op, OpInstanceMigrate) else
                   "it can only fail over to its secondary node node3, not node1")


def test_iallocator_is_refused(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    expect_failure(h, OpInstanceMigrate(instance_name="vm1", iallocator="corral"),
                   code=ErrorCode.INVAL, match="an iallocator has nothing to choose")


# --- failover ------------------------------------------------------------------------

def test_failover_stops_swaps_and_starts_on_the_secondary(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    h.run_sync(OpInstanceFailover(instance_name="vm1"))
    assert calls(h) == [("instance_shutdown", "node2"), ("mirror_export_stop", "node3"),
                        ("mirror_export_start", "node2"), ("instance_start", "node3")]
    assert export_starts(h) == [("node2", "10.0.0.2", 11000, "node3")]
    swapped_to_node3(h)


def test_failover_with_the_primary_offline_starts_degraded(make_harness: MakeHarness) -> None:
    b = cluster()
    b.data.put(b.data.nodes["node-node2"].evolve(0, offline=True))
    h = harness(make_harness, b)
    for name in ("mirror_export_start", "blockdev_assemble", "blockdev_shutdown",
                 "instance_shutdown"):
        h.rpc.script(name, "node2", fn=offline(name))
    h.run_sync(OpInstanceFailover(instance_name="vm1", ignore_consistency=True))
    assert ("instance_start", "node3") in calls(h)
    assert ("instance_shutdown", "node2") not in calls(h)
    assert any("will run with disk disk/0 degraded" in line for line in h.feedback)
    swapped_to_node3(h)
    assert h.data.instances["inst-vm1"].disks_active


def test_failover_with_a_dead_primary_needs_ignore_consistency(
        make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    h.rpc.script("instance_shutdown", "node2", fail="connection refused")
    expect_failure(h, OpInstanceFailover(instance_name="vm1"), OpExecError,
                   match="Could not shutdown instance vm1 on node node2")
    h.rpc.script("mirror_export_start", "node2", fail="connection refused")
    h.rpc.script("blockdev_assemble", "node2", fail="connection refused")
    h.rpc.script("blockdev_shutdown", "node2", fail="connection refused")
    h.run_sync(OpInstanceFailover(instance_name="vm1", ignore_consistency=True))
    swapped_to_node3(h)


def test_stopped_instance_fails_over_without_starting(make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster(AdminState.DOWN))
    h.rpc.script("instance_info", payload=None)
    h.run_sync(OpInstanceFailover(instance_name="vm1"))
    assert [c for c in calls(h) if c[0] in ("instance_start", "mirror_export_start")] == []
    swapped_to_node3(h)


def test_cleanup_after_an_interrupted_switch_moves_the_exports(
        make_harness: MakeHarness) -> None:
    """The guest runs on both nodes and the source completed the transfer: the target
    wins, its export stops and the old primary serves before the guest resumes."""
    h = harness(make_harness)
    h.rpc.script("instance_list", fn=listing(node2=["vm1"], node3=["vm1"]))
    h.rpc.script("instance_get_migration_status", payload=MigrationProgress(status="completed"))
    h.run_sync(OpInstanceMigrate(instance_name="vm1", cleanup=True, target_node="node3"))
    assert [c for c in calls(h) if c[0] != "instance_finalize_migration_src"] == [
        ("mirror_export_stop", "node3"), ("mirror_export_start", "node2"),
        ("instance_finalize_migration_dst", "node3")]
    [dst] = h.rpc.calls_of("instance_finalize_migration_dst")
    assert dst.args[0].disks[0].logical_id[2] == "nbd+tls://10.0.0.2:11000/disk-vm1-0"
    swapped_to_node3(h)
