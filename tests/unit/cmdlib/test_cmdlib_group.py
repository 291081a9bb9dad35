"""Node group units through the processor."""

from __future__ import annotations

from typing import Any

import pytest

from corral.errors import ErrorCode, OpExecError
from corral.objects.node import AllocPolicy
from corral.opcodes.group import (
    OpGroupAdd,
    OpGroupAssignNodes,
    OpGroupRemove,
    OpGroupRename,
    OpGroupSetParams,
)
from tests.support.config import standard_cluster
from tests.support.lu_harness import MakeHarness, expect_failure


def test_add_rename_remove_round_trip(make_harness: MakeHarness) -> None:
    h = make_harness(standard_cluster(nodes=1))
    h.run_sync(OpGroupAdd(group_name="rack1", alloc_policy="last_resort",
                          ndparams={"spindle_count": 2}, diskparams={"drbd": {"resync_rate": 1}}))
    group = h.data.group_by_name("rack1")
    assert group is not None
    assert group.alloc_policy is AllocPolicy.LAST_RESORT
    assert group.ndparams == {"spindle_count": 2}
    assert group.diskparams == {"drbd": {"resync_rate": 1}}
    h.assert_persisted()
    assert h.run_sync(OpGroupRename(group_name="rack1", new_name="rack2")) == "rack2"
    assert h.data.group_by_name("rack1") is None
    renamed = h.data.group_by_name("rack2")
    assert renamed is not None
    assert renamed.uuid == group.uuid
    h.run_sync(OpGroupRemove(group_name="rack2"))
    assert group.uuid not in h.data.nodegroups
    h.assert_persisted()
    hook_envs = [c.args[2] for c in h.rpc.calls_of("hooks_runner") if c.args[0] == "group-rename"]
    assert hook_envs[0]["GANETI_OLD_NAME"] == "rack1"
    assert hook_envs[0]["GANETI_NEW_NAME"] == "rack2"
    assert hook_envs[0]["GANETI_OBJECT_TYPE"] == "GROUP"


@pytest.mark.parametrize(
    ("op", "code", "match"),
    [
        pytest.param(OpGroupAdd(group_name="default"), ErrorCode.EXISTS, "already exists",
                     id="add-dup"),
        pytest.param(OpGroupAdd(group_name="g", alloc_policy="sometimes"), ErrorCode.INVAL,
                     "sometimes", id="add-policy"),
        pytest.param(OpGroupAdd(group_name="g", ipolicy={"x": 1}), ErrorCode.INVAL, "ipolicy",
                     id="add-ipolicy"),
        pytest.param(OpGroupRemove(group_name="default"), ErrorCode.STATE,
                     "not empty, has the following node(s): node1, node2", id="remove-nonempty"),
        pytest.param(OpGroupRemove(group_name="lonely"), ErrorCode.NOENT, "lonely",
                     id="remove-unknown"),
        pytest.param(OpGroupRename(group_name="default", new_name="spare"), ErrorCode.EXISTS,
                     "clashes", id="rename-clash"),
        pytest.param(OpGroupSetParams(group_name="spare"), ErrorCode.INVAL,
                     "at least one modification", id="modify-nothing"),
        pytest.param(OpGroupAssignNodes(group_name="spare", nodes=["ghost"]), ErrorCode.NOENT,
                     "ghost", id="assign-unknown"),
    ],
)
def test_group_prerequisites(
    make_harness: MakeHarness, op: Any, code: ErrorCode, match: str,
) -> None:
    b = standard_cluster(nodes=2)
    b.group("spare")
    h = make_harness(b)
    expect_failure(h, op, code=code, match=match)


def test_last_group_cannot_be_removed(make_harness: MakeHarness) -> None:
    b = standard_cluster(nodes=0)
    h = make_harness(b)
    expect_failure(h, OpGroupRemove(group_name="default"), code=ErrorCode.STATE,
                   match="is the only group")


def test_assign_moves_nodes_and_guards_mirrored_instances(make_harness: MakeHarness) -> None:
    b = standard_cluster(nodes=4)
    b.group("rack2")
    n = b.data.nodes
    b.instance("db", n["node-node3"], secondary=n["node-node4"])
    h = make_harness(b)
    h.run_sync(OpGroupAssignNodes(group_name="rack2", nodes=["node2"]))
    assert h.data.nodes["node-node2"].group == "group-rack2"
    expect_failure(h, OpGroupAssignNodes(group_name="rack2", nodes=["node3"]), OpExecError,
                   match="split by this change and --force was not given: db")
    h.run_sync(OpGroupAssignNodes(group_name="rack2", nodes=["node3"], force=True))
    assert any("will split the following instances: db" in line for line in h.feedback)
    h.run_sync(OpGroupAssignNodes(group_name="rack2", nodes=["node4"]))
    assert h.data.nodes["node-node4"].group == "group-rack2"
    h.assert_persisted()


def test_set_params_merges_and_reports(make_harness: MakeHarness) -> None:
    b = standard_cluster(nodes=1)
    b.group("rack", ndparams={"spindle_count": 2, "oob_program": "/x"})
    h = make_harness(b)
    result = h.run_sync(OpGroupSetParams(group_name="rack", alloc_policy="unallocable",
                                         ndparams={"oob_program": "default", "ssh_port": 2222}))
    assert result == [["ndparams", "{'spindle_count': 2, 'ssh_port': 2222}"],
                      ["alloc_policy", "unallocable"]]
    group = h.data.group_by_name("rack")
    assert group is not None
    assert group.alloc_policy is AllocPolicy.UNALLOCABLE
    assert group.ndparams == {"spindle_count": 2, "ssh_port": 2222}
    h.assert_persisted()


BAD_GROUP_NAMES = ["a\nb", "rack1\n", "two words", "tab\there", "bell\x07", "a|b", "a,b", "",
                   "-dash"]


@pytest.mark.parametrize("name", BAD_GROUP_NAMES)
def test_add_and_rename_refuse_names_outside_the_syntax(
    make_harness: MakeHarness, name: str,
) -> None:
    h = make_harness(standard_cluster(nodes=1))
    message = f"Invalid group name {name!r}"
    expect_failure(h, OpGroupAdd(group_name=name), code=ErrorCode.INVAL, match=message)
    expect_failure(h, OpGroupRename(group_name="default", new_name=name), code=ErrorCode.INVAL,
                   match=message)
    assert [g.name for g in h.data.nodegroups.values()] == ["default"]
    assert h.rpc.calls_of("hooks_runner") == []
