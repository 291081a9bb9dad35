"""gnt-group: opcodes, list, info."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from corral.cli import gnt_group

if TYPE_CHECKING:
    from tests.unit.cli.conftest import FakeLuxi, Runner


def _strip_generic(op: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in op.items() if k not in ("reason", "debug_level")}


def test_add(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(2, [None])
    code, _, _ = run(gnt_group.main, "add", "--alloc-policy", "last_resort",
                     "--node-parameters", "spindle_count=2", "-D", "drbd:resync-rate=1000",
                     "-D", "plain:stripes=2", "rack2")
    assert code == 0
    assert _strip_generic(luxi.submitted()[0]) == {
        "OP_ID": "OP_GROUP_ADD", "group_name": "rack2", "alloc_policy": "last_resort",
        "ndparams": {"spindle_count": 2},
        "diskparams": {"drbd": {"resync-rate": "1000"}, "plain": {"stripes": "2"}},
        "dry_run": False,
    }


def test_add_bad_alloc_policy(run: Runner, luxi: FakeLuxi) -> None:
    code, _, err = run(gnt_group.main, "add", "--alloc-policy", "never", "g")
    assert code == 1
    assert "invalid choice: 'never'" in err
    assert luxi.calls == []


def test_assign_nodes_rename_remove(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(2, [None])
    assert run(gnt_group.main, "assign-nodes", "-f", "rack2", "n1", "n2")[0] == 0
    assert run(gnt_group.main, "rename", "rack2", "rack3")[0] == 0
    assert run(gnt_group.main, "remove", "--dry-run", "rack3")[0] == 0
    assert [_strip_generic(op) for op in luxi.submitted()] == [
        {"OP_ID": "OP_GROUP_ASSIGN_NODES", "group_name": "rack2", "nodes": ["n1", "n2"],
         "force": True, "dry_run": False},
        {"OP_ID": "OP_GROUP_RENAME", "group_name": "rack2", "new_name": "rack3",
         "dry_run": False},
        {"OP_ID": "OP_GROUP_REMOVE", "group_name": "rack3", "dry_run": True},
    ]


def test_rename_needs_two_arguments(run: Runner, luxi: FakeLuxi) -> None:
    assert run(gnt_group.main, "rename", "rack2") == (
        1, "", "Error: Command rename expects 2 argument(s)\n")


def test_modify(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(2, [[["alloc_policy", "unallocable"]]])
    code, out, _ = run(gnt_group.main, "modify", "--alloc-policy", "unallocable", "rack2")
    assert (code, out) == (0, "Modified node group rack2\n - alloc_policy -> unallocable\n")
    assert run(gnt_group.main, "modify", "rack2")[0] == 1


def test_list(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("Query", {
        "fields": [{"name": "name", "title": "Group", "kind": "text"},
                   {"name": "node_cnt", "title": "Nodes", "kind": "number"},
                   {"name": "node_list", "title": "NodeList", "kind": "other"}],
        "data": [[[0, "default"], [0, 3], [0, ["n1", "n2", "n3"]]]],
    })
    code, out, _ = run(gnt_group.main, "list", "-o", "name,node_cnt,node_list", "default")
    assert code == 0
    assert out.splitlines() == ["Group   Nodes NodeList", "default     3 n1,n2,n3"]
    assert luxi.args_of("Query")[0] == [
        "group", ["name", "node_cnt", "node_list"], ["|", ["==", "name", "default"]]]


def test_info(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryGroups", [[
        "default", {"spindle_count": 1, "ssh_port": 22}, {"ssh_port": 22},
        {"plain": {"stripes": 1}}, {},
        {"minmax": [{"min": {"cpu-count": 1}, "max": {"cpu-count": 8}}],
         "disk-templates": ["file"], "vcpu-ratio": 4.0, "spindle-ratio": 32.0},
        {"vcpu-ratio": 2.0},
    ]])
    code, out, _ = run(gnt_group.main, "info", "default")
    assert code == 0
    assert out.splitlines() == [
        "- Node group: default",
        "  Node parameters: ",
        "    spindle_count: default (1)",
        "    ssh_port: 22",
        "  Disk parameters: ",
        "    plain: ",
        "      stripes: default (1)",
        "  Instance policy: ",
        "    bounds specs: ",
        "      - max/0: ",
        "          cpu-count: default (8)",
        "        min/0: ",
        "          cpu-count: default (1)",
        "    allowed disk templates: default (file)",
        "    spindle-ratio: default (32.0)",
        "    vcpu-ratio: 2.0",
    ]
    assert luxi.args_of("QueryGroups")[0][:2] == [["default"], gnt_group.INFO_FIELDS]


def test_group_tags(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryTags", ["a"])
    assert run(gnt_group.main, "list-tags", "rack2") == (0, "a\n", "")
    assert luxi.args_of("QueryTags") == [["nodegroup", "rack2"]]
