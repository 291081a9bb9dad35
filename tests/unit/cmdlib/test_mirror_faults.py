"""Faults around mirror instances on the master: creation refused on an unusable or full
secondary, and a disk added to a running instance."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from corral.cli.instance_info import device_status
from corral.cmdlib import instance_query, instance_set_params  # noqa: F401
from corral.cmdlib.common.instances.mirror import MirrorLogicalId
from corral.errors import ErrorCode, OpExecError
from corral.objects import AdminState
from corral.objects.node import Node
from corral.opcodes.instance import (
    OpInstanceActivateDisks,
    OpInstanceQueryData,
    OpInstanceSetParams,
)
from corral.rpc.payloads import DeviceStatus, MirrorDiskSync
from tests.support.lu_harness import MakeHarness, expect_failure
from tests.unit.cmdlib import test_mirror_mobility as mobility
from tests.unit.cmdlib import test_replace_disks_mirror as replacing
from tests.unit.cmdlib.test_cmdlib_instance_mirror import (
    NAME,
    STORAGE,
    cluster,
    create,
    mirror_disks,
)


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


# --- a resync cut half-way ------------------------------------------------------------------

def sync_answers(*states: tuple[str, int]) -> Any:
    """instance_mirror_status answers: disk 0 in (state, done of 100) in turn, the last one
    from then on."""
    seen: list[int] = []

    def answer(node: Node, args: tuple[Any, ...]) -> list[MirrorDiskSync]:
        state, done = states[min(len(seen), len(states) - 1)]
        seen.append(done)
        return [MirrorDiskSync(index=0, state=state, done=done, total=100,  # type: ignore[arg-type]
                               error="secondary unreachable" if state == "degraded" else "")]
    return answer


def test_a_replace_whose_resync_is_cut_fails_and_activate_disks_completes_it(
        make_harness: MakeHarness) -> None:
    """The new secondary's export dies during the whole-disk copy: the job fails without
    claiming the disks in sync, the copy is reported degraded; activate-disks resumes it."""
    h = replacing.ready(make_harness)
    h.rpc.script("instance_mirror_status", fn=sync_answers(
        ("resyncing", 10), ("resyncing", 40), ("degraded", 40)))
    with pytest.raises(OpExecError, match="stays degraded on its new secondary"):
        h.run_sync(replacing.replace("replace_new_secondary", remote_node="node1"))
    assert not any("in sync" in line for line in h.feedback), h.feedback
    [(_, lid)] = mirror_disks(h)
    assert lid.address == "10.0.0.1", "the configuration names the new secondary"
    h.rpc.script("instance_info", payload={"state": "running", "memory": 128})
    h.rpc.script("blockdev_find", payload=DeviceStatus(path=str(lid.path)))
    info = h.run_sync(OpInstanceQueryData(instances=[NAME]))
    status = info[NAME]["disks"][0]["pstatus"]
    assert status[5] is True  # degraded
    assert device_status("mirror", status).endswith("status *DEGRADED*")
    h.rpc.reset()
    h.rpc.script("instance_mirror_status", fn=sync_answers(
        ("degraded", 40), ("resyncing", 70), ("in_sync", 100)))
    h.run_sync(OpInstanceActivateDisks(instance_name=NAME))
    resyncs = h.rpc.calls_of("instance_mirror_resync")
    assert [(c.node, c.args[1], c.args[2]) for c in resyncs] == [("node2", [0], False)]
    assert not any("Could not resync" in line for line in h.feedback)
