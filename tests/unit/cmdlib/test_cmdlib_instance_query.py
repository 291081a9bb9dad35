"""Instance data, console, OS diagnose and live instance status in queries."""

from __future__ import annotations

from typing import Any

import pytest

from corral.cmdlib import generic_query, instance_query, os  # noqa: F401  (registers the LUs)
from corral.errors import ErrorCode, OpExecError
from corral.objects import AdminState, Nic, Node
from corral.opcodes.instance import OpInstanceConsole, OpInstanceQueryData
from corral.opcodes.os import OpOsDiagnose
from corral.opcodes.query import OpQuery
from corral.rpc.results import NodeResult
from tests.support.config import instance_cluster, instance_with_disks
from tests.support.lu_harness import MakeHarness, expect_failure

RS_NORMAL = 0


def test_query_data_has_ganeti_keys(make_harness: MakeHarness) -> None:
    b = instance_cluster(nodes=2, hvparams={"fake": {"migration_mode": "non-live"}})
    instance_with_disks(b, "vm1", b.data.nodes["node-node2"], sizes=(1024,),
                        admin_state=AdminState.UP, beparams={"vcpus": 2},
                        osparams={"a": "1"}, tags=("t1",),
                        nics=(Nic(uuid="nic0", mac="aa:00:00:00:00:01", ip="192.0.2.9",
                                  name="eth0"),))
    h = make_harness(b)
    h.rpc.script("instance_info", payload={"state": "running", "memory": 128})
    h.rpc.script("blockdev_find", payload={"path": "/srv/x", "is_degraded": False,
                                           "sync_percent": None, "ldisk_status": 1})
    result = h.run_sync(OpInstanceQueryData(instances=["vm1"]))
    data = result["vm1"]
    assert set(data) == {
        "name", "config_state", "run_state", "pnode", "pnode_group_uuid", "pnode_group_name",
        "snodes", "snodes_group_uuids", "snodes_group_names", "os", "network_port",
        "hypervisor", "hv_instance", "hv_actual", "be_instance", "be_actual", "os_instance",
        "os_actual", "nics", "disk_template", "disks", "uuid", "serial_no", "ctime", "mtime",
        "admin_state", "admin_state_source", "tags"}
    assert (data["config_state"], data["run_state"]) == ("up", "up")
    assert (data["pnode"], data["pnode_group_name"], data["snodes"]) == (
        "node2", "default", [])
    assert data["nics"] == [["eth0", "nic0", "192.0.2.9", "aa:00:00:00:00:01", "bridged",
                             "br0", "", None, None]]
    assert data["be_actual"]["vcpus"] == 2
    assert data["be_instance"] == {"vcpus": 2}
    assert "migration_mode" not in data["hv_actual"]
    assert data["os_actual"] == {"a": "1"}
    assert data["tags"] == ["t1"]
    disk = data["disks"][0]
    assert disk["iv_name"] == "disk/0"
    assert disk["dev_type"] == "file"
    assert disk["pstatus"] == ["/srv/x", None, None, None, None, False, 1]
    assert disk["sstatus"] is None
    assert disk["children"] == []


def test_query_data_static_and_down(make_harness: MakeHarness) -> None:
    b = instance_cluster(nodes=2)
    instance_with_disks(b, "vm1", b.data.nodes["node-node2"], admin_state=AdminState.UP)
    instance_with_disks(b, "vm2", b.data.nodes["node-node1"])
    h = make_harness(b)
    static = h.run_sync(OpInstanceQueryData(static=True))
    assert sorted(static) == ["vm1", "vm2"]
    assert static["vm1"]["run_state"] is None
    assert static["vm1"]["disks"][0]["pstatus"] is None
    assert h.rpc.calls_of("instance_info") == []
    live = h.run_sync(OpInstanceQueryData(instances=["vm1", "vm2"]))
    assert (live["vm1"]["run_state"], live["vm2"]["run_state"]) == ("down", "down")
    expect_failure(h, OpInstanceQueryData(instances=["ghost"]), code=ErrorCode.NOENT,
                   match="Instance 'ghost' not known")


def test_console_of_a_running_instance(make_harness: MakeHarness) -> None:
    b = instance_cluster(nodes=2)
    instance_with_disks(b, "vm1", b.data.nodes["node-node2"], admin_state=AdminState.UP)
    h = make_harness(b)
    with pytest.raises(OpExecError, match=r"Instance vm1 is not running \(state ERROR_down\)"):
        h.run_sync(OpInstanceConsole(instance_name="vm1"))
    h.rpc.script("instance_info", payload={"state": "running"})
    h.rpc.script("instance_console_info", payload={
        "instance": "vm1", "kind": "socket", "host": "node-node2", "port": None,
        "user": "root", "command": ["socat", "stdio", "unix-connect:/x"], "display": None,
        "message": "", "path": "/x"})
    console = h.run_sync(OpInstanceConsole(instance_name="vm1"))
    assert console["host"] == "192.0.2.2"
    assert console["kind"] == "socket"
    assert console["command"][0] == "socat"


def _os(name: str, valid: bool = True, variants: tuple[str, ...] = (),
        api: tuple[int, ...] = (20,), trusted: bool = True) -> dict[str, Any]:
    return {"name": name, "path": f"/srv/os/{name}", "valid": valid,
            "error": "" if valid else "missing script 'create'", "variants": list(variants),
            "parameters": [["size", "root size"]], "api_versions": list(api),
            "trusted": trusted}


def test_os_diagnose_merges_node_answers(make_harness: MakeHarness) -> None:
    b = instance_cluster(nodes=3, hidden_os=("hidden",))
    b.data.put(b.data.nodes["node-node3"].evolve(0.0, offline=True))
    h = make_harness(b)
    answers = {
        "node1": [_os("busybox", variants=("a", "b")), _os("broken", valid=False),
                  _os("hidden"), _os("onlyone")],
        "node2": [_os("busybox", variants=("b", "c"), api=(15, 20)),
                  _os("broken"), _os("hidden")],
    }
    h.rpc.script("os_diagnose", fn=lambda node, args: answers[node.name])
    rows = h.run_sync(OpOsDiagnose(output_fields=["name", "variants", "api_versions"]))
    assert rows == [["busybox", ["b"], [20]]]
    rows = h.run_sync(OpOsDiagnose(output_fields=["name", "valid", "hidden", "node_status"]))
    names = {row[0]: row for row in rows}
    assert sorted(names) == ["broken", "busybox", "hidden", "onlyone"]
    assert names["broken"][1] is False
    assert names["onlyone"][1] is False
    assert names["hidden"][1:3] == [True, True]
    assert names["busybox"][3]["node1"][0][:3] == ["/srv/os/busybox", True, ""]
    assert names["onlyone"][3]["node2"] == []
    assert set(h.rpc.nodes_called("os_diagnose")) == {"node1", "node2"}
    assert h.run_sync(OpOsDiagnose(output_fields=["name"], names=["hidden"])) == []


# --- live status in queries -------------------------------------------------------------

def _live(name: str, state: str = "running") -> dict[str, Any]:
    return {name: {"state": state, "memory": 256, "vcpus": 1, "time": 2.0}}


def test_instance_status_from_all_instances_info(make_harness: MakeHarness) -> None:
    b = instance_cluster(nodes=4)
    n = b.data.nodes
    b.data.put(n["node-node3"].evolve(0.0, offline=True))
    cases = {
        "a": ("node-node1", AdminState.UP), "b": ("node-node1", AdminState.UP),
        "c": ("node-node1", AdminState.DOWN), "d": ("node-node1", AdminState.DOWN),
        "e": ("node-node2", AdminState.UP), "f": ("node-node3", AdminState.UP),
        "g": ("node-node4", AdminState.UP), "h": ("node-node1", AdminState.OFFLINE),
    }
    for name, (node, admin) in cases.items():
        instance_with_disks(b, name, b.data.nodes[node], admin_state=admin)
    h = make_harness(b)
    answers = {"node1": {**_live("a"), **_live("c"), **_live("g"), **_live("zz-orphan")},
               "node4": {}}

    def answer(node: Node, args: tuple[Any, ...]) -> Any:
        if node.name == "node2":
            return NodeResult.failure(node.name, "all_instances_info", "connection refused")
        return answers[node.name]

    h.rpc.script("all_instances_info", fn=answer)
    result = h.run_sync(OpQuery(what="instance", fields=["name", "status", "oper_ram"]))
    rows = {row[0][1]: (row[1][1], row[2]) for row in result["data"]}
    assert {k: v[0] for k, v in rows.items()} == {
        "a": "running", "b": "ERROR_down", "c": "ERROR_up", "d": "ADMIN_down",
        "e": "ERROR_nodedown", "f": "ERROR_nodeoffline", "g": "ERROR_wrongnode",
        "h": "ADMIN_offline"}
    assert rows["a"][1] == [RS_NORMAL, 256]
    call = h.rpc.calls_of("all_instances_info")[0]
    assert call.args == (["fake", "kvm"], {})
    assert h.rpc.nodes_called("all_instances_info") == ["node1", "node2", "node4"]


def test_config_only_instance_query_needs_no_node(make_harness: MakeHarness) -> None:
    b = instance_cluster(nodes=2)
    instance_with_disks(b, "vm1", b.data.nodes["node-node2"])
    h = make_harness(b)
    result = h.run_sync(OpQuery(what="instance", fields=["name", "pnode"]))
    assert result["data"] == [[[RS_NORMAL, "vm1"], [RS_NORMAL, "node2"]]]
    assert h.rpc.calls_of("all_instances_info") == []
