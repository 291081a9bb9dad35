"""``gnt-instance modify -t mirror -n SECONDARY`` and ``-t file``: the primary's file
stays the disk, the secondary's half is created (or removed with its export), and the
refusals."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from corral.cmdlib import instance_create, instance_set_params  # noqa: F401
from corral.cmdlib.common.instances.drbd import used_ports
from corral.cmdlib.common.instances.mirror import MirrorLogicalId
from corral.errors import ErrorCode, OpExecError
from corral.objects import AdminState, DiskTemplate
from corral.opcodes.instance import OpInstanceSetParams
from corral.rpc.payloads import NodeDisk
from corral.rpc.results import NodeResult
from tests.support.lu_harness import LuHarness, MakeHarness, expect_failure
from tests.unit.cmdlib.test_cmdlib_disk_conversion import disks, inst, to
from tests.unit.cmdlib.test_cmdlib_instance_mirror import STORAGE, cluster, create

NAME = "vm1"


def file_instance(make_harness: MakeHarness, hypervisor: str = "kvm", **kw: Any) -> LuHarness:
    h = make_harness(kw.pop("b", None) or cluster())
    h.run_sync(create(NAME, node="node1", disk_template="file", hypervisor=hypervisor,
                      disks=[{"size": 256}, {"size": 128, "name": "data"}]))
    h.rpc.reset()
    h.feedback.clear()
    return h


def mirror_instance(make_harness: MakeHarness) -> LuHarness:
    h = make_harness(cluster())
    h.run_sync(create(NAME, node="node1:node2", disks=[{"size": 256, "mode": "ro"}]))
    h.rpc.reset()
    h.feedback.clear()
    return h


def test_file_to_mirror_keeps_the_file_and_creates_the_secondary_half(
        make_harness: MakeHarness) -> None:
    h = file_instance(make_harness)
    old = disks(h)
    assert h.run_sync(to("mirror", "node2")) == [["disk_template", "mirror"]]
    assert inst(h).disk_template is DiskTemplate.MIRROR
    new = disks(h)
    assert [d.uuid for d in new] == [d.uuid for d in old]
    for before, after in zip(old, new, strict=True):
        lid = MirrorLogicalId.of(after)
        assert lid is not None
        assert lid.path == before.logical_id[1], "the file path stays"
        assert str(lid.path).startswith(f"{STORAGE}/{NAME}/")
        assert (lid.address, lid.export) == ("10.0.0.2", after.uuid)
        assert after.nodes == ("node-node1", "node-node2")
        assert (after.size, after.name, after.iv_name) == (before.size, before.name,
                                                           before.iv_name)
    ports = {lid.port for d in new if (lid := MirrorLogicalId.of(d)) is not None}
    assert len(ports) == 2
    assert ports <= used_ports(h.data)
    created = h.rpc.calls_of("blockdev_create")
    assert [(c.node, c.args[0].dev_type, c.args[3]) for c in created] == [
        ("node2", DiskTemplate.MIRROR, False)] * 2
    assert h.rpc.nodes_called("blockdev_shutdown") == ["node1", "node1"]
    assert h.rpc.calls_of("mirror_export_start") == []
    assert any("copied to node node2 when it next starts" in line for line in h.feedback)
    assert not inst(h).disks_active
    h.assert_persisted()


def test_failed_half_removes_the_halves_made(make_harness: MakeHarness) -> None:
    h = file_instance(make_harness)
    old = disks(h)
    answers = iter([None, "No space left on device"])

    def create_half(node: Any, args: tuple[Any, ...]) -> Any:
        message = next(answers)
        if message is None:
            return None
        return NodeResult.failure(node.name, "blockdev_create", message)

    h.rpc.script("blockdev_create", fn=create_half)
    with pytest.raises(OpExecError, match="Can't create block device disk/1 on node node2"):
        h.run_sync(to("mirror", "node2"))
    [removed] = h.rpc.calls_of("blockdev_remove")
    assert (removed.node, removed.args[0].uuid) == ("node2", old[0].uuid)
    assert disks(h) == old
    assert inst(h).disk_template is DiskTemplate.FILE


def test_mirror_to_file_removes_the_secondary_half_and_its_export(
        make_harness: MakeHarness) -> None:
    h = mirror_instance(make_harness)
    [old] = disks(h)
    lid = MirrorLogicalId.of(old)
    assert lid is not None
    assert h.run_sync(to("file")) == [["disk_template", "file"]]
    [new] = disks(h)
    assert (new.uuid, new.dev_type, new.logical_id, new.nodes) == (
        old.uuid, DiskTemplate.FILE, ("loop", lid.path), ("node-node1",))
    assert (new.mode.value, new.size) == ("ro", 256)
    assert h.rpc.nodes_called("mirror_export_stop") == ["node2"]
    [removed] = h.rpc.calls_of("blockdev_remove")
    sent: NodeDisk = removed.args[0]
    assert (removed.node, sent.dev_type, sent.logical_id) == ("node2", DiskTemplate.MIRROR,
                                                              old.logical_id)
    assert lid.port not in used_ports(h.data), "the export port is free again"
    h.assert_persisted()


def test_round_trip_keeps_the_path(make_harness: MakeHarness) -> None:
    h = file_instance(make_harness)
    old = disks(h)
    h.run_sync(to("mirror", "node3"))
    h.run_sync(to("file"))
    assert [(d.uuid, d.logical_id, d.dev_type) for d in disks(h)] == [
        (d.uuid, d.logical_id, DiskTemplate.FILE) for d in old]


@pytest.mark.parametrize(("op", "code", "match"), [
    (to("mirror", "node1"), ErrorCode.STATE, "is the same as the primary node"),
    (to("mirror"), ErrorCode.INVAL, "requires a secondary node"),
    (to("drbd", "node2"), ErrorCode.INVAL,
     "Conversion from the 'file' disk template to 'drbd' is not supported; Corral converts"
     " plain -> drbd, drbd -> plain, file -> mirror, mirror -> file"),
])
def test_bad_conversions_are_refused(make_harness: MakeHarness, op: OpInstanceSetParams,
                                     code: ErrorCode, match: str) -> None:
    h = file_instance(make_harness)
    expect_failure(h, op, code=code, match=match)


def test_mirror_needs_kvm(make_harness: MakeHarness) -> None:
    h = file_instance(make_harness, hypervisor="fake")
    expect_failure(h, to("mirror", "node2"), code=ErrorCode.INVAL,
                   match="Disk template 'mirror' needs the kvm hypervisor")


@pytest.mark.parametrize(("flags", "what"), [
    ({"offline": True}, "Can't use offline node: node2"),
    ({"drained": True}, "Can't use drained node node2"),
])
def test_unusable_secondary(make_harness: MakeHarness, flags: dict[str, Any],
                            what: str) -> None:
    b = cluster()
    b.data.put(msgspec.structs.replace(b.data.nodes["node-node2"], **flags))
    h = file_instance(make_harness, b=b)
    expect_failure(h, to("mirror", "node2"), code=ErrorCode.STATE, match=what)


def test_space_on_the_secondary(make_harness: MakeHarness) -> None:
    h = file_instance(make_harness)
    h.rpc.script("node_info", "node2", payload={
        "memory_total": 4096, "memory_free": 2048,
        "storage": [{"type": "file", "name": STORAGE, "storage_free": 300,
                     "storage_size": 1000}]})
    expect_failure(h, to("mirror", "node2"), code=ErrorCode.NORES,
                   match=f"Not enough disk space on target node node2 directory {STORAGE}:"
                   " required 384 MiB, available 300 MiB")


def test_running_instance_is_refused(make_harness: MakeHarness) -> None:
    h = mirror_instance(make_harness)
    asyncio.run(h.writer.commit(inst(h).evolve(0, admin_state=AdminState.UP)))
    expect_failure(h, to("file"), code=ErrorCode.STATE,
                   match="marked to be up, cannot change disk template")
