"""``OP_NODE_MIGRATE`` and ``OP_NODE_EVACUATE``: which job each instance of the node gets,
the targets (given, or an allocator's), refusals, locks and hooks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from corral.cmdlib.node_evacuate import LUNodeEvacuate
from corral.cmdlib.node_migrate import LUNodeMigrate
from corral.errors import ErrorCode, OpExecError, ParameterError
from corral.locking.levels import Level
from corral.objects import DiskTemplate
from corral.opcodes.codec import decode_opcode
from corral.opcodes.mobility import OpNodeEvacuate, OpNodeMigrate
from tests.support.config import instance_cluster
from tests.support.evacuation import (
    HAIL,
    add,
    hook_envs,
    mixed_cluster,
    moves_of,
    ops_of,
    set_free_memory,
)
from tests.support.lu_harness import MakeHarness, expect_failure, requested

MIGRATE, FAILOVER, MOVE = "OP_INSTANCE_MIGRATE", "OP_INSTANCE_FAILOVER", "OP_INSTANCE_MOVE"


# --- node migrate ----------------------------------------------------------------------

def test_migrate_gives_each_primary_instance_the_job_it_can_run(
        make_harness: MakeHarness) -> None:
    h = make_harness(mixed_cluster())
    set_free_memory(h, {"node2": 1000, "node3": 6000})
    result = h.run_sync(OpNodeMigrate(node_name="node1", mode="non-live"))
    assert moves_of(result) == [
        (MIGRATE, "a-running", None),             # shared storage: its job asks the allocator
        (FAILOVER, "b-stopped", None),
        (FAILOVER, "c-chroot", None),             # chroot cannot migrate
        (MOVE, "d-stopped-file", "node3"),        # node-local disks: placed now
        (MIGRATE, "e-running-plain", "node3"),    # live storage migration needs a target
    ]
    ops = ops_of(result)
    assert ops["a-running"]["mode"] == "non-live"
    assert ops["a-running"]["allow_runtime_changes"] is True
    log = "\n".join(h.feedback)
    assert "Instance c-chroot: fail over (target chosen by its job) (the chroot hypervisor" \
           " cannot migrate)" in log
    assert "Instance d-stopped-file: move to node3 (not running; its file disks are copied)" \
        in log
    h.assert_persisted()


def test_migrate_to_a_given_node_and_options_pass_through(make_harness: MakeHarness) -> None:
    h = make_harness(mixed_cluster())
    result = h.run_sync(OpNodeMigrate(node_name="node1", target_node="node2", live=True,
                                      allow_runtime_changes=False, ignore_ipolicy=True))
    assert {target for _, _, target in moves_of(result)} == {"node2"}
    assert h.rpc.calls_of("node_info") == []  # no allocator needed
    op = ops_of(result)["a-running"]
    assert (op["live"], op["allow_runtime_changes"], op["ignore_ipolicy"]) == (True, False, True)
    assert ops_of(result)["d-stopped-file"]["ignore_ipolicy"] is True


def test_migrate_passes_the_allocator_to_shared_storage_jobs(make_harness: MakeHarness) -> None:
    h = make_harness(mixed_cluster())
    result = h.run_sync(OpNodeMigrate(node_name="node1", iallocator="corral"))
    ops = ops_of(result)
    assert ops["a-running"]["iallocator"] == "corral"
    assert ops["b-stopped"]["iallocator"] == "corral"
    # node-local disks: the allocator placed them now, their jobs name the node
    assert ops["d-stopped-file"]["target_node"] in {"node2", "node3"}
    assert ops["e-running-plain"]["target_node"] in {"node2", "node3"}
    assert ops["e-running-plain"]["iallocator"] is None


def test_migrate_of_a_node_without_instances_yields_no_jobs(make_harness: MakeHarness) -> None:
    h = make_harness(mixed_cluster())
    result = h.run_sync(OpNodeMigrate(node_name="node3"))
    assert result == {"jobs": []}
    assert "No primary instances on node node3, nothing to migrate" in h.feedback


def test_migrate_declares_shared_node_locks(make_harness: MakeHarness) -> None:
    h = make_harness(mixed_cluster())
    lu = LUNodeMigrate(h.ctx, OpNodeMigrate(node_name="node1", target_node="node2"),
                       h.feedback.append)
    lu.expand_names()
    plan = lu.declare_locks()
    node_locks = requested(plan, Level.NODE)
    assert node_locks.shared
    assert node_locks.names == frozenset({"node1", "node2"})
    assert requested(plan, Level.CLUSTER).shared


@pytest.mark.parametrize(
    ("op", "code", "match"),
    [
        pytest.param(OpNodeMigrate(node_name="node9"), ErrorCode.NOENT, "Node 'node9' not known",
                     id="unknown-node"),
        pytest.param(OpNodeMigrate(node_name="node1", target_node="node1"), ErrorCode.INVAL,
                     "to the node itself", id="target-is-the-node"),
        pytest.param(OpNodeMigrate(node_name="node1", target_node="node2", iallocator="corral"),
                     ErrorCode.INVAL, "Do not specify both, iallocator and node", id="both"),
        pytest.param(OpNodeMigrate(node_name="node1", target_node="node9"), ErrorCode.NOENT,
                     "Node 'node9' not known", id="unknown-target"),
    ],
)
def test_migrate_refusals(make_harness: MakeHarness, op: OpNodeMigrate, code: ErrorCode,
                          match: str) -> None:
    h = make_harness(mixed_cluster())
    expect_failure(h, op, code=code, match=match)


def test_migrate_refuses_an_offline_node_and_unusable_targets(
        make_harness: MakeHarness) -> None:
    b = mixed_cluster(nodes=4)
    b.data.put(b.data.nodes["node-node1"].evolve(0, offline=True))
    b.data.put(b.data.nodes["node-node3"].evolve(0, drained=True))
    b.data.put(b.data.nodes["node-node4"].evolve(0, offline=True))
    h = make_harness(b)
    err = expect_failure(h, OpNodeMigrate(node_name="node1"), code=ErrorCode.STATE,
                         match="Node node1 is offline")
    assert "gnt-node failover node1" in str(err)
    expect_failure(h, OpNodeMigrate(node_name="node2", target_node="node3"),
                   code=ErrorCode.STATE, match="Can't use drained node node3")
    expect_failure(h, OpNodeMigrate(node_name="node2", target_node="node4"),
                   code=ErrorCode.STATE, match="Can't use offline node node4")


def test_migrate_hooks_name_the_node(make_harness: MakeHarness) -> None:
    h = make_harness(mixed_cluster())
    h.run_sync(OpNodeMigrate(node_name="node2", allow_runtime_changes=False))
    pre = hook_envs(h, "node-migrate", "pre")
    assert [node for node, _ in pre] == ["node1"]
    assert pre[0][1]["GANETI_NODE_NAME"] == "node2"
    assert pre[0][1]["GANETI_ALLOW_RUNTIME_CHANGES"] == "False"
    assert pre[0][1]["GANETI_OBJECT_TYPE"] == "NODE"
    assert hook_envs(h, "node-migrate", "post")


# --- node evacuate -----------------------------------------------------------------------

def test_evacuate_primaries_to_a_remote_node(make_harness: MakeHarness) -> None:
    h = make_harness(mixed_cluster())
    result = h.run_sync(OpNodeEvacuate(node_name="node1", mode="primary-only",
                                       remote_node="node3"))
    assert moves_of(result) == [
        (MIGRATE, "a-running", "node3"), (FAILOVER, "b-stopped", "node3"),
        (FAILOVER, "c-chroot", "node3"), (MOVE, "d-stopped-file", "node3"),
        (MIGRATE, "e-running-plain", "node3"),
    ]
    log = "\n".join(h.feedback)
    assert "Evacuating instances from node 'node1': a-running, b-stopped" in log
    assert "Instance d-stopped-file: move to node3 (not running; its file disks are" \
        " copied)" in h.feedback
    assert [line for line in h.feedback if line.startswith("Instance a-running:")] == [
        "Instance a-running: migrate to node3 (running)"]


def test_evacuate_with_the_builtin_allocator_spreads_the_instances(
        make_harness: MakeHarness) -> None:
    b = instance_cluster(nodes=3)
    n1 = b.data.nodes["node-node1"]
    for index in range(6):
        add(b, f"inst{index}", n1, DiskTemplate.DISKLESS, beparams={"maxmem": 512,
                                                                  "minmem": 512})
    h = make_harness(b)
    set_free_memory(h, {"node2": 4000, "node3": 4000})
    result = h.run_sync(OpNodeEvacuate(node_name="node1", mode="primary-only"))
    moves = moves_of(result)
    assert {op for op, _, _ in moves} == {MIGRATE}
    targets = [str(target) for _, _, target in moves]
    assert sorted(targets) == ["node2"] * 3 + ["node3"] * 3
    assert any(line.startswith("Instances to be moved: inst0 (to node") for line in h.feedback)


def test_evacuate_skips_drained_and_offline_nodes(make_harness: MakeHarness) -> None:
    b = mixed_cluster(nodes=5)
    b.data.put(b.data.nodes["node-node2"].evolve(0, drained=True))
    b.data.put(b.data.nodes["node-node3"].evolve(0, offline=True))
    b.data.put(b.data.nodes["node-node4"].evolve(0, vm_capable=False))
    h = make_harness(b)
    result = h.run_sync(OpNodeEvacuate(node_name="node1", mode="all"))
    assert {target for _, _, target in moves_of(result)} == {"node5"}
    assert "node3" not in h.rpc.nodes_called("node_info")


def test_evacuate_secondaries_finds_none(make_harness: MakeHarness) -> None:
    h = make_harness(mixed_cluster())
    result = h.run_sync(OpNodeEvacuate(node_name="node1", mode="secondary-only"))
    assert result == {"jobs": []}
    assert "No instances to evacuate from node 'node1'" in h.feedback
    assert h.rpc.calls_of("node_info") == []


def test_evacuate_declares_shared_locks(make_harness: MakeHarness) -> None:
    h = make_harness(mixed_cluster())
    lu = LUNodeEvacuate(h.ctx, OpNodeEvacuate(node_name="node1", mode="primary-only"),
                        h.feedback.append)
    lu.expand_names()
    plan = lu.declare_locks()
    instances = requested(plan, Level.INSTANCE)
    assert instances.shared
    assert instances.names == frozenset({"a-running", "b-stopped", "c-chroot",
                                         "d-stopped-file", "e-running-plain"})
    assert requested(plan, Level.NODE).shared
    assert requested(plan, Level.NODE).names == frozenset({"node1", "node2", "node3"})
    assert requested(plan, Level.NODEGROUP).names == frozenset({"group-default"})


@pytest.mark.parametrize(
    ("op", "code", "match"),
    [
        pytest.param(OpNodeEvacuate(node_name="node1", mode="primary-only",
                                    remote_node="node1"),
                     ErrorCode.INVAL, "Can not use evacuated node node1", id="remote-is-node"),
        pytest.param(OpNodeEvacuate(node_name="node9", mode="all"), ErrorCode.NOENT,
                     "Node 'node9' not known", id="unknown-node"),
        pytest.param(OpNodeEvacuate(node_name="node1", mode="all", remote_node="node7"),
                     ErrorCode.NOENT, "Node 'node7' not known", id="unknown-remote"),
        pytest.param(OpNodeEvacuate(node_name="node1", mode="all", iallocator="nosuch"),
                     ErrorCode.ENVIRON, "Can't find allocator 'nosuch'", id="no-allocator"),
    ],
)
def test_evacuate_refusals(make_harness: MakeHarness, op: OpNodeEvacuate, code: ErrorCode,
                           match: str) -> None:
    h = make_harness(mixed_cluster())
    expect_failure(h, op, code=code, match=match)


def test_evacuate_refuses_remote_node_and_allocator_together() -> None:
    with pytest.raises(ParameterError, match="either a remote node or an iallocator"):
        decode_opcode({"OP_ID": "OP_NODE_EVACUATE", "node_name": "node1", "mode": "all",
                       "remote_node": "node2", "iallocator": "hail"})


def test_evacuate_refuses_an_offline_remote_node(make_harness: MakeHarness) -> None:
    b = mixed_cluster()
    b.data.put(b.data.nodes["node-node3"].evolve(0, offline=True))
    h = make_harness(b)
    expect_failure(h, OpNodeEvacuate(node_name="node1", mode="primary-only",
                                     remote_node="node3"),
                   code=ErrorCode.STATE, match="Can't use offline node node3")


def test_evacuate_of_an_offline_node_fails_over_and_cannot_copy_disks(
        make_harness: MakeHarness) -> None:
    b = instance_cluster(nodes=3)
    n1 = b.data.nodes["node-node1"]
    add(b, "shared1", n1, DiskTemplate.SHAREDFILE)
    b.data.put(n1.evolve(0, offline=True))
    h = make_harness(b)
    result = h.run_sync(OpNodeEvacuate(node_name="node1", mode="primary-only",
                                       remote_node="node2"))
    assert moves_of(result) == [(FAILOVER, "shared1", "node2")]
    add(b, "local1", n1, DiskTemplate.FILE)
    h2 = make_harness(b)
    expect_failure(h2, OpNodeEvacuate(node_name="node1", mode="primary-only",
                                      remote_node="node2"),
                   code=ErrorCode.STATE, match="disks on offline node node1")


def _allocator(tmp_path: Path, name: str, answer: object) -> Path:
    """An external allocator printing ``answer`` and keeping its arguments in args.txt."""
    script = tmp_path / name
    script.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/args.txt\n"
                      f"echo '{json.dumps(answer)}'\n")
    script.chmod(0o755)
    return script


def test_evacuate_with_an_external_allocator_that_cannot_place_everything(
        make_harness: MakeHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_IALLOCATOR_PATH", str(tmp_path))
    _allocator(tmp_path, "partial", {"success": True, "info": "ok", "result": [
        [], [["a-running", "no luck"]], []]})
    _allocator(tmp_path, "nothing", {"success": False, "info": "cluster full", "result": []})
    h = make_harness(mixed_cluster())
    expect_failure(h, OpNodeEvacuate(node_name="node1", mode="primary-only",
                                     iallocator="partial", ignore_soft_errors=True),
                   OpExecError, match="Unable to evacuate instances a-running (no luck)")
    assert "--ignore-soft-errors" in (tmp_path / "args.txt").read_text()
    expect_failure(h, OpNodeEvacuate(node_name="node1", mode="primary-only",
                                     iallocator="nothing"),
                   code=ErrorCode.NORES,
                   match="Can't compute node evacuation using iallocator 'nothing': cluster full")


def test_evacuate_submits_an_external_allocators_jobs(
        make_harness: MakeHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_IALLOCATOR_PATH", str(tmp_path))
    b = instance_cluster(nodes=3)
    add(b, "only1", b.data.nodes["node-node1"], DiskTemplate.DISKLESS)
    _allocator(tmp_path, "fixed", {"success": True, "info": "ok", "result": [
        [["only1", "default", ["node3"]]], [],
        [[{"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": "only1", "target_node": "node3",
           "allow_failover": True}]]]})
    h = make_harness(b)
    result = h.run_sync(OpNodeEvacuate(node_name="node1", mode="primary-only",
                                       iallocator="fixed"))
    assert moves_of(result) == [(MIGRATE, "only1", "node3")]
    assert ops_of(result)["only1"]["allow_failover"] is True
    assert "Instances to be moved: only1 (to node3)" in h.feedback


@pytest.mark.skipif(not (HAIL.exists() and os.access(HAIL, os.X_OK)),
                    reason="ganeti-htools-3.0 (hail) not installed")
def test_evacuate_with_hail(make_harness: MakeHarness) -> None:
    b = instance_cluster(nodes=3)
    n1 = b.data.nodes["node-node1"]
    for index in range(4):
        add(b, f"hailed{index}", n1, DiskTemplate.DISKLESS, up=index % 2 == 0)
    h = make_harness(b)
    set_free_memory(h, {"node1": 7000, "node2": 8000, "node3": 8000})
    result = h.run_sync(OpNodeEvacuate(node_name="node1", mode="primary-only",
                                       iallocator="hail"))
    moves = moves_of(result)
    assert [name for _, name, _ in moves] == [f"hailed{i}" for i in range(4)]
    assert {op for op, _, _ in moves} == {MIGRATE}  # hail's jobs, with allow_failover
    assert {target for _, _, target in moves} <= {"node2", "node3"}


@pytest.mark.skipif(not (HAIL.exists() and os.access(HAIL, os.X_OK)),
                    reason="ganeti-htools-3.0 (hail) not installed")
def test_migrate_with_hail_asks_for_a_target_for_node_local_disks(
        make_harness: MakeHarness) -> None:
    h = make_harness(mixed_cluster())
    set_free_memory(h, {"node1": 8000, "node2": 8000, "node3": 8000})
    err = expect_failure(h, OpNodeMigrate(node_name="node1", iallocator="hail"),
                         code=ErrorCode.NORES,
                         match="Can't choose a target node using iallocator 'hail' for"
                               " d-stopped-file (Instances of type file cannot be relocated)")
    assert str(err).endswith("; give a target node")


def test_evacuate_hooks_name_the_node_and_mode(make_harness: MakeHarness) -> None:
    h = make_harness(mixed_cluster())
    h.run_sync(OpNodeEvacuate(node_name="node2", mode="primary-only", remote_node="node3"))
    pre = hook_envs(h, "node-evacuate", "pre")
    assert [node for node, _ in pre] == ["node1", "node2"]
    env = pre[0][1]
    assert (env["GANETI_NODE_NAME"], env["GANETI_MODE"], env["GANETI_REMOTE_NODE"]) == (
        "node2", "primary-only", "node3")
    assert [node for node, _ in hook_envs(h, "node-evacuate", "post")] == ["node1", "node2"]
