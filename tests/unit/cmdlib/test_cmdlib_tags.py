"""Tags: validation, set/get/delete on every kind, search."""

from __future__ import annotations

import pytest

from corral.cmdlib.tags import lock_plan
from corral.errors import ErrorCode, TagError
from corral.locking.levels import Level
from corral.opcodes.tags import OpTagsDel, OpTagsGet, OpTagsSearch, OpTagsSet, TagKind
from tests.support.config import standard_cluster
from tests.support.lu_harness import LuHarness, MakeHarness, expect_failure, requested


@pytest.fixture
def h(make_harness: MakeHarness) -> LuHarness:
    b = standard_cluster(nodes=2)
    b.instance("web", b.data.nodes["node-node1"])
    return make_harness(b)


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        pytest.param(TagKind.CLUSTER, None, id="cluster"),
        pytest.param(TagKind.NODE, "node2", id="node"),
        pytest.param(TagKind.NODEGROUP, "default", id="group"),
        pytest.param(TagKind.INSTANCE, "web", id="instance"),
    ],
)
def test_set_get_delete(h: LuHarness, kind: TagKind, name: str | None) -> None:
    h.run_sync(OpTagsSet(kind=kind, name=name, tags=["b:2", "a.1", "b:2"]))
    assert h.run_sync(OpTagsGet(kind=kind, name=name)) == ["a.1", "b:2"]
    h.assert_persisted()
    h.run_sync(OpTagsDel(kind=kind, name=name, tags=["a.1"]))
    assert h.run_sync(OpTagsGet(kind=kind, name=name, use_locking=True)) == ["b:2"]
    h.assert_persisted()


def test_invalid_tags_are_refused(h: LuHarness) -> None:
    expect_failure(h, OpTagsSet(kind=TagKind.NODE, name="node1", tags=["ok", "bad tag"]),
                   TagError, match="invalid characters")
    expect_failure(h, OpTagsSet(kind=TagKind.NODE, name="node1", tags=["trailing\n"]),
                   TagError, match="invalid characters")
    expect_failure(h, OpTagsSet(kind=TagKind.NODE, name="node1", tags=["x" * 129]),
                   TagError, match="Tag too long")
    expect_failure(h, OpTagsSet(kind=TagKind.NODE, name="node1", tags=[""]),
                   TagError, match="cannot be empty")
    many = [f"t{i}" for i in range(4097)]
    expect_failure(h, OpTagsSet(kind=TagKind.CLUSTER, tags=many), TagError, match="Too many")
    h.run_sync(OpTagsSet(kind=TagKind.CLUSTER, tags=["x" * 128, "a-b_c+d*e/f:g@h"]))


def test_delete_missing_and_unknown_objects(h: LuHarness) -> None:
    h.run_sync(OpTagsSet(kind=TagKind.NODE, name="node1", tags=["keep"]))
    expect_failure(h, OpTagsDel(kind=TagKind.NODE, name="node1", tags=["keep", "zz", "aa"]),
                   code=ErrorCode.NOENT, match="Tag(s) 'aa', 'zz' not found")
    assert h.data.nodes["node-node1"].tags == ("keep",)
    expect_failure(h, OpTagsGet(kind=TagKind.INSTANCE, name="nope"), code=ErrorCode.NOENT,
                   match="Instance 'nope' not known")
    expect_failure(h, OpTagsSet(kind=TagKind.NODE, name=None, tags=["x"]),
                   code=ErrorCode.INVAL, match="Missing the name")


def test_search(h: LuHarness) -> None:
    h.run_sync(OpTagsSet(kind=TagKind.CLUSTER, tags=["env:prod"]))
    h.run_sync(OpTagsSet(kind=TagKind.NODE, name="node2", tags=["env:test", "rack:1"]))
    h.run_sync(OpTagsSet(kind=TagKind.NODEGROUP, name="default", tags=["env:all"]))
    h.run_sync(OpTagsSet(kind=TagKind.INSTANCE, name="web", tags=["env:prod"]))
    assert h.run_sync(OpTagsSearch(pattern="^env:")) == [
        ["/cluster", "env:prod"], ["/instances/web", "env:prod"],
        ["/nodes/node2", "env:test"], ["/nodegroup/default", "env:all"],
    ]
    assert h.run_sync(OpTagsSearch(pattern="rack")) == [["/nodes/node2", "rack:1"]]
    expect_failure(h, OpTagsSearch(pattern="("), code=ErrorCode.INVAL,
                   match="Invalid search pattern '('")


def test_locks_follow_the_object(h: LuHarness) -> None:
    node = h.data.nodes["node-node2"]
    plan = lock_plan(node, TagKind.NODE, write=True)
    assert requested(plan, Level.NODE).names == frozenset({"node2"})
    assert not requested(plan, Level.NODE).shared
    assert requested(plan, Level.CLUSTER).shared
    group_plan = lock_plan(h.data.nodegroups["group-default"], TagKind.NODEGROUP, write=False)
    assert requested(group_plan, Level.NODEGROUP).names == frozenset({"group-default"})
    cluster_plan = lock_plan(h.data.cluster, TagKind.CLUSTER, write=True)
    assert not requested(cluster_plan, Level.CLUSTER).shared
