"""OpNodeQueryvols and OpNodeQueryStorage with a FakeNodeRpc."""

from __future__ import annotations

from typing import Any

from corral.cmdlib import node_storage  # noqa: F401  (registers the LUs)
from corral.errors import ErrorCode
from corral.objects import DiskTemplate, Node
from corral.opcodes.node import OpNodeQueryStorage, OpNodeQueryvols
from tests.support.config import instance_cluster, instance_with_disks
from tests.support.lu_harness import MakeHarness, expect_failure

VOL_FIELDS = ["node", "phys", "vg", "name", "size", "instance"]
ST_FIELDS = ["node", "type", "name", "size", "used", "free", "allocatable"]


def _volumes_cluster(make_harness: MakeHarness) -> Any:
    b = instance_cluster(nodes=3)
    b.node("node4", offline=True)
    inst = instance_with_disks(b, "vm1", b.data.nodes["node-node2"],
                               template=DiskTemplate.PLAIN, sizes=(512,))
    lv = b.data.disks[inst.disks[0]].logical_id[1]
    return make_harness(b), lv


def test_volumes_rows_with_owners_and_warnings(make_harness: MakeHarness) -> None:
    h, lv = _volumes_cluster(make_harness)
    h.rpc.script("node_volumes", "node2", payload=[
        {"name": "zz", "vg": "xenvg", "size": 64, "dev": "/dev/sdc"},
        {"name": lv, "vg": "xenvg", "size": 512, "dev": "/dev/sdb"},
        {"name": "swap", "vg": "system", "size": 128, "dev": "/dev/sda"},
    ])
    h.rpc.script("node_volumes", "node1", payload=[
        {"name": lv, "vg": "xenvg", "size": 512, "dev": "/dev/sdb"}])
    h.rpc.script("node_volumes", "node3", fail="Cannot list logical volumes: no lvs")
    rows = h.run_sync(OpNodeQueryvols(output_fields=VOL_FIELDS))
    assert rows == [
        ["node1", "/dev/sdb", "xenvg", lv, 512, "-"],
        ["node2", "/dev/sdb", "xenvg", lv, 512, "vm1"],
        ["node2", "/dev/sdc", "xenvg", "zz", 64, "-"],
    ]
    assert h.rpc.nodes_called("node_volumes") == ["node1", "node2", "node3"]
    assert h.feedback == ["WARNING: Can't compute volume data on node node3:"
                          " Cannot list logical volumes: no lvs"]


def test_volumes_of_named_nodes_and_chosen_fields(make_harness: MakeHarness) -> None:
    h, lv = _volumes_cluster(make_harness)
    h.rpc.script("node_volumes", payload=[{"name": lv, "vg": "xenvg", "size": 512,
                                           "dev": "/dev/sdb"}])
    rows = h.run_sync(OpNodeQueryvols(output_fields=["instance", "size"], nodes=["node2"]))
    assert rows == [["vm1", 512]]
    assert h.rpc.nodes_called("node_volumes") == ["node2"]


def test_volumes_refuse_unknown_field_and_node(make_harness: MakeHarness) -> None:
    h, _ = _volumes_cluster(make_harness)
    expect_failure(h, OpNodeQueryvols(output_fields=["name", "bogus"]), code=ErrorCode.INVAL,
                   match="Unknown output fields selected: bogus")
    expect_failure(h, OpNodeQueryvols(output_fields=["name"], nodes=["nosuch"]),
                   code=ErrorCode.NOENT, match="nosuch")
    assert h.rpc.calls_of("node_volumes") == []


def _units(node: Node, args: tuple[Any, ...]) -> list[list[Any]]:
    fields = args[3]
    units: dict[str, list[Any]] = {
        "name": ["/srv/b", "/srv/a"], "size": [100, 200], "used": [10, 20],
        "free": [90, 180], "allocatable": [True, True], "vg": ["xenvg", "xenvg"]}
    return [[units[f][i] for f in fields] for i in range(2)]


def test_storage_default_type_is_the_first_enabled(make_harness: MakeHarness) -> None:
    b = instance_cluster(nodes=2)
    b.node("node3", offline=True)
    h = make_harness(b)
    h.rpc.script("storage_list", fn=_units)
    rows = h.run_sync(OpNodeQueryStorage(output_fields=ST_FIELDS))
    assert rows == [
        ["node1", "file", "/srv/a", 200, 20, 180, True],
        ["node1", "file", "/srv/b", 100, 10, 90, True],
        ["node2", "file", "/srv/a", 200, 20, 180, True],
        ["node2", "file", "/srv/b", 100, 10, 90, True],
    ]
    (call, _) = h.rpc.calls_of("storage_list")
    assert call.args == ("file", [["/srv/corral/file-storage", "/srv/corral/shared-file-storage"]],
                         None, ["name", "size", "used", "free", "allocatable"])


def test_storage_lvm_pv_with_name_and_failed_node(make_harness: MakeHarness) -> None:
    h = make_harness(instance_cluster(nodes=2, enabled_disk_templates=("plain",)))
    h.rpc.script("storage_list", "node1", fn=_units)
    h.rpc.script("storage_list", "node2", fail="Volume group xenvg not found")
    op = OpNodeQueryStorage(output_fields=["vg", "node", "free"], storage_type="lvm-pv",
                            name="/srv/a", nodes=["node2", "node1"])
    assert h.run_sync(op) == [["xenvg", "node1", 180], ["xenvg", "node1", 90]]
    assert h.rpc.calls_of("storage_list")[0].args == ("lvm-pv", [], "/srv/a",
                                                      ["name", "vg", "free"])
    assert h.feedback == ["WARNING: Can't get storage data from node node2:"
                          " Volume group xenvg not found"]


def test_storage_plain_cluster_defaults_to_lvm_vg(make_harness: MakeHarness) -> None:
    h = make_harness(instance_cluster(nodes=1, enabled_disk_templates=("diskless", "plain",
                                                                       "file")))
    h.rpc.script("storage_list", fn=_units)
    rows = h.run_sync(OpNodeQueryStorage(output_fields=["type", "name"]))
    assert rows == [["lvm-vg", "/srv/a"], ["lvm-vg", "/srv/b"]]


def test_storage_refusals(make_harness: MakeHarness) -> None:
    h = make_harness(instance_cluster(nodes=1, enabled_disk_templates=("file",)))
    expect_failure(h, OpNodeQueryStorage(output_fields=["name", "vg"], storage_type="file"),
                   code=ErrorCode.INVAL, match="Unknown output fields selected: vg")
    expect_failure(h, OpNodeQueryStorage(output_fields=["name"], storage_type="rbd"),
                   code=ErrorCode.INVAL, match="Unknown storage type: rbd")
    expect_failure(h, OpNodeQueryStorage(output_fields=["name"], storage_type="lvm-pv"),
                   code=ErrorCode.INVAL, match="Storage type 'lvm-vg' is not enabled")
    assert h.rpc.calls_of("storage_list") == []
    d = make_harness(instance_cluster(nodes=1, enabled_disk_templates=("diskless",)))
    expect_failure(d, OpNodeQueryStorage(output_fields=["name"]), code=ErrorCode.INVAL,
                   match="No storage type is enabled")
