"""Instances with the mirror template on the master: creation on two nodes (given or
allocated), the logical id, ports shared with DRBD, refusals, removal and the role
rewrite of :func:`with_nodes`."""

from __future__ import annotations

import os
from typing import Any

import pytest

from corral.cmdlib import instance_create, instance_remove  # noqa: F401
from corral.cmdlib.common.instances.drbd import DrbdLogicalId, used_ports
from corral.cmdlib.common.instances.mirror import MirrorLogicalId, with_nodes
from corral.errors import ErrorCode, OpExecError
from corral.objects import DiskTemplate
from corral.objects.instance import Disk
from corral.opcodes.instance import OpInstanceCreate, OpInstanceRemove
from corral.rpc.results import NodeResult
from tests.support.config import ConfigBuilder, instance_cluster
from tests.support.lu_harness import LuHarness, MakeHarness, expect_failure
from tests.unit.cmdlib.test_cmdlib_instance_drbd import HAIL, lvm_free

NAME = "vm1.example.com"
STORAGE = "/srv/corral/file-storage"


def cluster(nodes: int = 3, **kw: Any) -> ConfigBuilder:
    kw.setdefault("enabled_disk_templates", ("file", "plain", "drbd", "mirror"))
    b = instance_cluster(nodes=nodes, **kw)
    for index in range(1, nodes + 1):
        name = f"node{index}"
        b.data.put(b.data.nodes[f"node-{name}"].evolve(0, secondary_ip=f"10.0.0.{index}"))
    return b


def create(name: str = NAME, node: str = "node2:node3", **kw: Any) -> OpInstanceCreate:
    pnode, _, snode = node.partition(":")
    kw.setdefault("pnode", pnode or None)
    kw.setdefault("snode", snode or None)
    kw.setdefault("disk_template", "mirror")
    kw.setdefault("hypervisor", "kvm")
    kw.setdefault("disks", [{"size": 1024}])
    kw.setdefault("os_type", "busybox")
    kw.setdefault("start", False)
    kw.setdefault("nics", [])
    return OpInstanceCreate(instance_name=name, name_check=False, ip_check=False, **kw)


def mirror_disks(h: LuHarness, name: str = NAME) -> list[tuple[Disk, MirrorLogicalId]]:
    inst = h.data.instance_by_name(name)
    assert inst is not None
    found = []
    for uuid in inst.disks:
        disk = h.data.disks[uuid]
        lid = MirrorLogicalId.of(disk)
        assert lid is not None
        found.append((disk, lid))
    return found


def test_mirror_disk_has_a_file_path_and_the_secondary_export(
        make_harness: MakeHarness) -> None:
    h = make_harness(cluster())
    assert h.run_sync(create(disks=[{"size": 512}, {"size": 256, "name": "data"}])) == [
        "node2", "node3"]
    [(first, lid), (second, lid2)] = mirror_disks(h)
    assert first.dev_type is DiskTemplate.MIRROR
    assert first.nodes == ("node-node2", "node-node3")
    assert lid.path == f"{STORAGE}/{NAME}/{first.uuid}.file.disk0"
    assert lid.driver == "loop"
    assert (lid.address, lid.export) == ("10.0.0.3", first.uuid)
    assert lid.as_tuple() == first.logical_id
    assert first.logical_id[2] == f"nbd+tls://10.0.0.3:{lid.port}/{first.uuid}"
    assert (second.name, second.size, second.iv_name) == ("data", 256, "disk/1")
    inst = h.data.instance_by_name(NAME)
    assert inst is not None
    # disk ports first, then the instance's VNC port: all distinct, from one pool
    assert [lid.port, lid2.port, inst.network_port] == [11000, 11001, 11002]
    assert {lid.port, lid2.port} <= used_ports(h.data)
    assert h.data.instance_secondary_nodes(inst) == ["node-node3"]
    h.assert_persisted()


def test_both_halves_are_created_primary_first(make_harness: MakeHarness) -> None:
    h = make_harness(cluster())
    h.run_sync(create())
    [(disk, _)] = mirror_disks(h)
    calls = h.rpc.calls_of("blockdev_create")
    assert [(c.node, c.args[0].uuid, c.args[1], c.args[3]) for c in calls] == [
        ("node2", disk.uuid, 1024, True), ("node3", disk.uuid, 1024, False)]
    assert all(c.args[0].logical_id == disk.logical_id for c in calls)


def test_drbd_and_mirror_disks_share_the_port_pool(make_harness: MakeHarness) -> None:
    h = make_harness(cluster())
    h.rpc.script("node_info", fn=lvm_free(10_000))
    h.run_sync(create())
    h.run_sync(create(name="db1", node="node1:node2", disk_template="drbd", hypervisor="fake"))
    inst = h.data.instance_by_name("db1")
    assert inst is not None
    drbd = DrbdLogicalId.of(h.data.disks[inst.disks[0]])
    assert drbd is not None
    [(_, lid)] = mirror_disks(h)
    assert (lid.port, drbd.port) == (11000, 11002)


def test_subdir_goes_between_storage_dir_and_instance(make_harness: MakeHarness) -> None:
    h = make_harness(cluster())
    h.run_sync(create(file_storage_dir="fast"))
    [(disk, lid)] = mirror_disks(h)
    assert lid.path == f"{STORAGE}/fast/{NAME}/{disk.uuid}.file.disk0"


def test_allocator_chooses_a_pair(make_harness: MakeHarness) -> None:
    h = make_harness(cluster())
    h.run_sync(create(node="", iallocator="corral"))
    [(disk, lid)] = mirror_disks(h)
    primary, secondary = disk.nodes
    assert primary != secondary
    assert lid.address == h.data.nodes[secondary].effective_secondary_ip


@pytest.mark.parametrize(("kw", "code", "match"), [
    ({"hypervisor": "fake"}, ErrorCode.INVAL, "Disk template 'mirror' needs the kvm"
                                              " hypervisor, not 'fake'"),
    ({"node": "node2:node2"}, ErrorCode.INVAL, "The secondary node cannot be the primary"),
    ({"node": "node2"}, ErrorCode.INVAL, "The networked disk templates need a mirror node"),
])
def test_refusals(make_harness: MakeHarness, kw: dict[str, Any], code: ErrorCode,
                  match: str) -> None:
    h = make_harness(cluster())
    expect_failure(h, create(**kw), code=code, match=match)
    assert h.rpc.calls_of("blockdev_create") == []


def test_offline_secondary_is_refused(make_harness: MakeHarness) -> None:
    b = cluster()
    b.data.put(b.data.nodes["node-node3"].evolve(0, offline=True))
    h = make_harness(b)
    expect_failure(h, create(), code=ErrorCode.STATE,
                   match="Cannot use offline secondary node 'node3'")


def test_failed_secondary_half_removes_the_primary_half(make_harness: MakeHarness) -> None:
    h = make_harness(cluster())
    h.rpc.script("blockdev_create", "node3", fail="no space left")
    expect_failure(h, create(), OpExecError, match="on node node3")
    assert h.rpc.nodes_called("blockdev_remove") == ["node2"]


def test_remove_takes_both_halves_and_directories(make_harness: MakeHarness) -> None:
    h = make_harness(cluster())
    h.run_sync(create())
    [(disk, _)] = mirror_disks(h)
    h.rpc.reset()
    h.run_sync(OpInstanceRemove(instance_name=NAME))
    assert [(c.name, c.node) for c in h.rpc.calls
            if c.name in ("mirror_export_stop", "blockdev_remove")] == [
        ("mirror_export_stop", "node3"), ("blockdev_remove", "node2"),
        ("blockdev_remove", "node3")]
    dirs = [(c.node, c.args[0]) for c in h.rpc.calls_of("file_storage_dir_remove")]
    assert dirs == [("node2", f"{STORAGE}/{NAME}"), ("node3", f"{STORAGE}/{NAME}")]
    assert disk.uuid not in h.data.disks
    assert h.data.instance_by_name(NAME) is None


def test_remove_with_an_offline_secondary_warns(make_harness: MakeHarness) -> None:
    h = make_harness(cluster())
    h.run_sync(create())

    def offline(node: Any, args: tuple[Any, ...]) -> Any:
        return NodeResult.failure(node.name, "blockdev_remove", "node is offline",
                                  offline=True)
    h.rpc.script("blockdev_remove", "node3", fn=offline)
    h.run_sync(OpInstanceRemove(instance_name=NAME))
    assert h.data.instance_by_name(NAME) is None
    assert any("Could not remove disk disk/0 on node node3" in line
               for line in h.feedback)


def test_with_nodes_points_the_uri_at_the_new_secondary(make_harness: MakeHarness) -> None:
    h = make_harness(cluster())
    h.run_sync(create())
    [(disk, lid)] = mirror_disks(h)
    swapped = with_nodes(h.data, disk, "node-node3", "node-node2")
    moved = MirrorLogicalId.of(swapped)
    assert swapped.nodes == ("node-node3", "node-node2")
    assert moved == MirrorLogicalId(lid.driver, lid.path, "10.0.0.2", lid.port, lid.export)
    elsewhere = with_nodes(h.data, disk, "node-node2", "node-node1")
    assert MirrorLogicalId.of(elsewhere) == MirrorLogicalId(
        lid.driver, lid.path, "10.0.0.1", lid.port, lid.export)


@pytest.mark.skipif(not os.access(HAIL, os.X_OK), reason="Debian's hail is not installed")
def test_hail_places_a_mirror_instance_beside_another(make_harness: MakeHarness) -> None:
    """Ganeti's allocator is told of mirror instances as drbd ones (same node roles)."""
    h = make_harness(cluster())
    h.rpc.script("node_info", fn=lvm_free(10_000))
    h.run_sync(create())
    h.run_sync(create(name="vm2", node="", iallocator="hail"))
    [(disk, _)] = mirror_disks(h, "vm2")
    assert disk.nodes[0] != disk.nodes[1]
    assert any("via iallocator hail" in line for line in h.feedback)


def test_create_and_start_serves_the_secondary_before_the_start(
        make_harness: MakeHarness) -> None:
    h = make_harness(cluster())
    h.run_sync(create(start=True))
    order = [(c.name, c.node) for c in h.rpc.calls
             if c.name in ("blockdev_create", "instance_os_add", "mirror_export_start",
                           "instance_start")]
    # the disks stay active from the OS installation to the start, the export too
    assert order == [("blockdev_create", "node2"), ("blockdev_create", "node3"),
                     ("mirror_export_start", "node3"), ("instance_os_add", "node2"),
                     ("instance_start", "node2")]
    [(disk, lid)] = mirror_disks(h)
    start = h.rpc.calls_of("mirror_export_start")[-1]
    assert (start.args[0].uuid, start.args[1:]) == (disk.uuid, ("10.0.0.3", lid.port, "node2"))
