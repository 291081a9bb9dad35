"""gnt-node: opcodes submitted, list/info output, tags."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from corral.cli import gnt_node

if TYPE_CHECKING:
    from tests.unit.cli.conftest import FakeLuxi, Runner

FIELDS = [
    {"name": "name", "title": "Node", "kind": "text", "doc": "Node name"},
    {"name": "dtotal", "title": "DTotal", "kind": "unit", "doc": "Total disk"},
    {"name": "dfree", "title": "DFree", "kind": "unit", "doc": "Free disk"},
    {"name": "mtotal", "title": "MTotal", "kind": "unit", "doc": "Total memory"},
    {"name": "mnode", "title": "MNode", "kind": "unit", "doc": "Node memory"},
    {"name": "mfree", "title": "MFree", "kind": "unit", "doc": "Free memory"},
    {"name": "pinst_cnt", "title": "Pinst", "kind": "number", "doc": "Primary instances"},
    {"name": "sinst_cnt", "title": "Sinst", "kind": "number", "doc": "Secondary instances"},
]
ROWS = [
    [[0, "node1.example.com"], [0, 102400], [0, 51200], [0, 2048], [0, 512], [0, 1946],
     [0, 2], [0, 0]],
    [[0, "node2.example.com"], [4, None], [4, None], [4, None], [4, None], [4, None],
     [0, 0], [0, 1]],
]


def _strip_generic(op: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in op.items() if k not in ("reason", "debug_level")}


def test_list_default_table(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("Query", {"fields": FIELDS, "data": ROWS})
    code, out, err = run(gnt_node.main, "list")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "Node              DTotal DFree MTotal MNode MFree Pinst Sinst",
        "node1.example.com 100.0G 50.0G   2.0G  512M  1.9G     2     0",
        "node2.example.com      *     *      *     *     *     0     1",
    ]
    assert luxi.args_of("Query") == [["node", [f["name"] for f in FIELDS], None]]


def test_list_separator_units_and_no_headers(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("Query", {"fields": FIELDS, "data": ROWS[:1]})
    code, out, _ = run(gnt_node.main, "list", "--separator=|", "--no-headers")
    assert (code, out) == (0, "node1.example.com|102400|51200|2048|512|1946|2|0\n")
    code, out, _ = run(gnt_node.main, "list", "--separator", " ", "--units", "g", "--no-headers")
    assert out == "node1.example.com 100.0 50.0 2.0 0.5 1.9 2 0\n"


def test_list_output_fields_and_names(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("Query", {"fields": FIELDS[:1], "data": []})
    run(gnt_node.main, "list", "-o", "+pip,sip", "node1", "node*")
    fields, qfilter = luxi.args_of("Query")[0][1:]
    assert fields == [f["name"] for f in FIELDS] + ["pip", "sip"]
    assert qfilter == ["|", ["==", "name", "node1"], ["=~", "name", r"^node[^.]*(\..*)?$"]]


def test_list_json_filter(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("Query", {"fields": FIELDS[:1], "data": []})
    code, _, _ = run(gnt_node.main, "list", "-o", "name", "-F", '["=", "offline", true]')
    assert code == 0
    assert luxi.args_of("Query")[0] == ["node", ["name"], ["=", "offline", True]]


def test_list_bad_json_filter(run: Runner, luxi: FakeLuxi) -> None:
    code, _, err = run(gnt_node.main, "list", "-F", "offline == true")
    assert code == 1
    assert err.startswith("Error while parsing query filter: ")
    assert len(err.splitlines()) == 1
    assert luxi.calls == []


def test_list_unknown_field_exit_code(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("Query", {"fields": [{"name": "bogus", "title": "bogus", "kind": "unknown"}],
                      "data": [[[1, None]]]})
    code, out, err = run(gnt_node.main, "list", "-o", "bogus")
    assert code == 14
    assert err == "Warning: Queried for unknown fields bogus\n"
    assert out == "bogus\n??\n"


def test_list_fields(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryFields", {"fields": FIELDS[:2]})
    code, out, _ = run(gnt_node.main, "list-fields", "name", "dtotal")
    assert code == 0
    assert out.splitlines() == [
        "Name   Type         Title  Description",
        "name   Text         Node   Node name",
        "dtotal Storage size DTotal Total disk",
    ]
    assert luxi.args_of("QueryFields") == [["node", ["name", "dtotal"]]]


def test_info_layout(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryNodes", [
        ["node1", "192.0.2.1", "192.0.2.1", ["inst2", "inst1"], [], True, False, False,
         True, True, True, {"ssh_port": 22, "ovs": False}, {"ssh_port": 22}],
        ["node2", "192.0.2.2", "198.51.100.2", [], [], False, False, True,
         True, False, None, {}, {}],
    ])
    code, out, _ = run(gnt_node.main, "info")
    assert code == 0
    assert out.splitlines() == [
        "- Node name: node1",
        "  primary ip: 192.0.2.1",
        "  secondary ip: 192.0.2.1",
        "  master candidate: True",
        "  drained: False",
        "  offline: False",
        "  powered: True",
        "  master_capable: True",
        "  vm_capable: True",
        "  primary for instances: ",
        "    - inst1",
        "    - inst2",
        "  secondary for instances: ",
        "  node parameters: ",
        "    ovs: default (False)",
        "    ssh_port: 22",
        "- Node name: node2",
        "  primary ip: 192.0.2.2",
        "  secondary ip: 198.51.100.2",
        "  master candidate: False",
        "  drained: False",
        "  offline: True",
        "  master_capable: True",
        "  vm_capable: False",
        "  node parameters: ",
    ]
    assert luxi.args_of("QueryNodes")[0][0] == []


def test_add_builds_opcode(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(4, [None])
    code, _, _ = run(gnt_node.main, "add", "--join-token", "tok123", "-s", "10.0.0.5",
                     "-g", "rack1", "--master-capable", "no", "--vm-capable", "yes",
                     "--node-parameters", "ssh_port=2222,exclusive_storage=no",
                     "--primary-ip", "192.0.2.5", "--port", "1911", "node5.example.com")
    assert code == 0
    assert _strip_generic(luxi.submitted()[0]) == {
        "OP_ID": "OP_NODE_ADD", "node_name": "node5.example.com", "primary_ip": "192.0.2.5",
        "secondary_ip": "10.0.0.5", "group": "rack1", "master_capable": False,
        "vm_capable": True, "ndparams": {"ssh_port": 2222, "exclusive_storage": False},
        "readd": False, "join_token": "tok123", "rpc_port": 1911,
    }


def test_add_needs_a_join_token_unless_readd(run: Runner, luxi: FakeLuxi) -> None:
    code, _, err = run(gnt_node.main, "add", "node5")
    assert code == 1
    assert err.startswith("Error: --join-token is required")
    assert len(err.splitlines()) == 1
    assert luxi.calls == []
    luxi.job(4, [None])
    assert run(gnt_node.main, "add", "--readd", "node5")[0] == 0
    assert _strip_generic(luxi.submitted()[0]) == {
        "OP_ID": "OP_NODE_ADD", "node_name": "node5", "readd": True}


def test_modify_builds_opcode_and_prints_changes(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(6, [[["master_candidate", False], ["drained", True]]])
    code, out, _ = run(gnt_node.main, "modify", "-C", "no", "-D", "yes", "--auto-promote",
                       "--dry-run", "node2")
    assert code == 0
    assert out == "Modified node node2\n - master_candidate -> False\n - drained -> True\n"
    assert _strip_generic(luxi.submitted()[0]) == {
        "OP_ID": "OP_NODE_SET_PARAMS", "node_name": "node2", "force": False,
        "auto_promote": True, "master_candidate": False, "drained": True, "dry_run": True,
    }


def test_modify_without_changes(run: Runner, luxi: FakeLuxi) -> None:
    code, out, err = run(gnt_node.main, "modify", "node2")
    assert (code, out, err) == (1, "", "Please give at least one of the parameters.\n")
    assert luxi.calls == []


def test_modify_online_without_force_and_terminal_is_refused(run: Runner, luxi: FakeLuxi) -> None:
    code, _, err = run(gnt_node.main, "modify", "-O", "no", "node2")
    assert code == 1
    assert "use --force" in err
    assert luxi.calls == []
    luxi.job(6, [[["offline", False]]])
    assert run(gnt_node.main, "modify", "-O", "no", "-f", "node2")[0] == 0
    assert luxi.submitted()[0]["offline"] is False


def test_remove(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(6, [None])
    assert run(gnt_node.main, "remove", "--priority", "low", "node2")[0] == 0
    assert _strip_generic(luxi.submitted()[0]) == {
        "OP_ID": "OP_NODE_REMOVE", "node_name": "node2", "dry_run": False, "priority": 10}


def test_list_tags_sorted(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryTags", ["zeta", "alpha"])
    assert run(gnt_node.main, "list-tags", "node1") == (0, "alpha\nzeta\n", "")
    assert luxi.args_of("QueryTags") == [["node", "node1"]]


def test_add_tags_from_file(run: Runner, luxi: FakeLuxi, tmp_path: Path) -> None:
    source = tmp_path / "tags"
    source.write_text("rack:1\n\n  ssd \n")
    luxi.job(2, [None])
    assert run(gnt_node.main, "add-tags", "--from", str(source), "node1", "web")[0] == 0
    assert _strip_generic(luxi.submitted()[0]) == {
        "OP_ID": "OP_TAGS_SET", "kind": "node", "name": "node1", "tags": ["web", "rack:1", "ssd"]}


def test_remove_tags_without_tags(run: Runner, luxi: FakeLuxi) -> None:
    code, _, err = run(gnt_node.main, "remove-tags", "node1")
    assert code == 1
    assert err == ("Failure: prerequisites not met for this operation:\n"
                   "error type: wrong_input, error details:\nNo tags to be removed\n")


def test_add_tags_missing_file(run: Runner, luxi: FakeLuxi, tmp_path: Path) -> None:
    code, _, err = run(gnt_node.main, "add-tags", "--from", str(tmp_path / "nope"), "node1")
    assert code == 1
    assert err.startswith(f"Cannot read tags from {tmp_path / 'nope'}: ")
