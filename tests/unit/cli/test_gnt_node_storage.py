"""gnt-node volumes and list-storage against the fake LUXI server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from corral.cli import gnt_node
from corral.opcodes import decode_opcode

if TYPE_CHECKING:
    from tests.unit.cli.conftest import FakeLuxi, Runner


def _sent(luxi: FakeLuxi) -> dict[str, Any]:
    (op,) = luxi.submitted()
    decode_opcode(op)
    return {k: v for k, v in op.items() if k not in ("reason", "debug_level")}


VOLUMES = [["node1", "/dev/sdb", "xenvg", "disk0", 512, "vm1"],
           ["node1", "/dev/sdc", "xenvg", "scratch", 20480, "-"]]


def test_volumes_default_table(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(1, [VOLUMES])
    code, out, err = run(gnt_node.main, "volumes")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "Node  PhysDev  VG    Name     Size Instance",
        "node1 /dev/sdb xenvg disk0    512M vm1",
        "node1 /dev/sdc xenvg scratch 20.0G -",
    ]
    assert _sent(luxi) == {"OP_ID": "OP_NODE_QUERYVOLS", "nodes": [],
                           "output_fields": ["node", "phys", "vg", "name", "size", "instance"]}


def test_volumes_fields_separator_units_nodes(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(1, [[["disk0", 512], ["scratch", 20480]]])
    code, out, _ = run(gnt_node.main, "volumes", "--no-headers", "--separator=|",
                       "--units", "g", "-o", "name,size", "node1", "node2")
    assert (code, out) == (0, "disk0|0.5\nscratch|20.0\n")
    assert _sent(luxi) == {"OP_ID": "OP_NODE_QUERYVOLS", "nodes": ["node1", "node2"],
                           "output_fields": ["name", "size"]}


STORAGE = [["node1", "file", "/srv/ganeti/file-storage", 102400, 1024, 101376, True],
           ["node2", "file", "/srv/ganeti/file-storage", 102400, 0, 102400, False]]


def test_list_storage_default_type_and_fields(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(1, [STORAGE])
    code, out, err = run(gnt_node.main, "list-storage")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "Node  Type Name                       Size Used   Free Allocatable",
        "node1 file /srv/ganeti/file-storage 100.0G 1.0G  99.0G Y",
        "node2 file /srv/ganeti/file-storage 100.0G   0M 100.0G N",
    ]
    assert _sent(luxi) == {"OP_ID": "OP_NODE_QUERY_STORAGE", "nodes": [],
                           "output_fields": ["node", "type", "name", "size", "used", "free",
                                             "allocatable"]}


def test_list_storage_type_fields_and_nodes(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(1, [[["node2", "/dev/sdb", "xenvg", 1020, True],
                  ["node2", "/dev/sdc", "xenvg", 508, False]]])
    code, out, _ = run(gnt_node.main, "list-storage", "-t", "lvm-pv", "--units=m",
                       "-o", "node,name,vg,free,allocatable", "node2")
    assert code == 0
    assert out.splitlines() == [
        "Node  Name     VG    Free Allocatable",
        "node2 /dev/sdb xenvg 1020 Y",
        "node2 /dev/sdc xenvg  508 N",
    ]
    assert _sent(luxi) == {"OP_ID": "OP_NODE_QUERY_STORAGE", "nodes": ["node2"],
                           "storage_type": "lvm-pv",
                           "output_fields": ["node", "name", "vg", "free", "allocatable"]}


def test_list_storage_separator_no_headers(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(1, [[["xenvg", 1528, 100]]])
    code, out, _ = run(gnt_node.main, "list-storage", "--storage-type=lvm-vg",
                       "--no-headers", "--separator", ":", "-o", "name,size,used")
    assert (code, out) == (0, "xenvg:1528:100\n")


def test_list_storage_error_from_master(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(1, [["OpPrereqError", ["Unknown output fields selected: bogus", "wrong_input"]]],
             status="error")
    code, out, err = run(gnt_node.main, "list-storage", "-o", "bogus")
    assert code == 1
    assert out == ""
    assert err == ("Failure: prerequisites not met for this operation:\n"
                   "error type: wrong_input, error details:\n"
                   "Unknown output fields selected: bogus\n")


DRBD_ROWS = [["node2", 2, "db2", "disk/0", "primary", "node3"],
             ["node2", 0, "db1", "disk/0", "secondary", "node1"]]


def test_list_drbd_table(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryNodeDrbd", DRBD_ROWS)
    code, out, err = run(gnt_node.main, "list-drbd", "node2")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "Node  Minor Instance Disk   Role      PeerNode",
        "node2     0 db1      disk/0 secondary node1",
        "node2     2 db2      disk/0 primary   node3",
    ]
    assert luxi.args_of("QueryNodeDrbd") == [["node2"]]
    code, out, _ = run(gnt_node.main, "list-drbd", "--no-headers", "--separator=|", "node2")
    assert out.splitlines()[0] == "node2|0|db1|disk/0|secondary|node1"


def test_list_drbd_wants_one_node(run: Runner, luxi: FakeLuxi) -> None:
    code, _, err = run(gnt_node.main, "list-drbd")
    assert code != 0
    assert err
    assert luxi.args_of("QueryNodeDrbd") == []
    luxi.fail("QueryNodeDrbd", "OpPrereqError", "Node 'nodeX' not known", "unknown_entity")
    code, _, err = run(gnt_node.main, "list-drbd", "nodeX")
    assert code != 0
    assert "nodeX" in err
