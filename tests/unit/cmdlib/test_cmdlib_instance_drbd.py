"""Instances with the drbd template on the master: creation on two nodes, refusals,
rollback, minors and ports, removal, and the DRBD map behind ``gnt-node list-drbd``."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

import msgspec
import pytest

from corral.cmdlib import instance_create, instance_query, instance_remove  # noqa: F401
from corral.cmdlib.common.instances.drbd import DRBD_META_SIZE, DrbdLogicalId, node_drbd_rows
from corral.errors import ErrorCode, OpExecError, OpPrereqError
from corral.locking.levels import Level
from corral.objects import DiskTemplate, Node
from corral.objects.instance import Disk
from corral.opcodes.instance import OpInstanceCreate, OpInstanceQueryData, OpInstanceRemove
from corral.rpc.payloads import MirrorStatus
from corral.rpc.results import NodeResult
from tests.support.config import ConfigBuilder, instance_cluster
from tests.support.lu_harness import LuHarness, MakeHarness, expect_failure, requested
from tests.unit.cmdlib.test_cmdlib_private_params import Master

NAME = "db1.example.com"
TEMPLATES = ("file", "diskless", "plain", "drbd")


def cluster(nodes: int = 3, **kw: Any) -> ConfigBuilder:
    kw.setdefault("enabled_disk_templates", TEMPLATES)
    return instance_cluster(nodes=nodes, **kw)


def create(name: str = NAME, node: str = "node1:node2", **kw: Any) -> OpInstanceCreate:
    pnode, _, snode = node.partition(":")
    kw.setdefault("pnode", pnode)
    kw.setdefault("snode", snode or None)
    kw.setdefault("disk_template", "drbd")
    kw.setdefault("disks", [{"size": 1024}])
    kw.setdefault("os_type", "busybox")
    kw.setdefault("start", False)
    kw.setdefault("nics", [])
    return OpInstanceCreate(instance_name=name, name_check=False, ip_check=False, **kw)


def lvm_free(free: int) -> Any:
    def answer(node: Node, args: tuple[Any, ...]) -> dict[str, Any]:
        return {"memory_total": 8192, "memory_free": 4096, "cpu_total": 4, "hv": {},
                "storage": [{"type": "lvm-vg", "name": vg, "storage_free": free,
                             "storage_size": 20_000} for vg in ("xenvg", "fastvg", "metavg")]}
    return answer


def harness(make_harness: MakeHarness, b: ConfigBuilder | None = None,
            free: int = 10_000) -> LuHarness:
    h = make_harness(b or cluster())
    h.rpc.script("node_info", fn=lvm_free(free))
    return h


def creates(h: LuHarness) -> list[tuple[str, str, str, int, bool]]:
    """(node, device type, logical id's last part, size, on_primary) per blockdev_create."""
    return [(c.node, c.args[0].dev_type.value, _short(c.args[0]), c.args[1], c.args[3])
            for c in h.rpc.calls_of("blockdev_create")]


def _short(disk: Disk) -> str:
    if disk.dev_type is DiskTemplate.DRBD:
        return "drbd"
    return str(disk.logical_id[1]).rpartition(".")[2]


def the_disk(h: LuHarness, name: str = NAME) -> tuple[Disk, DrbdLogicalId]:
    inst = h.data.instance_by_name(name)
    assert inst is not None
    disk = h.data.disks[inst.disks[0]]
    lid = DrbdLogicalId.of(disk)
    assert lid is not None
    return disk, lid


# --- creation ------------------------------------------------------------------------


def test_drbd_disks_are_created_on_the_primary_then_the_secondary(
        make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    assert h.run_sync(create()) == ["node1", "node2"]
    disk, lid = the_disk(h)
    assert (lid.primary, lid.secondary) == ("node-node1", "node-node2")
    assert (lid.port, lid.primary_minor, lid.secondary_minor) == (11000, 0, 0)
    assert len(lid.secret) == 40
    assert int(lid.secret, 16) >= 0
    assert disk.nodes == ("node-node1", "node-node2")
    assert disk.size == 1024
    assert disk.iv_name == "disk/0"
    data, meta = (h.data.disks[u] for u in disk.children)
    assert data.logical_id[0] == meta.logical_id[0] == "xenvg"
    assert str(data.logical_id[1]).endswith(".disk0_data")
    assert str(meta.logical_id[1]).endswith(".disk0_meta")
    assert (data.size, meta.size) == (1024, DRBD_META_SIZE)
    assert data.nodes == meta.nodes == disk.nodes
    # one call per node: the node's drbd driver makes the two LVs with the device
    assert creates(h) == [("node1", "drbd", "drbd", 1024, True),
                          ("node2", "drbd", "drbd", 1024, False)]
    assert {c.args[0].uuid for c in h.rpc.calls_of("blockdev_create")} == {disk.uuid}
    inst = h.data.instance_by_name(NAME)
    assert inst is not None
    assert inst.disks == (disk.uuid,)
    assert h.data.instance_secondary_nodes(inst) == ["node-node2"]
    assert h.ctx.drbd.ports() == set()
    assert h.ctx.drbd.minors("node-node1") == set()
    h.assert_persisted()


def test_children_use_the_disk_vg_and_metavg(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    h.run_sync(create(disks=[{"size": 512, "vg": "fastvg", "metavg": "metavg"}]))
    disk, _ = the_disk(h)
    data, meta = (h.data.disks[u] for u in disk.children)
    assert (data.logical_id[0], meta.logical_id[0]) == ("fastvg", "metavg")


def test_each_disk_takes_the_next_minor_and_port(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    h.run_sync(create(disks=[{"size": 256}, {"size": 256}]))
    h.run_sync(create(name="db2", node="node2:node1"))
    inst = h.data.instance_by_name(NAME)
    assert inst is not None
    ids = [DrbdLogicalId.of(h.data.disks[u]) for u in inst.disks]
    assert [(i.port, i.primary_minor) for i in ids if i] == [(11000, 0), (11001, 1)]
    _, second = the_disk(h, "db2")
    assert (second.port, second.primary_minor, second.secondary_minor) == (11002, 2, 2)


def test_locks_cover_both_nodes(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    lu = instance_create.LUInstanceCreate(h.ctx, create(), lambda _: None)
    lu.check_arguments()
    lu.expand_names()
    plan = lu.declare_locks()
    assert requested(plan, Level.NODE).names == frozenset({"node1", "node2"})
    assert not requested(plan, Level.NODE_RES).shared


def test_secret_stays_out_of_result_log_and_instance_data(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    result = h.run_sync(create())
    _, lid = the_disk(h)
    data = h.run_sync(OpInstanceQueryData(instances=[NAME], static=True))
    shown = msgspec.json.encode([result, h.feedback, data]).decode()
    assert lid.secret not in shown
    disk = data[NAME]["disks"][0]
    assert disk["logical_id"][:5] == ["node-node1", "node-node2", 11000, 0, 0]
    assert disk["drbd_info"]["secondary_node"] == "node2"
    assert [c["logical_id"][1].rpartition(".")[2] for c in disk["children"]] == [
        "disk0_data", "disk0_meta"]
    assert data[NAME]["snodes"] == ["node2"]


def test_allocator_chooses_both_nodes(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    h.run_sync(create(pnode=None, snode=None, iallocator="corral"))
    disk, lid = the_disk(h)
    assert lid.primary != lid.secondary
    assert set(disk.nodes) <= {"node-node1", "node-node2", "node-node3"}


async def _two_at_once(h: LuHarness) -> None:
    """The first creation stops at its first call to its primary node (after choosing
    its port) while the second runs to its end on two other nodes."""
    h.rpc.hold("node2")
    first = asyncio.create_task(h.run(create(node="node2:node3")))
    while not h.rpc.held_calls("node2"):
        await asyncio.sleep(0)
    await h.run(create(name="db2", node="node4:node5"))
    h.rpc.release("node2")
    await first


def test_parallel_creations_get_distinct_ports(make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster(nodes=5))
    asyncio.run(_two_at_once(h))
    ports = {the_disk(h, name)[1].port for name in (NAME, "db2")}
    assert ports == {11000, 11001}


def test_minors_reserved_by_a_running_job_are_skipped(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    h.ctx.drbd.reserve_minor("job/other", "node-node1", 0)
    h.ctx.drbd.reserve_port("job/other", 11000)
    h.run_sync(create())
    _, lid = the_disk(h)
    assert (lid.port, lid.primary_minor, lid.secondary_minor) == (11001, 1, 0)


# --- refusals ------------------------------------------------------------------------


@pytest.mark.parametrize(("op", "code", "match"), [
    (create(node="node1"), ErrorCode.INVAL, "need a mirror node"),
    (create(node="node1:node1"), ErrorCode.INVAL, "cannot be the primary node"),
    (create(node="node1:node9"), ErrorCode.NOENT, "node9"),
])
def test_bad_secondary_is_refused(make_harness: MakeHarness, op: OpInstanceCreate,
                                  code: ErrorCode, match: str) -> None:
    h = harness(make_harness)
    expect_failure(h, op, code=code, match=match)
    assert h.rpc.calls_of("blockdev_create") == []


@pytest.mark.parametrize(("flags", "what"), [
    ({"offline": True}, "offline"), ({"drained": True}, "drained"),
    ({"vm_capable": False}, "non-vm_capable"),
])
def test_unusable_secondary_is_refused(make_harness: MakeHarness, flags: dict[str, Any],
                                       what: str) -> None:
    b = cluster()
    b.data.put(msgspec.structs.replace(b.data.nodes["node-node2"], **flags))
    h = harness(make_harness, b)
    expect_failure(h, create(), code=ErrorCode.STATE,
                   match=f"Cannot use {what} secondary node 'node2'")


def test_drbd_must_be_enabled(make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster(enabled_disk_templates=("file", "plain")))
    expect_failure(h, create(), code=ErrorCode.STATE, match="'drbd' is not enabled")


def test_drbd_needs_a_volume_group(make_harness: MakeHarness) -> None:
    h = harness(make_harness, cluster(volume_group_name=""))
    expect_failure(h, create(), code=ErrorCode.STATE, match="lvm-based")


def test_space_is_checked_on_the_secondary_too(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    h.rpc.script("node_info", "node2", fn=lvm_free(1100))
    expect_failure(h, create(), code=ErrorCode.NORES, match="node2")
    assert h.ctx.drbd.ports() == set()


def test_policy_on_disk_templates(make_harness: MakeHarness) -> None:
    b = cluster()
    ipolicy = {**b.data.cluster.ipolicy, "disk-templates": ["plain"]}
    b.set_cluster(ipolicy=ipolicy)
    h = harness(make_harness, b)
    expect_failure(h, create(), code=ErrorCode.INVAL, match="drbd")


def test_groups_apart_only_warn(make_harness: MakeHarness) -> None:
    b = cluster(nodes=2)
    b.node("node3", b.group("other"))
    h = harness(make_harness, b)
    h.run_sync(create(node="node1:node3"))
    assert any("two different node groups" in line for line in h.feedback)


# --- rollback ------------------------------------------------------------------------


def _fail_drbd_on(node_name: str) -> Any:
    def answer(node: Node, args: tuple[Any, ...]) -> Any:
        if node.name == node_name and args[0].dev_type is DiskTemplate.DRBD:
            return NodeResult.failure(node.name, "blockdev_create", "no minor")
        return {"dev_path": "/dev/x", "major": 1, "minor": 2}
    return answer


def test_a_failed_creation_removes_everything_made(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    h.run_sync(create(name="db0", node="node1:node3"))
    h.rpc.reset()
    h.rpc.script("blockdev_create", fn=_fail_drbd_on("node2"))
    expect_failure(h, create(disks=[{"size": 256}, {"size": 256}]), error=OpExecError,
                   match="disk/0 on node node2")
    removed = [(c.node, c.args[0].iv_name) for c in h.rpc.calls_of("blockdev_remove")]
    assert removed == [("node1", "disk/0")]
    assert h.ctx.drbd.ports() == set()
    assert h.ctx.drbd.minors("node-node2") == set()
    h.rpc.script("blockdev_create", fn=_fail_drbd_on("none"))
    h.run_sync(create())
    assert (the_disk(h)[1].port, the_disk(h)[1].primary_minor) == (11001, 1)


def _mirror_status(percents: list[float | None], degraded: bool = False) -> Any:
    """Answers of the primary's ``blockdev_getmirrorstatus``, one per poll, then in sync."""
    left = list(percents)

    def answer(node: Node, args: tuple[Any, ...]) -> list[MirrorStatus]:
        percent = left.pop(0) if left else None
        return [MirrorStatus(dev_path="/dev/drbd0", major=147, minor=0, sync_percent=percent,
                             estimated_time=None if percent is None else 4,
                             is_degraded=degraded or percent is not None, ldisk_status=0)
                for _ in args[0]]
    return answer


def test_creation_waits_for_the_sync_with_progress(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    h.rpc.script("blockdev_getmirrorstatus", fn=_mirror_status([12.5, 60.0]))
    h.run_sync(create())
    assert [c.node for c in h.rpc.calls_of("blockdev_getmirrorstatus")] == ["node1"] * 3
    assert " - INFO: - device disk/0: 12.50% done, 4s remaining (estimated)" in h.feedback
    assert " - INFO: Instance db1.example.com's disks are in sync" in h.feedback


def test_no_wait_for_sync_looks_once(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    h.rpc.script("blockdev_getmirrorstatus", fn=_mirror_status([12.5, 60.0]))
    h.run_sync(create(wait_for_sync=False))
    assert len(h.rpc.calls_of("blockdev_getmirrorstatus")) == 1
    assert h.data.instance_by_name(NAME) is not None


def test_degraded_new_disks_undo_the_creation(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    h.rpc.script("blockdev_getmirrorstatus", fn=_mirror_status([], degraded=True))
    with pytest.raises(OpExecError, match="There are some degraded disks for this instance"):
        h.run_sync(create())
    assert h.data.instance_by_name(NAME) is None
    assert sorted(c.node for c in h.rpc.calls_of("blockdev_remove")) == ["node1", "node2"]
    assert h.data.disks == {}
    h.assert_persisted()


# --- removal and the DRBD map --------------------------------------------------------


def test_removal_takes_disks_off_both_nodes_and_frees_minors(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    h.run_sync(create())
    h.rpc.reset()
    h.run_sync(OpInstanceRemove(instance_name=NAME))
    removed = [(c.node, _short(c.args[0])) for c in h.rpc.calls_of("blockdev_remove")]
    assert removed == [("node1", "drbd"), ("node2", "drbd")]
    assert h.data.disks == {}
    assert h.data.instances == {}
    assert node_drbd_rows(h.data, "node1") == []
    h.run_sync(create(name="db2"))
    assert the_disk(h, "db2")[1].primary_minor == 0


def test_node_drbd_rows(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    h.run_sync(create(disks=[{"size": 256}, {"size": 256}]))
    h.run_sync(create(name="db2", node="node2:node3"))
    assert node_drbd_rows(h.data, "node2") == [
        ["node2", 0, NAME, "disk/0", "secondary", "node1"],
        ["node2", 1, NAME, "disk/1", "secondary", "node1"],
        ["node2", 2, "db2", "disk/0", "primary", "node3"],
    ]
    assert node_drbd_rows(h.data, "node3") == [["node3", 0, "db2", "disk/0", "secondary",
                                                "node2"]]
    with pytest.raises(OpPrereqError, match="nodeX"):
        node_drbd_rows(h.data, "nodeX")


HAIL = Path("/usr/lib/ganeti/3.0/usr/lib/ganeti/iallocators/hail")


@pytest.mark.skipif(not os.access(HAIL, os.X_OK), reason="Debian's hail is not installed")
def test_hail_chooses_both_nodes(make_harness: MakeHarness) -> None:
    h = harness(make_harness)
    h.run_sync(create(pnode=None, snode=None, iallocator="hail"))
    disk, lid = the_disk(h)
    assert lid.primary != lid.secondary
    assert disk.nodes == (lid.primary, lid.secondary)
    assert any("via iallocator hail" in line for line in h.feedback)


def test_through_the_queue_the_secret_stays_in_the_configuration(
    make_harness: MakeHarness, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    h = harness(make_harness)
    master = Master(h, tmp_path)
    op = {"OP_ID": "OP_INSTANCE_CREATE", "instance_name": NAME, "os_type": "busybox",
          "pnode": "node1", "snode": "node2", "disk_template": "drbd",
          "disks": [{"size": 1024}], "nics": [], "name_check": False, "ip_check": False}

    async def scenario() -> tuple[list[Any], list[Any], list[Path]]:
        job = await master.run_job(op)
        jobs = await master.methods.dispatch("QueryJobs", [[job.id], ["status", "opresult",
                                                                      "oplog"]])
        rows = await master.methods.dispatch("QueryNodeDrbd", ["node2"])
        return jobs, rows, master.files()

    jobs, rows, files = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert jobs[0][0] == "success"
    assert rows == [["node2", 0, NAME, "disk/0", "secondary", "node1"]]
    secret = the_disk(h)[1].secret.encode()
    holding = {p.name for p in files if secret in p.read_bytes()}
    assert holding
    assert all(name.startswith(h.store_path.name) for name in holding)
    assert secret.decode() not in json.dumps(jobs) + caplog.text
