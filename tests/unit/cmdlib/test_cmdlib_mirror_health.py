"""Mirrored disks' health: ``gnt-cluster verify-disks`` (Ganeti's LUGroupVerifyDisks with
the DRBD states, plus the degraded report) and the sync status of ``gnt-instance info``
(instance data and its rendering)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from corral.cli.instance_info import device_status
from corral.cmdlib import instance_create, instance_query, verify_disks  # noqa: F401
from corral.objects import AdminState, Node
from corral.opcodes.group import OpGroupVerifyDisks
from corral.opcodes.instance import OpInstanceQueryData
from corral.rpc.payloads import (
    DeviceStatus,
    MirrorDiskSync,
    MirrorStatus,
    MirrorStatusResult,
    Volume,
)
from tests.support.lu_harness import LuHarness, MakeHarness
from tests.unit.cmdlib.test_cmdlib_instance_drbd import create, harness
from tests.unit.cmdlib.test_cmdlib_instance_mirror import cluster as mirror_cluster
from tests.unit.cmdlib.test_cmdlib_instance_mirror import create as create_mirror

NAME = "db1"


def volumes_in_config(h: LuHarness) -> Any:
    """``node_volumes`` as a healthy node answers: the LVs the configuration puts there."""
    def answer(node: Node, args: tuple[Any, ...]) -> list[Volume]:
        return [Volume(name=str(d.logical_id[1]), vg=str(d.logical_id[0]), size=d.size,
                       dev="/dev/sdb") for d in h.data.disks.values()
                if d.dev_type.value == "plain" and node.uuid in d.nodes]
    return answer


def drbd_instance(make_harness: MakeHarness, active: bool = True) -> LuHarness:
    h = harness(make_harness)
    h.run_sync(create(NAME, node="node1:node2"))
    inst = h.data.instance_by_name(NAME)
    assert inst is not None
    asyncio.run(h.writer.commit(inst.evolve(0, disks_active=active)))
    h.rpc.script("node_volumes", fn=volumes_in_config(h))
    h.rpc.reset()
    h.feedback.clear()
    return h


def disk_uuid(h: LuHarness) -> str:
    inst = h.data.instance_by_name(NAME)
    assert inst is not None
    return inst.disks[0]


def verify(h: LuHarness) -> Any:
    return h.run_sync(OpGroupVerifyDisks(group_name="default"))


def mirror(percent: float | None = None, eta: int | None = None, degraded: bool = False,
           ldisk: int = 1) -> MirrorStatus:
    return MirrorStatus(dev_path="/dev/drbd0", major=147, minor=0, sync_percent=percent,
                        estimated_time=eta, is_degraded=degraded, ldisk_status=ldisk)


def multi(status: MirrorStatus | str) -> Any:
    def answer(node: Node, args: tuple[Any, ...]) -> list[MirrorStatusResult]:
        return [MirrorStatusResult(isinstance(status, MirrorStatus), status)]
    return answer


# --- verify-disks --------------------------------------------------------------------


def test_healthy_drbd_instance_needs_nothing(make_harness: MakeHarness) -> None:
    h = drbd_instance(make_harness)
    assert verify(h) == [{}, [], {}]
    assert h.rpc.nodes_called("drbd_needs_activation") == ["node1", "node2"]
    assert h.rpc.nodes_called("blockdev_getmirrorstatus_multi") == ["node1", "node2"]
    assert not [line for line in h.feedback if "degraded" in line]


def test_standalone_disk_needs_activation(make_harness: MakeHarness) -> None:
    h = drbd_instance(make_harness)
    h.rpc.script("drbd_needs_activation", "node2", payload=[disk_uuid(h)])
    h.rpc.script("blockdev_getmirrorstatus_multi", "node2", fn=multi(mirror(degraded=True)))
    assert verify(h) == [{}, [NAME], {}]
    assert "WARNING: Instance db1 has degraded disks: disk/0 on node2: *DEGRADED*" \
        in h.feedback


def test_resyncing_disk_is_reported_with_its_progress(make_harness: MakeHarness) -> None:
    h = drbd_instance(make_harness)
    h.rpc.script("blockdev_getmirrorstatus_multi", "node1",
                 fn=multi(mirror(45.1, 63, degraded=True)))
    assert verify(h) == [{}, [], {}]
    assert ("WARNING: Instance db1 has degraded disks: disk/0 on node1: *RECOVERING*"
            " 45.10%, ETA 63s") in h.feedback


def test_missing_device_is_reported(make_harness: MakeHarness) -> None:
    h = drbd_instance(make_harness)
    h.rpc.script("blockdev_getmirrorstatus_multi", "node2", fn=multi("Can't find device"))
    verify(h)
    assert any("disk/0 on node2: *MISSING* (Can't find device)" in line
               for line in h.feedback)


def test_node_that_cannot_answer_is_a_node_error(make_harness: MakeHarness) -> None:
    h = drbd_instance(make_harness)
    h.rpc.script("drbd_needs_activation", "node2", fail="connection refused")
    errors, names, missing = verify(h)
    assert list(errors) == ["node2"]
    assert "connection refused" in errors["node2"]
    assert (names, missing) == ([], {})


def test_missing_volumes_are_reported_as_ganeti(make_harness: MakeHarness) -> None:
    h = drbd_instance(make_harness)
    disk = h.data.disks[disk_uuid(h)]
    data, meta = (h.data.disks[u] for u in disk.children)
    healthy = volumes_in_config(h)

    def lost_meta(node: Node, args: tuple[Any, ...]) -> list[Volume]:
        return [v for v in healthy(node, args) if v.name != meta.logical_id[1]]

    h.rpc.script("node_volumes", "node2", fn=lost_meta)
    errors, names, missing = verify(h)
    assert (errors, names) == ({}, [])
    assert missing == {NAME: [["node2", f"xenvg/{meta.logical_id[1]}"]]}
    assert data.logical_id[1] != meta.logical_id[1]


def test_volumes_of_a_node_that_cannot_answer_count_as_missing(
        make_harness: MakeHarness) -> None:
    h = drbd_instance(make_harness)
    h.rpc.script("node_volumes", "node2", fail="lvs failed")
    errors, _, missing = verify(h)
    assert errors == {"node2": errors["node2"]}
    assert "lvs failed" in errors["node2"]
    assert [node for node, _ in missing[NAME]] == ["node2", "node2"]


def test_inactive_disks_are_not_asked_about(make_harness: MakeHarness) -> None:
    h = drbd_instance(make_harness, active=False)
    assert verify(h) == [{}, [], {}]
    assert h.rpc.calls_of("drbd_needs_activation") == []
    assert h.rpc.calls_of("node_volumes") == []


def test_offline_secondary_is_not_asked(make_harness: MakeHarness) -> None:
    h = drbd_instance(make_harness)
    node = h.data.nodes["node-node2"]
    asyncio.run(h.writer.commit(node.evolve(0, offline=True)))
    verify(h)
    assert h.rpc.nodes_called("drbd_needs_activation") == ["node1"]


# --- gnt-instance info -----------------------------------------------------------------


def test_drbd_status_has_its_device_numbers(make_harness: MakeHarness) -> None:
    h = drbd_instance(make_harness)
    h.rpc.script("blockdev_find", payload=DeviceStatus(path="/dev/drbd0", sync_percent=45.1,
                                                       estimated_time=63, is_degraded=True,
                                                       ldisk_status=2))
    h.rpc.script("blockdev_find", "node2", payload=DeviceStatus(path="/dev/drbd0"))
    data = h.run_sync(OpInstanceQueryData(instances=[NAME]))
    disk = data[NAME]["disks"][0]
    assert disk["pstatus"] == ["/dev/drbd0", 147, 0, 45.1, 63, True, 2]
    assert disk["sstatus"] == ["/dev/drbd0", 147, 0, None, None, False, 0]
    assert disk["children"][0]["pstatus"][1:3] == [None, None], "LVs: numbers unknown"


@pytest.mark.parametrize(("status", "text"), [
    (["/dev/drbd0", 147, 0, None, None, False, 1], "/dev/drbd0 (147:0) in sync, status ok"),
    (["/dev/drbd1", 147, 1, 45.1, 63, True, 2],
     "/dev/drbd1 (147:1) *RECOVERING* 45.10%, ETA 63s, status *DEGRADED*"),
    (["/dev/drbd1", 147, 1, None, None, True, 3],
     "/dev/drbd1 (147:1) in sync, status *DEGRADED* *UNCERTAIN STATE*"),
    (["/dev/drbd1", 147, 1, None, None, True, 4],
     "/dev/drbd1 (147:1) in sync, status *DEGRADED* *MISSING DISK*"),
])
def test_drbd_status_is_rendered_as_ganeti(status: list[Any], text: str) -> None:
    assert device_status("drbd", status) == text


# --- mirror ----------------------------------------------------------------------------


def mirror_instance(make_harness: MakeHarness, state: str, done: int = 0,
                    total: int = 0, running: bool = True) -> LuHarness:
    h = make_harness(mirror_cluster())
    h.run_sync(create_mirror(NAME, node="node1:node2"))
    inst = h.data.instance_by_name(NAME)
    assert inst is not None
    asyncio.run(h.writer.commit(inst.evolve(0, admin_state=AdminState.UP,
                                            disks_active=True)))
    if running:
        h.rpc.script("instance_info", payload={"state": "running", "memory": 128})
    h.rpc.script("instance_mirror_status", payload=[
        MirrorDiskSync(index=0, state=state, done=done, total=total)])  # type: ignore[arg-type]
    h.rpc.script("blockdev_find", payload=DeviceStatus(path="/srv/x/disk0"))
    h.rpc.reset()
    h.feedback.clear()
    return h


@pytest.mark.parametrize(("state", "done", "status", "text"), [
    ("in_sync", 0, [None, None, False, 1], "/srv/x/disk0 (N/A:N/A) in sync, status ok"),
    ("resyncing", 451, [45.1, None, True, 1],
     "/srv/x/disk0 (N/A:N/A) *RECOVERING* 45.10%, ETA unknown, status *DEGRADED*"),
    ("degraded", 0, [None, None, True, 1], "/srv/x/disk0 (N/A:N/A) in sync, status *DEGRADED*"),
])
def test_mirror_status_comes_from_the_primary_hypervisor(
        make_harness: MakeHarness, state: str, done: int, status: list[Any],
        text: str) -> None:
    h = mirror_instance(make_harness, state, done, 1000)
    disk = h.run_sync(OpInstanceQueryData(instances=[NAME]))[NAME]["disks"][0]
    assert disk["pstatus"] == ["/srv/x/disk0", None, None, *status]
    assert disk["sstatus"] == disk["pstatus"]
    assert device_status("mirror", disk["pstatus"]) == text
    assert h.rpc.nodes_called("instance_mirror_status") == ["node1"]


def test_stopped_mirror_is_not_active(make_harness: MakeHarness) -> None:
    h = mirror_instance(make_harness, "in_sync", running=False)
    disk = h.run_sync(OpInstanceQueryData(instances=[NAME]))[NAME]["disks"][0]
    assert (disk["pstatus"], disk["sstatus"]) == (None, None)
    assert device_status("mirror", disk["pstatus"]) == "not active"
    assert h.rpc.calls_of("instance_mirror_status") == []


def test_verify_disks_activates_a_degraded_mirror(make_harness: MakeHarness) -> None:
    h = mirror_instance(make_harness, "degraded")
    assert verify(h) == [{}, [NAME], {}]
    assert "WARNING: Instance db1 has degraded disks: disk/0 on node1: *DEGRADED*" \
        in h.feedback


def test_verify_disks_reports_a_resyncing_mirror(make_harness: MakeHarness) -> None:
    h = mirror_instance(make_harness, "resyncing", 250, 1000)
    assert verify(h) == [{}, [], {}]
    assert ("WARNING: Instance db1 has degraded disks: disk/0 on node1: *RECOVERING*"
            " 25.00%, ETA unknown") in h.feedback


def test_verify_disks_says_nothing_of_a_mirror_in_sync(make_harness: MakeHarness) -> None:
    h = mirror_instance(make_harness, "in_sync")
    assert verify(h) == [{}, [], {}]
    assert not [line for line in h.feedback if "degraded" in line]
