"""``gnt-instance replace-disks`` of drbd instances on the master: each mode's node calls
and configuration, the resync progress in the job log, and the refusals."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import msgspec
import pytest

from corral.cmdlib import instance_replace_disks, node_evacuate  # noqa: F401  (registers)
from corral.cmdlib.common.instances.disk_sync import format_seconds
from corral.errors import ErrorCode, OpExecError
from corral.objects import Node
from corral.objects.instance import AdminState
from corral.opcodes import decode_opcode
from corral.opcodes.mobility import OpInstanceReplaceDisks, OpNodeEvacuate, ReplaceDisksMode
from corral.rpc.payloads import DeviceRename, MirrorStatus
from corral.rpc.results import NodeResult
from corral.storage.base import LDiskStatus
from tests.support.lu_harness import LuHarness, MakeHarness, expect_failure
from tests.unit.cmdlib.test_cmdlib_instance_drbd import (
    HAIL,
    NAME,
    cluster,
    create,
    harness,
    lvm_free,
    the_disk,
)


def replace(mode: ReplaceDisksMode, **kw: Any) -> OpInstanceReplaceDisks:
    return OpInstanceReplaceDisks(instance_name=NAME, mode=mode, **kw)


def status(percent: float | None = None, eta: int | None = None, degraded: bool = False,
           ldisk: LDiskStatus = LDiskStatus.OKAY) -> MirrorStatus:
    return MirrorStatus(dev_path="/dev/drbd0", major=147, minor=0, sync_percent=percent,
                        estimated_time=eta, is_degraded=degraded or percent is not None,
                        ldisk_status=int(ldisk))


def found(node: Node, args: tuple[Any, ...]) -> dict[str, Any]:
    return {"logical_id": [], "path": "/dev/drbd0", "is_degraded": False, "ldisk_status": 1}


def ready(make_harness: MakeHarness, *, running: bool = True) -> LuHarness:
    """A drbd instance on node1:node2 (running, its disks active) whose nodes answer as
    healthy ones."""
    h = harness(make_harness, cluster(nodes=3))
    h.run_sync(create())
    inst = h.data.instance_by_name(NAME)
    assert inst is not None
    if running:
        asyncio.run(h.writer.commit(inst.evolve(h.clock.now(), admin_state=AdminState.UP,
                                                disks_active=True)))
    h.rpc.script("blockdev_find", fn=found)
    h.rpc.script("blockdev_getmirrorstatus",
                 fn=lambda node, args: [status() for _ in args[0]])
    h.rpc.reset()
    h.feedback.clear()
    return h


def set_node(h: LuHarness, name: str, **flags: Any) -> None:
    node = h.data.nodes[f"node-{name}"]
    asyncio.run(h.writer.commit(msgspec.structs.replace(node, **flags)))


def sequence(h: LuHarness) -> list[tuple[str, str]]:
    """(call, node) of the calls that change something, in order."""
    changing = {"blockdev_create", "blockdev_remove", "blockdev_shutdown", "blockdev_assemble",
                "drbd_disconnect_net", "drbd_attach_net", "blockdev_removechildren",
                "blockdev_addchildren", "blockdev_rename"}
    return [(c.name, c.node) for c in h.rpc.calls if c.name in changing]


# --- replace_new_secondary ------------------------------------------------------------------


def test_new_secondary_moves_the_secondary_half(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    before, old = the_disk(h)
    old_children = [h.data.disks[u] for u in before.children]
    assert h.run_sync(replace("replace_new_secondary", remote_node="node3")) is None
    disk, lid = the_disk(h)
    assert (lid.primary, lid.secondary) == ("node-node1", "node-node3")
    assert (lid.port, lid.primary_minor, lid.secondary_minor, lid.secret) == (
        old.port, old.primary_minor, 0, old.secret)
    assert disk.nodes == ("node-node1", "node-node3")
    assert disk.children == before.children
    assert [h.data.disks[u].nodes for u in disk.children] == [disk.nodes] * 2
    assert sequence(h) == [
        ("blockdev_create", "node3"), ("drbd_disconnect_net", "node3"),
        ("blockdev_shutdown", "node2"), ("drbd_disconnect_net", "node1"),
        ("drbd_attach_net", "node1"), ("drbd_attach_net", "node3"),
        ("blockdev_remove", "node2"), ("blockdev_remove", "node2")]
    created = h.rpc.calls_of("blockdev_create")[0].args[0]
    assert created.dynamic_params.local_minor == 0
    assert created.dynamic_params.remote_minor == old.primary_minor
    attached = {c.node: c.args[0][0].dynamic_params for c in h.rpc.calls_of("drbd_attach_net")}
    assert attached["node1"].remote_minor == attached["node3"].local_minor == 0
    assert [c.args[0].logical_id for c in h.rpc.calls_of("blockdev_remove")] == [
        c.logical_id for c in old_children]
    assert [line for line in h.feedback if line.startswith("STEP")] == [
        "STEP 1/6 Check device existence", "STEP 2/6 Check peer consistency",
        "STEP 3/6 Allocate new storage", "STEP 4/6 Changing drbd configuration",
        "STEP 5/6 Sync devices", "STEP 6/6 Removing old storage"]
    assert h.ctx.drbd.minors("node-node3") == set()
    h.assert_persisted()


def test_resync_progress_is_logged_at_every_poll(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    # the first answer is step 2's consistency check, the next ones the resync's
    answers = iter([[status()], [status(12.5, 65)], [status(60.0, None)]])
    h.rpc.script("blockdev_getmirrorstatus",
                 fn=lambda node, args: next(answers, [status()]))
    h.run_sync(replace("replace_new_secondary", remote_node="node3"))
    progress = [line for line in h.feedback if "% done" in line]
    assert progress == [" - INFO: - device disk/0: 12.50% done, 1m 5s remaining (estimated)",
                        " - INFO: - device disk/0: 60.00% done, no time estimate"]
    assert " - INFO: Instance db1.example.com's disks are in sync" in h.feedback


def test_offline_old_secondary_only_warns(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    set_node(h, "node2", offline=True)
    h.run_sync(replace("replace_new_secondary", remote_node="node3"))
    _, lid = the_disk(h)
    assert lid.secondary == "node-node3"
    assert any("automatically enabling early-release" in line for line in h.feedback)
    assert any("Failed to shutdown drbd for disk/0 on old node" in line for line in h.feedback)
    assert any("Can't remove old LV" in line for line in h.feedback)
    assert "node2" not in {node for _, node in sequence(h)}


def test_allocator_chooses_the_new_secondary(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    h.run_sync(replace("replace_new_secondary", iallocator="corral"))
    _, lid = the_disk(h)
    assert lid.secondary == "node-node3"
    assert " - INFO: Selected new secondary for instance 'db1.example.com': node3" \
        in h.feedback


def test_stopped_instance_disks_are_activated_then_shut_down(
        make_harness: MakeHarness) -> None:
    h = ready(make_harness, running=False)
    inst = h.data.instance_by_name(NAME)
    assert inst is not None
    assert inst.admin_state is AdminState.DOWN
    assert not inst.disks_active
    h.run_sync(replace("replace_new_secondary", remote_node="node3"))
    calls = sequence(h)
    assert calls[0] == ("blockdev_assemble", "node1")
    assert calls[-2:] == [("blockdev_shutdown", "node1"), ("blockdev_shutdown", "node3")]


def test_attach_failure_is_an_error_naming_the_node(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    h.rpc.script("drbd_attach_net", "node3", fail="Timeout in disk reconnecting")
    with pytest.raises(OpExecError, match="Can't attach drbd disks on node node3: Timeout"):
        h.run_sync(replace("replace_new_secondary", remote_node="node3"))


def test_create_failure_leaves_the_configuration(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    before = the_disk(h)
    h.rpc.script("blockdev_create", "node3", fail="vg full")
    with pytest.raises(OpExecError, match="Can't create block device disk/0 on node node3"):
        h.run_sync(replace("replace_new_secondary", remote_node="node3"))
    assert the_disk(h) == before
    assert ("drbd_disconnect_net", "node1") not in sequence(h)


def test_disconnect_failure_removes_the_new_devices(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    h.rpc.script("drbd_disconnect_net", "node1", fail="busy")
    with pytest.raises(OpExecError, match="Can't detach the disks from the network"):
        h.run_sync(replace("replace_new_secondary", remote_node="node3"))
    assert sequence(h)[-1] == ("blockdev_remove", "node3")
    assert the_disk(h)[1].secondary == "node-node2"


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(("op", "code", "match"), [
    (replace("replace_new_secondary", remote_node="node1"), ErrorCode.INVAL,
     "is the primary node of the instance"),
    (replace("replace_new_secondary", remote_node="node2"), ErrorCode.INVAL,
     "already the secondary node"),
    (replace("replace_new_secondary"), ErrorCode.INVAL, "iallocator script must be used"),
    (replace("replace_new_secondary", remote_node="node3", iallocator="hail"),
     ErrorCode.INVAL, "not both"),
    (replace("replace_on_secondary", remote_node="node3"), ErrorCode.INVAL,
     "only be used when changing the secondary"),
    (replace("replace_new_secondary", remote_node="node3", disks=[0]), ErrorCode.INVAL,
     "Cannot specify disks"),
    (replace("replace_on_secondary", disks=[3]), ErrorCode.INVAL, "Invalid disk index 3"),
    (replace("replace_new_secondary", remote_node="node9"), ErrorCode.NOENT, "node9"),
], ids=["primary", "secondary", "no-node", "both", "node-without-chg", "disks-with-chg",
        "bad-index", "unknown"])
def test_bad_arguments_are_refused(make_harness: MakeHarness, op: OpInstanceReplaceDisks,
                                   code: ErrorCode, match: str) -> None:
    h = ready(make_harness)
    expect_failure(h, op, code=code, match=match)
    assert sequence(h) == []


@pytest.mark.parametrize(("flags", "match"), [
    ({"offline": True}, "Can't use offline node: node3"),
    ({"drained": True}, "Can't use drained node node3"),
], ids=["offline", "drained"])
def test_unusable_new_secondary_is_refused(make_harness: MakeHarness, flags: dict[str, Any],
                                           match: str) -> None:
    h = ready(make_harness)
    set_node(h, "node3", **flags)
    expect_failure(h, replace("replace_new_secondary", remote_node="node3"),
                   code=ErrorCode.STATE, match=match)


def test_not_enough_space_on_the_new_secondary(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    h.rpc.script("node_info", "node3", fn=lvm_free(500))
    expect_failure(h, replace("replace_new_secondary", remote_node="node3"),
                   code=ErrorCode.NORES, match="Not enough disk space on target node node3")


def test_only_mirrored_instances(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    h.run_sync(create(name="p1", node="node1", disk_template="plain"))
    op = OpInstanceReplaceDisks(instance_name="p1", mode="replace_on_secondary")
    expect_failure(h, op, code=ErrorCode.INVAL,
                   match="Can only run replace disks for DRBD8-based (and mirror) instances")


# --- replace_on_secondary / replace_on_primary ---------------------------------------------


@pytest.mark.parametrize(("mode", "node"), [("replace_on_secondary", "node2"),
                                            ("replace_on_primary", "node1")])
def test_local_replacement_swaps_the_volumes(make_harness: MakeHarness, mode: ReplaceDisksMode,
                                             node: str) -> None:
    h = ready(make_harness)
    before = the_disk(h)
    names = [str(h.data.disks[u].logical_id[1]) for u in before[0].children]
    h.run_sync(replace(mode))
    assert the_disk(h) == before, "the configuration does not change"
    assert sequence(h) == [
        ("blockdev_create", node), ("blockdev_create", node),
        ("blockdev_removechildren", node), ("blockdev_rename", node),
        ("blockdev_rename", node), ("blockdev_addchildren", node),
        ("blockdev_remove", node), ("blockdev_remove", node)]
    new = [c.args[0].logical_id[1] for c in h.rpc.calls_of("blockdev_create")]
    assert [n.rpartition(".")[2] for n in new] == ["disk0_data", "disk0_meta"]
    renames: list[list[DeviceRename]] = [c.args[0] for c in h.rpc.calls_of("blockdev_rename")]
    aside = [r.unique_id[1] for r in renames[0]]
    assert [r.disk.logical_id[1] for r in renames[0]] == names
    assert all(a.startswith(f"{n}_replaced-") for a, n in zip(aside, names, strict=True))
    assert [(r.disk.logical_id[1], r.unique_id[1]) for r in renames[1]] == list(
        zip(new, names, strict=True))
    assert [c.args[1][0].logical_id[1] for c in h.rpc.calls_of("blockdev_addchildren")] == [
        names[0]]
    assert [c.args[0].logical_id[1] for c in h.rpc.calls_of("blockdev_remove")] == aside


def test_degraded_peer_is_refused(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    h.rpc.script("blockdev_getmirrorstatus", "node1",
                 fn=lambda node, args: [status(degraded=True)])
    with pytest.raises(OpExecError, match="Node node1 has degraded storage"):
        h.run_sync(replace("replace_on_secondary"))
    assert sequence(h) == []


def test_missing_device_is_an_error(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    h.rpc.script("blockdev_find", "node2", fail="not assembled")
    with pytest.raises(OpExecError, match="Can't find disk/0 on node node2: not assembled"):
        h.run_sync(replace("replace_on_secondary"))


# --- replace_auto ---------------------------------------------------------------------------


def test_auto_with_nothing_faulty_says_so(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    h.run_sync(replace("replace_auto"))
    assert "No disks need replacement for instance 'db1.example.com'" in h.feedback
    assert sequence(h) == []


def test_auto_replaces_the_faulty_side(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    h.rpc.script("blockdev_getmirrorstatus", "node2",
                 fn=lambda node, args: [status(degraded=True, ldisk=LDiskStatus.FAULTY)])
    h.run_sync(replace("replace_auto"))
    assert {node for call, node in sequence(h) if call == "blockdev_create"} == {"node2"}


def test_auto_refuses_faults_on_both_sides(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    h.rpc.script("blockdev_getmirrorstatus",
                 fn=lambda node, args: [status(degraded=True, ldisk=LDiskStatus.FAULTY)])
    expect_failure(h, replace("replace_auto"), code=ErrorCode.STATE,
                   match="faulty disks on more than one node")


def test_auto_needs_active_disks(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    h.rpc.script("blockdev_find", "node2", fn=lambda node, args: NodeResult(
        node="node2", call="blockdev_find", payload=None))
    expect_failure(h, replace("replace_auto"), code=ErrorCode.STATE,
                   match="Please run activate-disks")


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (7, "7s"), (65, "1m 5s"),
                                               (3600, "1h 0m 0s"), (90061, "1d 1h 1m 1s")])
def test_format_seconds(seconds: int, text: str) -> None:
    assert format_seconds(seconds) == text


# --- gnt-node evacuate -s -------------------------------------------------------------------


def test_evacuate_secondaries_to_a_remote_node(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    result = h.run_sync(OpNodeEvacuate(node_name="node2", mode="secondary-only",
                                       remote_node="node3", early_release=True))
    assert result == {"jobs": [[{
        **msgspec.to_builtins(replace("replace_new_secondary", remote_node="node3",
                                      early_release=True))}]]}
    assert "Instance db1.example.com: replace the secondary with node3" in h.feedback


def test_evacuate_secondaries_with_an_allocator(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    result = h.run_sync(OpNodeEvacuate(node_name="node2", mode="all", iallocator="hail"))
    [[op]] = result["jobs"]
    assert (op["OP_ID"], op["mode"], op["iallocator"], op["remote_node"]) == (
        "OP_INSTANCE_REPLACE_DISKS", "replace_new_secondary", "hail", None)
    assert h.rpc.calls_of("node_info") == [], "the job asks the allocator when it runs"


def test_evacuate_secondaries_refuses_the_primary_as_remote(
        make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    expect_failure(h, OpNodeEvacuate(node_name="node2", mode="secondary-only",
                                     remote_node="node1"),
                   code=ErrorCode.INVAL, match="Node node1 is the primary node of instance")


def test_evacuated_secondaries_then_replace(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    result = h.run_sync(OpNodeEvacuate(node_name="node2", mode="secondary-only",
                                       iallocator="corral"))
    [[op]] = result["jobs"]
    h.run_sync(decode_opcode(op))
    assert the_disk(h)[1].secondary == "node-node3"


@pytest.mark.skipif(not os.access(HAIL, os.X_OK), reason="Debian's hail is not installed")
def test_hail_chooses_the_new_secondary(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    h.run_sync(replace("replace_new_secondary", iallocator="hail"))
    _, lid = the_disk(h)
    assert lid.secondary == "node-node3"
    assert " - INFO: Selected new secondary for instance 'db1.example.com': node3" \
        in h.feedback


def test_stopped_instance_local_replacement_assembles_both_sides(
        make_harness: MakeHarness) -> None:
    h = ready(make_harness, running=False)
    h.run_sync(replace("replace_on_secondary"))
    calls = sequence(h)
    assert calls[:2] == [("blockdev_assemble", "node2"), ("blockdev_assemble", "node1")]
    assert calls[-2:] == [("blockdev_shutdown", "node1"), ("blockdev_shutdown", "node2")]
    assert ("blockdev_addchildren", "node2") in calls
    inst = h.data.instance_by_name(NAME)
    assert inst is not None
    assert not inst.disks_active
