"""Mirror instances emptied off a node: ``gnt-node migrate`` and ``evacuate -p`` send them
to their secondary (never an allocator's choice), ``evacuate -s`` moves their secondary
half with replace-disks, and the hooks of their moves name the secondaries."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

from corral.cmdlib import node_evacuate, node_migrate  # noqa: F401
from corral.errors import ErrorCode, OpExecError
from corral.objects import AdminState, Node
from corral.opcodes.codec import decode_opcode
from corral.opcodes.mobility import (
    REPLACE_NEW_SECONDARY,
    OpInstanceFailover,
    OpInstanceMigrate,
    OpNodeEvacuate,
    OpNodeMigrate,
)
from tests.support.evacuation import HAIL, moves_of
from tests.support.lu_harness import LuHarness, MakeHarness, expect_failure
from tests.unit.cmdlib.test_mirror_faults import file_free
from tests.unit.cmdlib.test_mirror_mobility import cluster, harness, swapped_to_node3, the_disk


def hooks_env(h: LuHarness, path: str, phase: str = "pre") -> dict[str, Any]:
    env: dict[str, Any] = next(c.args[2] for c in h.rpc.calls_of("hooks_runner")
                               if c.args[:2] == (path, phase))
    return env


MOVE_KEYS = ("OLD_PRIMARY", "NEW_PRIMARY", "OLD_SECONDARY", "NEW_SECONDARY")


def test_node_migrate_sends_mirror_instances_to_their_secondary(
        make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    result = h.run_sync(OpNodeMigrate(node_name="node2", iallocator="corral"))
    assert moves_of(result) == [("OP_INSTANCE_MIGRATE", "vm1", "node3")]
    [[op]] = result["jobs"]
    assert op["iallocator"] is None
    h.run_sync(decode_opcode(op))
    swapped_to_node3(h)


def test_node_migrate_of_a_stopped_mirror_instance_fails_it_over(
        make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster(AdminState.DOWN))
    h.rpc.script("instance_info", payload=None)
    result = h.run_sync(OpNodeMigrate(node_name="node2"))
    assert moves_of(result) == [("OP_INSTANCE_FAILOVER", "vm1", "node3")]
    h.run_sync(decode_opcode(result["jobs"][0][0]))
    swapped_to_node3(h)


def test_node_evacuate_of_primaries_uses_the_secondary(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    result = h.run_sync(OpNodeEvacuate(node_name="node2", mode="primary-only",
                                       iallocator="corral"))
    assert moves_of(result) == [("OP_INSTANCE_MIGRATE", "vm1", "node3")]
    h.run_sync(decode_opcode(result["jobs"][0][0]))
    swapped_to_node3(h)


def test_node_evacuate_of_secondaries_replaces_the_secondary(
        make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    result = h.run_sync(OpNodeEvacuate(node_name="node3", mode="secondary-only",
                                       remote_node="node1"))
    [[op]] = result["jobs"]
    assert (op["OP_ID"], op["instance_name"], op["mode"], op["remote_node"]) == (
        "OP_INSTANCE_REPLACE_DISKS", "vm1", REPLACE_NEW_SECONDARY, "node1")
    h.run_sync(decode_opcode(op))
    disk, lid = the_disk(h)
    assert disk.nodes == ("node-node2", "node-node1")
    assert lid.address == "10.0.0.1"


def test_migration_hooks_name_the_secondaries(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    h.run_sync(OpInstanceMigrate(instance_name="vm1"))
    env = hooks_env(h, "instance-migrate")
    assert (env["GANETI_OLD_PRIMARY"], env["GANETI_NEW_PRIMARY"]) == ("node2", "node3")
    assert (env["GANETI_OLD_SECONDARY"], env["GANETI_NEW_SECONDARY"]) == ("node3", "node2")
    assert env["GANETI_MIGRATE_LIVE"] == "True"
    post = hooks_env(h, "instance-migrate", "post")
    assert [post[f"GANETI_{k}"] for k in MOVE_KEYS] == [env[f"GANETI_{k}"] for k in MOVE_KEYS]


def test_failover_hooks_name_the_secondaries(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    h.run_sync(OpInstanceFailover(instance_name="vm1"))
    env = hooks_env(h, "instance-failover")
    assert (env["GANETI_OLD_PRIMARY"], env["GANETI_NEW_PRIMARY"]) == ("node2", "node3")
    assert (env["GANETI_OLD_SECONDARY"], env["GANETI_NEW_SECONDARY"]) == ("node3", "node2")
    assert env["GANETI_INSTANCE_SECONDARIES"] == "node3"
    post = hooks_env(h, "instance-failover", "post")
    assert [post[f"GANETI_{k}"] for k in MOVE_KEYS] == [env[f"GANETI_{k}"] for k in MOVE_KEYS]


def test_node_evacuate_of_all_moves_both_halves_off_the_node(
        make_harness: MakeHarness) -> None:
    """The instance migrates to its secondary, then its secondary half moves to node1."""
    h = harness(make_harness)
    result = h.run_sync(OpNodeEvacuate(node_name="node2", mode="all", iallocator="corral"))
    [[migrate, replace]] = result["jobs"]
    assert (migrate["OP_ID"], migrate["target_node"]) == ("OP_INSTANCE_MIGRATE", "node3")
    assert (replace["OP_ID"], replace["mode"], replace["remote_node"]) == (
        "OP_INSTANCE_REPLACE_DISKS", REPLACE_NEW_SECONDARY, "node1")
    h.run_sync(decode_opcode(migrate))
    h.run_sync(decode_opcode(replace))
    disk, lid = the_disk(h)
    assert h.data.instances["inst-vm1"].primary_node == "node-node3"
    assert disk.nodes == ("node-node3", "node-node1")
    assert lid.address == "10.0.0.1"


def test_node_evacuate_of_all_needs_a_node_for_the_new_secondary(
        make_harness: MakeHarness) -> None:
    b = cluster()
    b.data.put(b.data.nodes["node-node1"].evolve(0, drained=True))
    h = harness(make_harness, b)
    with pytest.raises(OpExecError, match=re.escape(
            "Unable to evacuate instances vm1 (No node of its group can take its new"
            " secondary")):
        h.run_sync(OpNodeEvacuate(node_name="node2", mode="all", iallocator="corral"))


def test_node_evacuate_to_another_remote_node_than_the_secondary_is_refused(
        make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    expect_failure(h, OpNodeEvacuate(node_name="node2", mode="primary-only",
                                     remote_node="node1"), code=ErrorCode.INVAL,
                   match="Instance vm1 has mirror disks: it can only leave node node2 for its"
                         " secondary node node3, not node1")
    result = h.run_sync(OpNodeEvacuate(node_name="node2", mode="primary-only",
                                       remote_node="node3"))
    assert moves_of(result) == [("OP_INSTANCE_MIGRATE", "vm1", "node3")]


def memory_and_files(node: Node, args: tuple[Any, ...]) -> dict[str, Any]:
    """node_info: 7000 MiB free of 8 GiB, 10000 MiB free in the file storage."""
    return {**file_free(10_000)(node, args), "memory_free": 7000,
            "hv": {"kvm": {"memory_total": 8192, "memory_free": 7000}}}


@pytest.mark.skipif(not os.access(HAIL, os.X_OK), reason="Debian's hail is not installed")
def test_hail_evacuates_a_mirror_primary_as_a_drbd_one(make_harness: MakeHarness) -> None:
    """hail is told ``drbd``; its migration job goes to the secondary."""
    h = harness(make_harness)
    h.rpc.script("node_info", fn=memory_and_files)
    result = h.run_sync(OpNodeEvacuate(node_name="node2", mode="primary-only",
                                       iallocator="hail"))
    [[op]] = result["jobs"]
    assert op["OP_ID"] == "OP_INSTANCE_MIGRATE"
    assert op["target_node"] in (None, "node3")
    h.run_sync(decode_opcode(op))
    swapped_to_node3(h)
