"""Activate, deactivate, recreate and grow instance disks through the processor."""

from __future__ import annotations

from typing import Any

import pytest

from corral.cmdlib import instance_disks  # noqa: F401  (registers the logical units)
from corral.errors import ErrorCode, OpExecError
from corral.objects import AdminState, DiskTemplate, Instance, Node
from corral.opcodes.instance import (
    OpInstanceActivateDisks,
    OpInstanceDeactivateDisks,
    OpInstanceGrowDisk,
    OpInstanceRecreateDisks,
)
from corral.rpc.results import NodeResult
from tests.support.config import ConfigBuilder, instance_cluster, instance_with_disks
from tests.support.lu_harness import LuHarness, MakeHarness, expect_failure

RELEVANT = ("blockdev_", "instance_")
STORAGE = "/srv/corral/file-storage"


def node_calls(h: LuHarness) -> list[tuple[str, str]]:
    return [(c.name, c.node) for c in h.rpc.calls if c.name.startswith(RELEVANT)]


def cluster(nodes: int = 2, **inst: Any) -> tuple[ConfigBuilder, Instance]:
    b = instance_cluster(nodes=nodes)
    vm = instance_with_disks(b, "vm1", b.data.nodes["node-node2"], sizes=(1024, 512), **inst)
    return b, vm


def assembled(node: Node, args: tuple[Any, ...]) -> dict[str, Any]:
    disk, owner, _, index = args
    return {"path": f"/dev/loop{index}", "link": f"/run/corral/instance-disks/{owner}:{index}",
            "logical_id": list(disk.logical_id), "size": disk.size, "active": True}


def test_activate_returns_node_iv_name_and_path(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    h = make_harness(b)
    h.rpc.script("blockdev_assemble", fn=assembled)
    result = h.run_sync(OpInstanceActivateDisks(instance_name="vm1"))
    assert result == [["node2", "disk/0", "/run/corral/instance-disks/vm1:0"],
                      ["node2", "disk/1", "/run/corral/instance-disks/vm1:1"]]
    assert h.data.instances["inst-vm1"].disks_active
    assert [c.args[1:] for c in h.rpc.calls_of("blockdev_assemble")] == [
        ("vm1", True, 0), ("vm1", True, 1)]


def test_activate_failure_shuts_down_what_came_up(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    h = make_harness(b)
    h.rpc.script("blockdev_assemble", fn=lambda node, args: NodeResult.failure(
        node.name, "blockdev_assemble", "missing file") if args[3] == 1 else assembled(
        node, args))
    expect_failure(h, OpInstanceActivateDisks(instance_name="vm1"), OpExecError,
                   match="Cannot activate block devices")
    assert [n for n, _ in node_calls(h)][-2:] == ["blockdev_shutdown", "blockdev_shutdown"]


def test_deactivate_needs_a_stopped_instance_unless_forced(make_harness: MakeHarness) -> None:
    b, _ = cluster(admin_state=AdminState.UP, disks_active=True)
    h = make_harness(b)
    expect_failure(h, OpInstanceDeactivateDisks(instance_name="vm1"), code=ErrorCode.STATE,
                   match="Instance 'vm1' is marked to be up, cannot shutdown disks")
    h.run_sync(OpInstanceDeactivateDisks(instance_name="vm1", force=True))
    assert node_calls(h) == [("blockdev_shutdown", "node2")] * 2
    assert not h.data.instances["inst-vm1"].disks_active


def test_deactivate_refuses_a_running_instance(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    h = make_harness(b)
    h.rpc.script("instance_info", payload={"state": "running", "memory": 128})
    expect_failure(h, OpInstanceDeactivateDisks(instance_name="vm1"), code=ErrorCode.STATE,
                   match="Instance vm1 is running, cannot shutdown disks")


# --- recreate -------------------------------------------------------------------------

def test_recreate_listed_disks_in_place(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    h = make_harness(b)
    h.run_sync(OpInstanceRecreateDisks(instance_name="vm1", disks=[[1, {"size": 2048}]]))
    assert [n for n, _ in node_calls(h)] == ["instance_info", "blockdev_remove",
                                             "blockdev_create"]
    created = h.rpc.calls_of("blockdev_create")[0]
    assert created.args[0].uuid == "disk-vm1-1"
    assert created.args[1] == 2048
    assert h.data.disks["disk-vm1-1"].size == 2048
    assert h.data.disks["disk-vm1-1"].logical_id == (
        "loop", f"{STORAGE}/vm1/disk-vm1-1.file.disk1")
    h.assert_persisted()


def test_recreate_all_on_a_new_node(make_harness: MakeHarness) -> None:
    b, _ = cluster(nodes=3)
    h = make_harness(b)
    h.run_sync(OpInstanceRecreateDisks(instance_name="vm1", nodes=["node3"]))
    assert node_calls(h)[1:] == [("blockdev_remove", "node2"), ("blockdev_remove", "node2"),
                                 ("blockdev_create", "node3"), ("blockdev_create", "node3")]
    inst = h.data.instances["inst-vm1"]
    assert inst.primary_node == "node-node3"
    assert h.data.disks["disk-vm1-0"].nodes == ("node-node3",)


@pytest.mark.parametrize(
    ("op", "inst", "code", "match"),
    [
        pytest.param({"disks": [5]}, {}, ErrorCode.INVAL, "Invalid disk index '5'",
                     id="index"),
        pytest.param({}, {"admin_state": AdminState.UP}, ErrorCode.STATE,
                     "Instance 'vm1' is marked to be up, cannot recreate disks", id="up"),
        pytest.param({"nodes": ["node1", "node2"]}, {}, ErrorCode.INVAL,
                     "new node list has 2 nodes", id="nodes"),
        pytest.param({"nodes": ["ghost"]}, {}, ErrorCode.NOENT, "Node 'ghost' not known",
                     id="unknown-node"),
    ],
)
def test_recreate_prerequisites(
    make_harness: MakeHarness, op: dict[str, Any], inst: dict[str, Any], code: ErrorCode,
    match: str,
) -> None:
    b, _ = cluster(**inst)
    h = make_harness(b)
    expect_failure(h, OpInstanceRecreateDisks(instance_name="vm1", **op), code=code,
                   match=match)
    assert h.rpc.calls_of("blockdev_create") == []


# --- grow -----------------------------------------------------------------------------

def test_grow_dry_runs_then_grows_and_records(make_harness: MakeHarness) -> None:
    b, _ = cluster(template=DiskTemplate.PLAIN)
    h = make_harness(b)
    h.rpc.script("node_info", payload={"storage": [
        {"type": "lvm-vg", "name": "xenvg", "storage_free": 4096}]})
    h.run_sync(OpInstanceGrowDisk(instance_name="vm1", disk=1, amount=1024))
    grows = [(c.args[1], c.args[2], c.args[3]) for c in h.rpc.calls_of("blockdev_grow")]
    assert grows == [(1024, True, True), (1024, False, True)]
    assert h.data.disks["disk-vm1-1"].size == 1536
    assert [n for n, _ in node_calls(h)] == ["blockdev_assemble", "blockdev_grow",
                                             "blockdev_grow", "blockdev_shutdown"]
    env = next(c.args[2] for c in h.rpc.calls_of("hooks_runner") if c.args[0] == "disk-grow")
    assert (env["GANETI_DISK"], env["GANETI_AMOUNT"]) == ("1", "1024")
    h.assert_persisted()


def test_grow_to_an_absolute_size_and_wipe(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    b.set_cluster(prealloc_wipe_disks=True)
    h = make_harness(b)
    h.run_sync(OpInstanceGrowDisk(instance_name="vm1", disk=0, amount=3072, absolute=True))
    assert h.data.disks["disk-vm1-0"].size == 3072
    wipe = h.rpc.calls_of("blockdev_wipe")[0]
    assert wipe.args[1:] == (1024, 2048)


def test_grow_failure_leaves_the_size(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    h = make_harness(b)
    h.rpc.script("blockdev_grow", fail="cannot extend")
    expect_failure(h, OpInstanceGrowDisk(instance_name="vm1", disk=0, amount=10), OpExecError,
                   match="Dry-run grow request failed to node node2: cannot extend")
    assert h.data.disks["disk-vm1-0"].size == 1024


@pytest.mark.parametrize(
    ("template", "op", "code", "match"),
    [
        pytest.param(DiskTemplate.BLOCKDEV, {"disk": 0, "amount": 10}, ErrorCode.INVAL,
                     "Instance's disk layout 'blockdev' does not support growing",
                     id="blockdev"),
        pytest.param(DiskTemplate.FILE, {"disk": 4, "amount": 10}, ErrorCode.INVAL,
                     "Invalid disk index: 4 (instance has disks 0..1)", id="index"),
        pytest.param(DiskTemplate.FILE, {"disk": 0, "amount": 10, "absolute": True},
                     ErrorCode.STATE, "is smaller than current disk size", id="shrink"),
        pytest.param(DiskTemplate.PLAIN, {"disk": 0, "amount": 8192}, ErrorCode.NORES,
                     "Not enough disk space on target node node2 vg xenvg: required 8192"
                     " MiB, available 4096 MiB", id="space"),
    ],
)
def test_grow_prerequisites(
    make_harness: MakeHarness, template: DiskTemplate, op: dict[str, Any], code: ErrorCode,
    match: str,
) -> None:
    b, _ = cluster(template=template)
    h = make_harness(b)
    h.rpc.script("node_info", payload={"storage": [
        {"type": "lvm-vg", "name": "xenvg", "storage_free": 4096}]})
    expect_failure(h, OpInstanceGrowDisk(instance_name="vm1", **op), code=code, match=match)
    assert h.rpc.calls_of("blockdev_grow") == []
