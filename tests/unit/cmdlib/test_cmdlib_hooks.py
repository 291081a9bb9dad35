"""Hooks of the node, group and cluster units: vetoes, environments, node lists."""

from __future__ import annotations

from typing import Any

import pytest

from corral.errors import HooksAbort
from corral.objects import Node
from corral.opcodes.base import OpCode
from corral.opcodes.cluster import OpClusterSetParams
from corral.opcodes.group import OpGroupAdd, OpGroupSetParams
from corral.opcodes.node import OpNodeAdd, OpNodeRemove, OpNodeSetParams
from tests.support.config import standard_cluster
from tests.support.lu_harness import LuHarness, MakeHarness, expect_failure


def veto(node: Node, args: tuple[Any, ...]) -> list[list[Any]]:
    hpath, phase, _ = args
    if phase == "pre":
        return [[f"{hpath}-pre.d/10-check", 1, "not today\n"]]
    return []


@pytest.mark.parametrize(
    "op",
    [
        pytest.param(OpNodeAdd(node_name="new", primary_ip="192.0.2.9", join_token="t"),
                     id="node-add"),
        pytest.param(OpNodeRemove(node_name="node3"), id="node-remove"),
        pytest.param(OpNodeSetParams(node_name="node3", drained=True), id="node-modify"),
        pytest.param(OpGroupAdd(group_name="rack"), id="group-add"),
        pytest.param(OpGroupSetParams(group_name="default", alloc_policy="last_resort"),
                     id="group-modify"),
        pytest.param(OpClusterSetParams(max_running_jobs=3), id="cluster-modify"),
    ],
)
def test_pre_hook_failure_aborts_without_changes(make_harness: MakeHarness, op: OpCode) -> None:
    h = make_harness(standard_cluster(nodes=3))
    h.rpc.script("hooks_runner", fn=veto)
    err = expect_failure(h, op, HooksAbort, match="10-check: not today")
    assert "node1" in str(err)
    assert h.joiner.joined == []
    assert h.rpc.calls_of("node_leave_cluster") == []


def hook_calls(h: LuHarness, hpath: str, phase: str) -> list[tuple[str, dict[str, str]]]:
    return [(c.node, c.args[2]) for c in h.rpc.calls_of("hooks_runner")
            if c.args[:2] == (hpath, phase)]


def test_node_modify_environment_and_nodes(make_harness: MakeHarness) -> None:
    h = make_harness(standard_cluster(nodes=3))
    h.run_sync(OpNodeSetParams(node_name="node3", drained=True, auto_promote=True))
    pre = hook_calls(h, "node-modify", "pre")
    assert [node for node, _ in pre] == ["node1", "node3"]
    env = pre[0][1]
    assert env["GANETI_OP_TARGET"] == "node3"
    assert env["GANETI_DRAINED"] == "True"
    assert env["GANETI_OFFLINE"] == "None"
    assert env["GANETI_OBJECT_TYPE"] == "NODE"
    assert env["GANETI_HOOKS_PATH"] == "node-modify"
    post = hook_calls(h, "node-modify", "post")
    assert post[0][1]["GANETI_POST_DRAINED"] == "True"


def test_node_remove_environment(make_harness: MakeHarness) -> None:
    h = make_harness(standard_cluster(nodes=3))
    h.run_sync(OpNodeRemove(node_name="node3"))
    pre = hook_calls(h, "node-remove", "pre")
    assert [node for node, _ in pre] == ["node1", "node2"]
    assert pre[0][1]["GANETI_NODE_NAME"] == "node3"
    assert pre[0][1]["GANETI_OP_TARGET"] == "node3"


def test_group_hooks_run_on_the_master(make_harness: MakeHarness) -> None:
    h = make_harness(standard_cluster(nodes=3))
    h.run_sync(OpGroupAdd(group_name="rack"))
    assert [(n, e["GANETI_GROUP_NAME"]) for n, e in hook_calls(h, "group-add", "pre")] == [
        ("node1", "rack")]
    assert [n for n, _ in hook_calls(h, "group-add", "post")] == ["node1"]


def _config_update_calls(h: LuHarness) -> list[tuple[str, dict[str, str]]]:
    return hook_calls(h, "config-update", "post")


def test_config_update_hook_needs_no_rpc_without_scripts(make_harness: MakeHarness) -> None:
    h = make_harness(standard_cluster(nodes=3))
    (h.layout.hooks_dir / "config-update-post.d").mkdir(parents=True)
    (h.layout.hooks_dir / "config-update-post.d" / "README").write_text("not a script\n")
    h.run_sync(OpGroupAdd(group_name="rack"))
    assert _config_update_calls(h) == []


def test_config_update_hook_runs_on_the_master_when_it_has_a_script(
    make_harness: MakeHarness,
) -> None:
    h = make_harness(standard_cluster(nodes=3))
    directory = h.layout.hooks_dir / "config-update-post.d"
    directory.mkdir(parents=True)
    (directory / "10-log").write_text("#!/bin/sh\n")
    (directory / "10-log").chmod(0o755)
    h.run_sync(OpGroupAdd(group_name="rack"))
    calls = _config_update_calls(h)
    assert [node for node, _ in calls] == ["node1"]
    assert calls[0][1]["GANETI_HOOKS_PATH"] == "config-update"
