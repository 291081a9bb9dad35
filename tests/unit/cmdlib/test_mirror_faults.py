"""Faults around mirror instances on the master: creation refused on an unusable or full
secondary, and a disk added to a running instance."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from corral.cmdlib import instance_set_params  # noqa: F401
from corral.cmdlib.common.instances.mirror import MirrorLogicalId
from corral.errors import ErrorCode
from corral.objects import AdminState
from corral.objects.node import Node
from corral.opcodes.instance import OpInstanceSetParams
from tests.support.lu_harness import MakeHarness, expect_failure
from tests.unit.cmdlib import test_mirror_mobility as mobility
from tests.unit.cmdlib.test_cmdlib_instance_mirror import STORAGE, cluster, create


def file_free(free: int) -> Any:
    """A node_info answer with ``free`` MiB in the file storage directory."""
    def answer(node: Node, args: tuple[Any, ...]) -> dict[str, Any]:
        return {"memory_total": 8192, "memory_free": 4096, "cpu_total": 4, "hv": {},
                "storage": [{"type": "file", "name": STORAGE, "storage_free": free,
                             "storage_size": 20_000}]}
    return answer


@pytest.mark.parametrize(("flags", "what"), [
    ({"drained": True}, "drained"), ({"vm_capable": False}, "non-vm_capable"),
])
def test_unusable_secondary_is_refused(make_harness: MakeHarness, flags: dict[str, Any],
                                       what: str) -> None:
    b = cluster()
    b.data.put(msgspec.structs.replace(b.data.nodes["node-node3"], **flags))
    h = make_harness(b)
    expect_failure(h, create(), code=ErrorCode.STATE,
                   match=f"Cannot use {what} secondary node 'node3'")
    assert h.rpc.calls_of("blockdev_create") == []


def test_file_space_is_checked_on_the_secondary_too(make_harness: MakeHarness) -> None:
    h = make_harness(cluster())
    h.rpc.script("node_info", fn=file_free(10_000))
    h.rpc.script("node_info", "node3", fn=file_free(1000))
    expect_failure(h, create(disks=[{"size": 1024}]), code=ErrorCode.NORES,
                   match=f"Not enough disk space on target node node3 directory {STORAGE}:"
                         " required 1024 MiB, available 1000 MiB")
    assert h.rpc.calls_of("blockdev_create") == []


# --- gnt-instance modify --disk add ---------------------------------------------------------

def add_disk(size: int = 512) -> OpInstanceSetParams:
    return OpInstanceSetParams(instance_name="vm1", disks=[["add", -1, {"size": size}]])


def test_a_disk_is_not_added_to_a_running_mirror_instance(make_harness: MakeHarness) -> None:
    h = mobility.harness(make_harness)
    expect_failure(h, add_disk(), code=ErrorCode.STATE,
                   match="cannot add a disk to a running mirror instance")
    assert h.rpc.calls_of("blockdev_create") == []


def test_a_disk_added_while_stopped_has_both_halves(make_harness: MakeHarness) -> None:
    h = mobility.harness(make_harness, mobility.cluster(AdminState.DOWN))
    h.rpc.script("instance_info", payload=None)
    h.rpc.script("node_info", fn=file_free(10_000))
    assert h.run_sync(add_disk()) == [["disk/1", "add:size=512,mode=rw"]]
    assert sorted(h.rpc.nodes_called("blockdev_create")) == ["node2", "node3"]
    inst = h.data.instances["inst-vm1"]
    disk = h.data.disks[inst.disks[1]]
    lid = MirrorLogicalId.of(disk)
    assert lid is not None
    assert lid.address == "10.0.0.3"
    assert disk.nodes == ("node-node2", "node-node3")


def test_a_disk_added_needs_space_on_the_secondary(make_harness: MakeHarness) -> None:
    h = mobility.harness(make_harness, mobility.cluster(AdminState.DOWN))
    h.rpc.script("instance_info", payload=None)
    h.rpc.script("node_info", fn=file_free(10_000))
    h.rpc.script("node_info", "node3", fn=file_free(100))
    expect_failure(h, add_disk(), code=ErrorCode.NORES,
                   match="Not enough disk space on target node node3")
    assert h.rpc.calls_of("blockdev_create") == []
