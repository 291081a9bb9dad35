"""A drbd instance after its creation: disks added, removed and grown on both nodes,
and the node and instance queries that show the secondary node."""

from __future__ import annotations

from typing import Any

from corral.cmdlib import generic_query, instance_disks, instance_set_params  # noqa: F401
from corral.cmdlib.common.instances.drbd import DrbdLogicalId, node_drbd_rows
from corral.cmdlib.node_storage import lv_owners
from corral.errors import ErrorCode
from corral.objects import DiskTemplate
from corral.opcodes.instance import (
    OpInstanceGrowDisk,
    OpInstanceRecreateDisks,
    OpInstanceSetParams,
)
from corral.opcodes.query import OpQuery
from tests.support.lu_harness import LuHarness, MakeHarness, expect_failure
from tests.unit.cmdlib.test_cmdlib_instance_drbd import NAME, create, harness


def created(make_harness: MakeHarness) -> LuHarness:
    h = harness(make_harness)
    h.run_sync(create())
    h.rpc.reset()
    return h


def disks(h: LuHarness) -> list[Any]:
    inst = h.data.instance_by_name(NAME)
    assert inst is not None
    return [h.data.disks[u] for u in inst.disks]


def test_an_added_disk_is_a_drbd_disk_on_both_nodes(make_harness: MakeHarness) -> None:
    h = created(make_harness)
    h.run_sync(OpInstanceSetParams(instance_name=NAME, disks=[["add", -1, {"size": 256}]]))
    new = disks(h)[1]
    lid = DrbdLogicalId.of(new)
    assert lid is not None
    assert (lid.secondary, lid.port, lid.primary_minor, lid.secondary_minor) == (
        "node-node2", 11001, 1, 1)
    assert new.iv_name == "disk/1"
    assert [h.data.disks[u].size for u in new.children] == [256, 128]
    made = [(c.node, c.args[0].dev_type.value) for c in h.rpc.calls_of("blockdev_create")]
    assert made == [("node1", "drbd"), ("node2", "drbd")]
    assert h.rpc.nodes_called("node_info") == ["node1", "node2"]
    h.assert_persisted()


def test_a_removed_disk_leaves_with_its_lvs(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    h.run_sync(create(disks=[{"size": 256}, {"size": 256}]))
    gone = disks(h)[1]
    h.run_sync(OpInstanceSetParams(instance_name=NAME, disks=[["remove", 1, {}]]))
    assert all(u not in h.data.disks for u in (gone.uuid, *gone.children))
    assert [row[1] for row in node_drbd_rows(h.data, "node1")] == [0]
    assert len(h.data.disks) == 3


def test_growing_records_the_data_lv_and_grows_the_device(make_harness: MakeHarness) -> None:
    h = created(make_harness)
    h.run_sync(OpInstanceGrowDisk(instance_name=NAME, disk=0, amount=512))
    disk = disks(h)[0]
    data, meta = (h.data.disks[u] for u in disk.children)
    assert (disk.size, data.size, meta.size) == (1536, 1536, 128)
    grows = [(c.node, c.args[2], c.args[3]) for c in h.rpc.calls_of("blockdev_grow")]
    assert grows == [("node1", True, True), ("node2", True, True),
                     ("node1", False, True), ("node2", False, True),
                     ("node1", False, False)]
    sides = [(c.node, c.args[0].dynamic_params.local_minor, len(c.args[0].child_disks))
             for c in h.rpc.calls_of("blockdev_grow")]
    lid = DrbdLogicalId.of(disk)
    assert lid is not None
    minor = {"node1": lid.primary_minor, "node2": lid.secondary_minor}
    assert sides == [(node, minor[node], 2) for node, _, _ in grows]


def test_queries_show_the_secondary(make_harness: MakeHarness) -> None:
    h = created(make_harness)
    inst = h.run_sync(OpQuery(what="instance", fields=["name", "snodes", "disk_template"]))
    assert [[v for _, v in row] for row in inst["data"]] == [[NAME, ["node2"], "drbd"]]
    fields = ["name", "pinst_list", "sinst_list", "pinst_cnt", "sinst_cnt"]
    nodes = h.run_sync(OpQuery(what="node", fields=fields))
    rows = {row[0][1]: [v for _, v in row[1:]] for row in nodes["data"]}
    assert rows["node1"] == [[NAME], [], 1, 0]
    assert rows["node2"] == [[], [NAME], 0, 1]
    assert rows["node3"] == [[], [], 0, 0]
    assert disks(h)[0].dev_type is DiskTemplate.DRBD


def test_both_lvs_on_both_nodes_belong_to_the_instance(make_harness: MakeHarness) -> None:
    h = created(make_harness)
    data, meta = (h.data.disks[u] for u in disks(h)[0].children)
    owners = lv_owners(h.data)
    for node in ("node-node1", "node-node2"):
        for lv in (data, meta):
            assert owners[(node, "xenvg", str(lv.logical_id[1]))] == NAME
    assert len(owners) == 4


def test_disks_are_recreated_on_both_nodes(make_harness: MakeHarness) -> None:
    h = created(make_harness)
    h.run_sync(OpInstanceRecreateDisks(instance_name=NAME))
    made = [(c.node, c.args[0].uuid, c.args[3]) for c in h.rpc.calls_of("blockdev_create")]
    uuid = disks(h)[0].uuid
    assert made == [("node1", uuid, True), ("node2", uuid, False)]


def test_recreating_on_other_nodes_is_refused(make_harness: MakeHarness) -> None:
    h = created(make_harness)
    expect_failure(h, OpInstanceRecreateDisks(instance_name=NAME, nodes=["node3"]),
                   code=ErrorCode.INVAL, match="not supported yet")
