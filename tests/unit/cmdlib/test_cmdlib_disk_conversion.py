"""``gnt-instance modify -t``: plain → drbd and drbd → plain through the processor,
the sync wait, the rollback that never touches the primary's data, and the refusals."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from corral.cmdlib import instance_create, instance_set_params  # noqa: F401
from corral.cmdlib.common.instances.disk_sync import format_seconds
from corral.cmdlib.common.instances.drbd import DRBD_META_SIZE, DrbdLogicalId, drbd_map
from corral.errors import ErrorCode, OpExecError
from corral.locking.levels import Level
from corral.objects import AdminState, DiskTemplate
from corral.objects.instance import Disk, Instance
from corral.opcodes.instance import OpInstanceSetParams
from corral.opcodes.params import DiskTemplateName
from corral.rpc.payloads import MirrorStatus, NodeDisk
from tests.support.lu_harness import LuHarness, MakeHarness, expect_failure, requested
from tests.unit.cmdlib.test_cmdlib_instance_drbd import cluster, create, harness, lvm_free

NAME = "vm1"


def plain(make_harness: MakeHarness, free: int = 10_000, **kw: Any) -> LuHarness:
    h = harness(make_harness, free=free, **kw)
    h.run_sync(create(NAME, node="node1", disk_template="plain",
                      disks=[{"size": 1024, "name": "root"}]))
    h.rpc.reset()
    h.feedback.clear()
    return h


def drbd(make_harness: MakeHarness) -> LuHarness:
    h = harness(make_harness)
    h.run_sync(create(NAME, node="node1:node2", disks=[{"size": 512, "mode": "ro"}]))
    h.rpc.reset()
    h.feedback.clear()
    return h


def to(template: DiskTemplateName, node: str | None = None,
       **kw: Any) -> OpInstanceSetParams:
    return OpInstanceSetParams(instance_name=NAME, disk_template=template, remote_node=node,
                               **kw)


def inst(h: LuHarness) -> Instance:
    found = h.data.instance_by_name(NAME)
    assert found is not None
    return found


def disks(h: LuHarness) -> list[Disk]:
    return [h.data.disks[u] for u in inst(h).disks]


def status(percent: float | None, eta: int | None = None,
           degraded: bool = False) -> list[MirrorStatus]:
    return [MirrorStatus(dev_path="/dev/drbd0", major=147, minor=0, sync_percent=percent,
                         estimated_time=eta, is_degraded=degraded, ldisk_status=1)]


# --- plain → drbd --------------------------------------------------------------------


def test_plain_to_drbd_keeps_the_lv_as_the_primary_data(make_harness: MakeHarness) -> None:
    h = plain(make_harness)
    [old] = disks(h)
    result = h.run_sync(to("drbd", "node2"))
    assert result == [["disk_template", "drbd"]]
    assert inst(h).disk_template is DiskTemplate.DRBD
    [new] = disks(h)
    lid = DrbdLogicalId.of(new)
    assert lid is not None
    assert (lid.primary, lid.secondary, lid.port) == ("node-node1", "node-node2", 11000)
    assert (new.size, new.name, new.iv_name) == (1024, "root", "disk/0")
    data, meta = (h.data.disks[u] for u in new.children)
    assert data.uuid == old.uuid
    assert data.logical_id == old.logical_id, "the plain LV is the data LV, not renamed"
    assert data.nodes == meta.nodes == ("node-node1", "node-node2")
    assert meta.size == DRBD_META_SIZE
    created = h.rpc.calls_of("blockdev_create")
    assert [(c.node, c.args[3]) for c in created] == [("node1", True), ("node2", False)]
    sent: NodeDisk = created[0].args[0]
    assert sent.child_disks[0].logical_id == old.logical_id
    assert sent.dynamic_params is not None
    # the plain disk was shut down first; after the wait the devices are down again
    names = [c.name for c in h.rpc.calls if c.name.startswith("blockdev_")]
    assert names == ["blockdev_shutdown", "blockdev_create", "blockdev_create",
                     "blockdev_getmirrorstatus", "blockdev_shutdown", "blockdev_shutdown"]
    assert not inst(h).disks_active
    assert " - INFO: Instance vm1's disks are in sync" in h.feedback
    assert h.ctx.drbd.ports() == set()
    h.assert_persisted()


def test_space_is_checked_on_both_nodes(make_harness: MakeHarness) -> None:
    h = plain(make_harness)
    h.run_sync(to("drbd", "node2"))
    asked = {c.node: c.args[1] for c in h.rpc.calls_of("node_info")}
    assert set(asked) == {"node1", "node2"}


def test_sync_progress_goes_to_the_job_log(make_harness: MakeHarness) -> None:
    h = plain(make_harness)
    answers = [status(45.1, 63), status(90.0), status(None)]
    h.rpc.script("blockdev_getmirrorstatus", fn=lambda node, args: answers.pop(0))
    h.run_sync(to("drbd", "node2"))
    assert " - INFO: Waiting for instance vm1 to sync disks" in h.feedback
    assert " - INFO: - device disk/0: 45.10% done, 1m 3s remaining (estimated)" in h.feedback
    assert " - INFO: - device disk/0: 90.00% done, no time estimate" in h.feedback
    assert h.feedback[-1] == " - INFO: Instance vm1's disks are in sync"
    assert answers == []


def test_no_wait_for_sync_looks_once_and_leaves_the_devices_up(
        make_harness: MakeHarness) -> None:
    h = plain(make_harness)
    h.rpc.script("blockdev_getmirrorstatus", payload=status(10.0, 5))
    h.run_sync(to("drbd", "node2", wait_for_sync=False))
    assert len(h.rpc.calls_of("blockdev_getmirrorstatus")) == 1
    assert " - INFO: - device disk/0: 10.00% done, 5s remaining (estimated)" in h.feedback
    assert len(h.rpc.calls_of("blockdev_shutdown")) == 1, "only the plain disk's"
    assert inst(h).disks_active


def test_degraded_after_conversion_is_an_error(make_harness: MakeHarness) -> None:
    h = plain(make_harness)
    h.rpc.script("blockdev_getmirrorstatus", payload=status(None, degraded=True))
    with pytest.raises(OpExecError, match="some degraded disks"):
        h.run_sync(to("drbd", "node2"))
    assert inst(h).disk_template is DiskTemplate.DRBD, "committed before the wait"
    assert len(h.rpc.calls_of("blockdev_getmirrorstatus")) == 11


def test_failed_secondary_undoes_the_primary_without_its_data(
        make_harness: MakeHarness) -> None:
    h = plain(make_harness)
    [old] = disks(h)
    h.rpc.script("blockdev_create", "node2", fail="drbdsetup: no route to host")
    with pytest.raises(OpExecError, match="Can't create block device disk/0 on node node2"):
        h.run_sync(to("drbd", "node2"))
    assert inst(h).disk_template is DiskTemplate.PLAIN
    assert disks(h) == [old]
    [removed] = h.rpc.calls_of("blockdev_remove")
    assert removed.node == "node1"
    gone: NodeDisk = removed.args[0]
    assert gone.dev_type is DiskTemplate.PLAIN
    assert str(gone.logical_id[1]).endswith("_meta")
    assert gone.logical_id != old.logical_id
    assert [c.node for c in h.rpc.calls_of("blockdev_shutdown")] == ["node1", "node1"]
    assert drbd_map(h.data) == {u: {} for u in h.data.nodes}
    h.assert_persisted()


def test_failed_primary_removes_nothing(make_harness: MakeHarness) -> None:
    h = plain(make_harness)
    h.rpc.script("blockdev_create", "node1", fail="drbdmeta failed")
    with pytest.raises(OpExecError, match="on node node1"):
        h.run_sync(to("drbd", "node2"))
    assert h.rpc.calls_of("blockdev_remove") == []
    assert inst(h).disk_template is DiskTemplate.PLAIN


def test_conversion_locks_the_secondary(make_harness: MakeHarness) -> None:
    h = plain(make_harness)
    lu = instance_set_params.LUInstanceSetParams(h.ctx, to("drbd", "node3"), lambda _: None)
    lu.check_arguments()
    lu.expand_names()
    plan = lu.declare_locks()
    assert requested(plan, Level.NODE).names == frozenset({"node1", "node3"})
    assert requested(plan, Level.NODE_RES).names == frozenset({"node1", "node3"})


def test_allocator_chooses_the_secondary_in_the_group(make_harness: MakeHarness) -> None:
    h = plain(make_harness)
    assert h.run_sync(to("drbd", iallocator="corral")) == [["disk_template", "drbd"]]
    [disk] = disks(h)
    lid = DrbdLogicalId.of(disk)
    assert lid is not None
    assert lid.primary == "node-node1"
    assert lid.secondary in {"node-node2", "node-node3"}
    chosen = h.data.nodes[lid.secondary].name
    assert "Using corral to choose new secondary" in h.feedback
    assert f"corral choose {chosen} as new secondary" in h.feedback


def test_allocator_locks_the_whole_group(make_harness: MakeHarness) -> None:
    h = plain(make_harness)
    lu = instance_set_params.LUInstanceSetParams(h.ctx, to("drbd", iallocator="corral"),
                                                 lambda _: None)
    lu.check_arguments()
    lu.expand_names()
    plan = lu.declare_locks()
    assert requested(plan, Level.NODE).names == frozenset({"node1", "node2", "node3"})


def test_allocator_without_room_is_refused(make_harness: MakeHarness) -> None:
    h = plain(make_harness)
    h.rpc.script("node_info", fn=lvm_free(10))
    expect_failure(h, to("drbd", iallocator="corral"), code=ErrorCode.NORES,
                   match="Can't find secondary node using iallocator corral")


def test_hooks_name_the_new_template(make_harness: MakeHarness) -> None:
    h = plain(make_harness)
    lu = instance_set_params.LUInstanceSetParams(h.ctx, to("drbd", "node2"), lambda _: None)
    lu.check_arguments()
    lu.expand_names()
    assert lu.hooks_env()["NEW_DISK_TEMPLATE"] == "drbd"


# --- drbd → plain --------------------------------------------------------------------


def test_drbd_to_plain_keeps_the_primary_data_lv(make_harness: MakeHarness) -> None:
    h = drbd(make_harness)
    [old] = disks(h)
    data_uuid, meta_uuid = old.children
    data_lv = h.data.disks[data_uuid]
    assert h.run_sync(to("plain")) == [["disk_template", "plain"]]
    [new] = disks(h)
    assert new.uuid == data_uuid
    assert (new.dev_type, new.logical_id) == (DiskTemplate.PLAIN, data_lv.logical_id)
    assert (new.size, new.mode.value, new.iv_name, new.nodes) == (512, "ro", "disk/0",
                                                                 ("node-node1",))
    assert old.uuid not in h.data.disks
    assert meta_uuid not in h.data.disks
    assert inst(h).disk_template is DiskTemplate.PLAIN
    assert drbd_map(h.data) == {u: {} for u in h.data.nodes}, "minors freed"
    removed = [(c.node, c.args[0].dev_type.value, str(c.args[0].logical_id[-1]))
               for c in h.rpc.calls_of("blockdev_remove")]
    assert removed[0][:2] == ("node2", "drbd")
    assert removed[1][:2] == ("node1", "plain")
    assert removed[1][2].endswith("_meta")
    assert len(removed) == 2
    assert h.rpc.nodes_called("blockdev_shutdown") == ["node1", "node2"]
    h.assert_persisted()


def test_drbd_to_plain_ignores_a_given_secondary(make_harness: MakeHarness) -> None:
    h = drbd(make_harness)
    h.run_sync(to("plain", "node3"))
    assert any("the secondary node will be ignored" in line for line in h.feedback)
    assert "node3" not in {c.node for c in h.rpc.calls if c.name.startswith("blockdev")}


def test_removal_failures_on_the_secondary_only_warn(make_harness: MakeHarness) -> None:
    h = drbd(make_harness)
    h.rpc.script("blockdev_remove", "node2", fail="lvremove failed")
    h.run_sync(to("plain"))
    assert inst(h).disk_template is DiskTemplate.PLAIN
    assert any("Could not remove block device disk/0 on node node2" in line
               for line in h.feedback)


def test_drbd_to_plain_drops_a_dead_secondary(make_harness: MakeHarness) -> None:
    h = drbd(make_harness)
    asyncio.run(h.writer.commit(h.data.nodes["node-node2"].evolve(0, offline=True)))
    h.run_sync(to("plain"))
    assert inst(h).disk_template is DiskTemplate.PLAIN
    assert [d.nodes for d in disks(h)] == [("node-node1",)]
    assert "node2" not in {c.node for c in h.rpc.calls}, "an offline node is not called"
    assert any("Could not remove block device disk/0 on node node2" in line
               for line in h.feedback)


def test_round_trip_reuses_the_same_volume(make_harness: MakeHarness) -> None:
    h = plain(make_harness)
    [old] = disks(h)
    h.run_sync(to("drbd", "node2"))
    h.run_sync(to("plain"))
    [back] = disks(h)
    assert (back.uuid, back.logical_id, back.iv_name, back.name) == (
        old.uuid, old.logical_id, "disk/0", "root")
    assert set(h.data.disks) == {old.uuid}


# --- refusals ------------------------------------------------------------------------


def test_running_instance_is_refused(make_harness: MakeHarness) -> None:
    h = plain(make_harness)
    h.rpc.script("instance_info", payload={"state": "running", "memory": 128})
    expect_failure(h, to("drbd", "node2"), code=ErrorCode.STATE,
                   match="is running, cannot change disk template")


def test_instance_marked_up_is_refused(make_harness: MakeHarness) -> None:
    h = plain(make_harness)
    asyncio.run(h.writer.commit(inst(h).evolve(0, admin_state=AdminState.UP)))
    expect_failure(h, to("drbd", "node2"), code=ErrorCode.STATE,
                   match="marked to be up, cannot change disk template")


@pytest.mark.parametrize(("op", "code", "match"), [
    (to("drbd", "node1"), ErrorCode.STATE,
     "Given new secondary node node1 is the same as the primary node"),
    (to("drbd"), ErrorCode.INVAL, "requires a secondary node"),
    (to("drbd", "node9"), ErrorCode.NOENT, "node9"),
    (to("plain"), ErrorCode.INVAL, "Instance already has disk template plain"),
    (to("file"), ErrorCode.INVAL, "Conversion from the 'plain' disk template to 'file' is"
     " not supported; Corral converts plain -> drbd, drbd -> plain"),
    (to("drbd", "node2", disks=[["add", {"size": 10}]]), ErrorCode.INVAL,
     "Disk template conversion and other disk changes not supported at the same time"),
    (OpInstanceSetParams(instance_name=NAME, iallocator="corral", offline=True),
     ErrorCode.INVAL, "Corral does not support changing iallocator yet"),
])
def test_bad_conversions_are_refused(make_harness: MakeHarness, op: OpInstanceSetParams,
                                     code: ErrorCode, match: str) -> None:
    h = plain(make_harness)
    expect_failure(h, op, code=code, match=match)
    assert h.rpc.calls_of("blockdev_create") == []


@pytest.mark.parametrize(("flags", "what"), [
    ({"offline": True}, "Can't use offline node: node2"),
    ({"drained": True}, "Can't use drained node node2"),
])
def test_unusable_secondary_is_refused(make_harness: MakeHarness, flags: dict[str, Any],
                                       what: str) -> None:
    b = cluster()
    b.data.put(msgspec.structs.replace(b.data.nodes["node-node2"], **flags))
    h = plain(make_harness, b=b)
    expect_failure(h, to("drbd", "node2"), code=ErrorCode.STATE, match=what)


def test_not_enough_space_on_the_secondary(make_harness: MakeHarness) -> None:
    h = plain(make_harness)
    h.rpc.script("node_info", "node2", fn=lvm_free(1100))
    expect_failure(h, to("drbd", "node2"), code=ErrorCode.NORES,
                   match="Not enough disk space on target node node2 vg xenvg")
    assert h.ctx.drbd.ports() == set()


def test_template_must_be_enabled(make_harness: MakeHarness) -> None:
    h = plain(make_harness, b=cluster(enabled_disk_templates=("file", "plain")))
    expect_failure(h, to("drbd", "node2"), code=ErrorCode.STATE,
                   match="Disk template 'drbd' is not enabled for this cluster")


def test_policy_must_allow_the_template(make_harness: MakeHarness) -> None:
    b = cluster()
    b.set_cluster(ipolicy={**b.data.cluster.ipolicy, "disk-templates": ["plain"]})
    h = plain(make_harness, b=b)
    expect_failure(h, to("drbd", "node2"), code=ErrorCode.STATE,
                   match="Disk template 'drbd' in not allowed (allowed templates: plain)")


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (63, "1m 3s"), (3600, "1h 0m 0s"),
                                               (90061, "1d 1h 1m 1s")])
def test_format_seconds_as_ganeti(seconds: int, text: str) -> None:
    assert format_seconds(seconds) == text
