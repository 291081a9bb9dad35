"""What the master sends nodes about drbd disks: each node's ``NodeDisk`` (children and
its side of the mirror) in every disk call and in the bundle that starts an instance."""

from __future__ import annotations

import pytest

from corral.cmdlib import instance_ops  # noqa: F401
from corral.cmdlib.common.instances.node_disks import node_disk
from corral.errors import OpExecError
from corral.objects import DiskTemplate
from corral.objects.instance import Disk
from corral.objects.node_disk import DrbdLink, NodeDisk
from corral.opcodes.instance import OpInstanceRemove, OpInstanceShutdown, OpInstanceStartup
from tests.support.config import ConfigBuilder
from tests.support.lu_harness import LuHarness, MakeHarness
from tests.unit.cmdlib.test_cmdlib_instance_drbd import NAME, create, harness, the_disk

IPS = {"node1": "192.0.2.1", "node2": "192.0.2.2", "node3": "192.0.2.3"}


def _two_instances(make_harness: MakeHarness) -> LuHarness:
    """db0 on node1:node3 first, so the disk under test has minors 1 (node1), 0 (node2)."""
    h = harness(make_harness)
    h.run_sync(create(name="db0", node="node1:node3"))
    h.rpc.reset()
    h.run_sync(create())
    return h


def _sides(h: LuHarness, call: str) -> list[tuple[str, DrbdLink | None, list[str]]]:
    """(node, drbd side, children's logical id tails) per ``call`` on the disk of NAME."""
    disk, _ = the_disk(h)
    found = []
    for c in h.rpc.calls_of(call):
        sent = c.args[0]
        assert isinstance(sent, NodeDisk)
        if sent.uuid == disk.uuid:
            found.append((c.node, sent.dynamic_params,
                          [str(child.logical_id[1]).rpartition(".")[2]
                           for child in sent.child_disks]))
    return found


def test_creation_sends_each_node_its_side_and_the_lvs(make_harness: MakeHarness) -> None:
    h = _two_instances(make_harness)
    disk, lid = the_disk(h)
    assert (lid.primary_minor, lid.secondary_minor) == (1, 0)
    assert _sides(h, "blockdev_create") == [
        ("node1", DrbdLink(local_ip=IPS["node1"], remote_ip=IPS["node2"], local_minor=1,
                           remote_minor=0), ["disk0_data", "disk0_meta"]),
        ("node2", DrbdLink(local_ip=IPS["node2"], remote_ip=IPS["node1"], local_minor=0,
                           remote_minor=1), ["disk0_data", "disk0_meta"]),
    ]
    sent = next(c.args[0] for c in h.rpc.calls_of("blockdev_create") if c.node == "node1")
    assert [c.uuid for c in sent.child_disks] == list(disk.children)
    assert [c.size for c in sent.child_disks] == [1024, 128]
    assert all(c.dev_type is DiskTemplate.PLAIN and c.dynamic_params is None
               for c in sent.child_disks)


def test_startup_assembles_the_secondary_then_the_primary_and_starts_there(
        make_harness: MakeHarness) -> None:
    h = _two_instances(make_harness)
    h.rpc.reset()
    h.run_sync(OpInstanceStartup(instance_name=NAME))
    order = [(c.node, c.args[2]) for c in h.rpc.calls_of("blockdev_assemble")]
    assert order == [("node2", False), ("node1", True)]
    assert [side.local_minor for _, side, _ in _sides(h, "blockdev_assemble") if side] == [0, 1]
    [start] = h.rpc.calls_of("instance_start")
    assert start.node == "node1"
    [sent] = start.args[0].disks
    assert sent.dynamic_params == DrbdLink(local_ip=IPS["node1"], remote_ip=IPS["node2"],
                                           local_minor=1, remote_minor=0)
    assert len(sent.child_disks) == 2
    h.rpc.reset()
    h.run_sync(OpInstanceShutdown(instance_name=NAME))
    assert [(node, side is not None) for node, side, _ in _sides(h, "blockdev_shutdown")] == [
        ("node1", True), ("node2", True)]


def test_removal_sends_the_lvs_with_the_device(make_harness: MakeHarness) -> None:
    h = _two_instances(make_harness)
    h.rpc.reset()
    h.run_sync(OpInstanceRemove(instance_name=NAME))
    removed = [(c.node, [str(x.logical_id[1]).rpartition(".")[2] for x in c.args[0].child_disks],
                c.args[0].dynamic_params is not None)
               for c in h.rpc.calls_of("blockdev_remove")]
    assert removed == [("node1", ["disk0_data", "disk0_meta"], True),
                       ("node2", ["disk0_data", "disk0_meta"], True)]


def _config() -> tuple[ConfigBuilder, Disk, Disk]:
    b = ConfigBuilder()
    b.node("a", secondary_ip="10.0.0.1")
    b.node("b", secondary_ip="10.0.0.2")
    b.node("c")
    data = Disk(uuid="lv-data", dev_type=DiskTemplate.PLAIN, size=512,
                logical_id=("xenvg", "x.disk0_data"), nodes=("node-a", "node-b"))
    meta = Disk(uuid="lv-meta", dev_type=DiskTemplate.PLAIN, size=128,
                logical_id=("xenvg", "x.disk0_meta"), nodes=("node-a", "node-b"))
    drbd = Disk(uuid="drbd", dev_type=DiskTemplate.DRBD, size=512, iv_name="disk/0",
                logical_id=("node-a", "node-b", 11003, 4, 7, "secret"),
                children=("lv-data", "lv-meta"), nodes=("node-a", "node-b"))
    b.data.put(data)
    b.data.put(meta)
    return b, drbd, data


def test_the_secondary_ips_link_the_two_sides() -> None:
    b, drbd, data = _config()
    sent = node_disk(b.data, drbd, "node-b", [drbd])
    assert sent.dynamic_params == DrbdLink(local_ip="10.0.0.2", remote_ip="10.0.0.1",
                                           local_minor=7, remote_minor=4)
    assert sent.child_disks[0] == node_disk(b.data, data, "node-b")


def test_a_plain_disk_is_sent_as_configured() -> None:
    b, _, data = _config()
    sent = node_disk(b.data, data, "node-a")
    assert (sent.child_disks, sent.dynamic_params) == ((), None)
    assert all(getattr(sent, f) == getattr(data, f) for f in Disk.__struct_fields__)


def test_a_drbd_disk_is_not_sent_to_a_third_node_nor_without_its_lvs() -> None:
    b, drbd, _ = _config()
    with pytest.raises(OpExecError, match="not on node c"):
        node_disk(b.data, drbd, "node-c")
    del b.data.disks["lv-meta"]
    with pytest.raises(OpExecError, match="child disk lv-meta"):
        node_disk(b.data, drbd, "node-a")
