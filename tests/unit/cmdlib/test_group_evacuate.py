"""``OP_GROUP_EVACUATE`` and ``OP_INSTANCE_CHANGE_GROUP``: the jobs that move instances into
other node groups, sequential chains, forced failovers, refusals, locks and hooks."""

from __future__ import annotations

import os

import pytest

from corral.cmdlib.group_evacuate import LUGroupEvacuate
from corral.cmdlib.instance_change_group import LUInstanceChangeGroup
from corral.errors import ErrorCode, OpExecError
from corral.locking.levels import ALL_SET, Level
from corral.objects import AllocPolicy, DiskTemplate
from corral.opcodes.mobility import OpGroupEvacuate, OpInstanceChangeGroup
from tests.support.config import ConfigBuilder, instance_cluster
from tests.support.evacuation import HAIL, add, hook_envs, moves_of, ops_of, set_free_memory
from tests.support.lu_harness import MakeHarness, expect_failure, requested

MIGRATE, FAILOVER, MOVE = "OP_INSTANCE_MIGRATE", "OP_INSTANCE_FAILOVER", "OP_INSTANCE_MOVE"


def two_groups() -> ConfigBuilder:
    """``default`` (node1, node2) with three instances; ``other`` (node4, node5); an empty
    ``spare`` group marked unallocable."""
    b = instance_cluster(nodes=2)
    other = b.group("other")
    b.node("node4", other)
    b.node("node5", other)
    b.group("spare", alloc_policy=AllocPolicy.UNALLOCABLE)
    n1, n2 = b.data.nodes["node-node1"], b.data.nodes["node-node2"]
    add(b, "web1", n1, DiskTemplate.DISKLESS)
    add(b, "web2", n2, DiskTemplate.DISKLESS, up=False)
    add(b, "db1", n1, DiskTemplate.FILE)
    return b


def test_group_evacuation_moves_every_instance_into_the_other_group(
        make_harness: MakeHarness) -> None:
    h = make_harness(two_groups())
    set_free_memory(h, {"node4": 3000, "node5": 6000})
    result = h.run_sync(OpGroupEvacuate(group_name="default"))
    moves = moves_of(result)
    assert [(op, name) for op, name, _ in moves] == [
        (MIGRATE, "db1"), (MIGRATE, "web1"), (FAILOVER, "web2")]
    assert {target for _, _, target in moves} <= {"node4", "node5"}
    assert ops_of(result)["db1"]["target_node"] == "node5"  # the most free memory first
    assert "Iallocator returned 3 job(s) for evacuating node group default" in h.feedback
    assert any(line.startswith("Instances to be moved: db1 (to other)") for line in h.feedback)


def test_sequential_jobs_depend_on_the_previous_one(make_harness: MakeHarness) -> None:
    h = make_harness(two_groups())
    result = h.run_sync(OpGroupEvacuate(group_name="default", sequential=True))
    depends = [job[0]["depends"] for job in result["jobs"]]
    assert depends == [None, [[-1, ["error", "success"]]], [[-1, ["error", "success"]]]]
    assert "Jobs will be submitted to run sequentially" in h.feedback


def test_forced_failover_replaces_migrations(make_harness: MakeHarness) -> None:
    h = make_harness(two_groups())
    result = h.run_sync(OpGroupEvacuate(group_name="default", force_failover=True))
    kinds = {name: op for op, name, _ in moves_of(result)}
    assert kinds == {"db1": MOVE, "web1": FAILOVER, "web2": FAILOVER}
    assert "Will insist on failovers" in h.feedback


def test_an_empty_group_yields_no_jobs(make_harness: MakeHarness) -> None:
    h = make_harness(two_groups())
    assert h.run_sync(OpGroupEvacuate(group_name="other")) == {"jobs": []}
    assert "No instances to evacuate from node group other" in h.feedback


@pytest.mark.parametrize(
    ("op", "code", "match"),
    [
        pytest.param(OpGroupEvacuate(group_name="default", target_groups=["default"]),
                     ErrorCode.INVAL, "can not be used as a target group", id="own-group"),
        pytest.param(OpGroupEvacuate(group_name="nosuch"), ErrorCode.NOENT,
                     "Node group 'nosuch' not found", id="unknown-group"),
        pytest.param(OpGroupEvacuate(group_name="default", target_groups=["nosuch"]),
                     ErrorCode.NOENT, "Node group 'nosuch' not found", id="unknown-target"),
    ],
)
def test_group_evacuation_refusals(make_harness: MakeHarness, op: OpGroupEvacuate,
                                   code: ErrorCode, match: str) -> None:
    h = make_harness(two_groups())
    expect_failure(h, op, code=code, match=match)


def test_an_unallocable_target_group_places_nothing(make_harness: MakeHarness) -> None:
    h = make_harness(two_groups())
    # the built-in allocator answers, but cannot place the instances: Ganeti's OpExecError
    expect_failure(h, OpGroupEvacuate(group_name="default", target_groups=["spare"]),
                   OpExecError, match="Unable to evacuate instances db1 (No valid allocation")


def test_no_other_group_is_refused(make_harness: MakeHarness) -> None:
    b = instance_cluster(nodes=2)
    add(b, "lonely", b.data.nodes["node-node1"], DiskTemplate.DISKLESS)
    h = make_harness(b)
    expect_failure(h, OpGroupEvacuate(group_name="default"), code=ErrorCode.INVAL,
                   match="There are no possible target groups")


def test_group_evacuation_locks_and_hooks(make_harness: MakeHarness) -> None:
    h = make_harness(two_groups())
    lu = LUGroupEvacuate(h.ctx, OpGroupEvacuate(group_name="default", target_groups=["other"]),
                         h.feedback.append)
    lu.expand_names()
    plan = lu.declare_locks()
    assert requested(plan, Level.INSTANCE).names == frozenset({"web1", "web2", "db1"})
    assert requested(plan, Level.NODEGROUP).names == frozenset({"group-default",
                                                                 "group-other"})
    assert requested(plan, Level.NODE).names == frozenset({"node1", "node2", "node4",
                                                           "node5"})
    assert all(request.shared for _, request in plan)
    every = LUGroupEvacuate(h.ctx, OpGroupEvacuate(group_name="default"), h.feedback.append)
    every.expand_names()
    assert requested(every.declare_locks(), Level.NODEGROUP).names is ALL_SET
    h.run_sync(OpGroupEvacuate(group_name="default", target_groups=["other"]))
    pre = hook_envs(h, "group-evacuate", "pre")
    assert [node for node, _ in pre] == ["node1", "node2"]
    assert pre[0][1]["GANETI_GROUP_NAME"] == "default"
    assert pre[0][1]["GANETI_TARGET_GROUPS"] == "group-other"


# --- instance change-group --------------------------------------------------------------

def test_change_group_moves_the_instance_into_a_target_group(
        make_harness: MakeHarness) -> None:
    h = make_harness(two_groups())
    set_free_memory(h, {"node4": 6000, "node5": 3000})
    result = h.run_sync(OpInstanceChangeGroup(instance_name="web2", target_groups=["other"]))
    assert moves_of(result) == [(FAILOVER, "web2", "node4")]
    assert "Iallocator returned 1 job(s) for changing group of instance 'web2'" in h.feedback
    pre = hook_envs(h, "instance-change-group", "pre")
    assert [node for node, _ in pre] == ["node1"]
    assert pre[0][1]["GANETI_TARGET_GROUPS"] == "group-other"
    assert pre[0][1]["GANETI_INSTANCE_NAME"] == "web2"


def test_change_group_without_targets_skips_unallocable_groups(
        make_harness: MakeHarness) -> None:
    h = make_harness(two_groups())
    result = h.run_sync(OpInstanceChangeGroup(instance_name="db1"))
    assert moves_of(result)[0][2] in {"node4", "node5"}


def test_change_group_locks_shared(make_harness: MakeHarness) -> None:
    h = make_harness(two_groups())
    lu = LUInstanceChangeGroup(h.ctx, OpInstanceChangeGroup(instance_name="web1",
                                                            target_groups=["other"]),
                               h.feedback.append)
    lu.expand_names()
    plan = lu.declare_locks()
    assert requested(plan, Level.INSTANCE).names == frozenset({"web1"})
    assert requested(plan, Level.INSTANCE).shared
    assert requested(plan, Level.NODEGROUP).names == frozenset({"group-default",
                                                                 "group-other"})


@pytest.mark.parametrize(
    ("op", "code", "match"),
    [
        pytest.param(OpInstanceChangeGroup(instance_name="web1", target_groups=["default"]),
                     ErrorCode.INVAL, "Can't use group(s) 'default' as targets", id="own"),
        pytest.param(OpInstanceChangeGroup(instance_name="nosuch"), ErrorCode.NOENT,
                     "Instance 'nosuch' not known", id="unknown-instance"),
        pytest.param(OpInstanceChangeGroup(instance_name="web1", target_groups=["x"]),
                     ErrorCode.NOENT, "Node group 'x' not found", id="unknown-group"),
    ],
)
def test_change_group_refusals(make_harness: MakeHarness, op: OpInstanceChangeGroup,
                               code: ErrorCode, match: str) -> None:
    h = make_harness(two_groups())
    expect_failure(h, op, code=code, match=match)


@pytest.mark.skipif(not (HAIL.exists() and os.access(HAIL, os.X_OK)),
                    reason="ganeti-htools-3.0 (hail) not installed")
def test_group_evacuation_with_hail(make_harness: MakeHarness) -> None:
    b = instance_cluster(nodes=2)
    other = b.group("other")
    b.node("node4", other)
    b.node("node5", other)
    add(b, "s1", b.data.nodes["node-node1"], DiskTemplate.SHAREDFILE)
    add(b, "s2", b.data.nodes["node-node2"], DiskTemplate.DISKLESS, up=False)
    h = make_harness(b)
    set_free_memory(h, dict.fromkeys(("node1", "node2", "node4", "node5"), 8000))
    result = h.run_sync(OpGroupEvacuate(group_name="default", iallocator="hail"))
    moves = moves_of(result)
    assert sorted(name for _, name, _ in moves) == ["s1", "s2"]
    assert {target for _, _, target in moves} <= {"node4", "node5"}
    assert any(line.startswith("Instances to be moved: ") and "(to other)" in line
               for line in h.feedback)
