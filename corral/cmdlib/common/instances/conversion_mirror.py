"""``file`` ↔ ``mirror`` conversions (Corral's own, as Ganeti's plain ↔ drbd).

file → mirror: each file stays where it is and becomes the primary's half of a
mirror disk (same disk, same path; the logical id gains the secondary's export
URI, with a port from the DRBD pool); an empty file at the same path is created on
the secondary. Nothing is copied now: the instance's next start mirrors the whole
disk to the secondary (``sync: full``), and until then the disk is reported
degraded. If a half cannot be created, the halves made are removed again.

mirror → file: the exports are stopped with the disks, the instance is committed
with file disks (the primary's files), then the secondary's halves are removed
(their node drops the instance directory left empty; failures are warnings).
"""

from __future__ import annotations

import posixpath
from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.allocation import disk_space_needs
from corral.cmdlib.common.instances.conversion_plan import (
    ConversionPlan,
    commit_conversion,
    shutdown_for_conversion,
)
from corral.cmdlib.common.instances.drbd import DrbdAllocator
from corral.cmdlib.common.instances.mirror import (
    MIRROR_DRIVER,
    MirrorLogicalId,
    check_mirror_hypervisor,
    secondary_of,
)
from corral.cmdlib.common.instances.node_disks import node_disk
from corral.errors import ErrorCode, OpExecError, OpPrereqError
from corral.objects.instance import Disk, DiskTemplate, Instance
from corral.objects.node import Node


def plan_file_to_mirror(lu: LogicalUnit[Any], inst: Instance, disks: list[Disk],
                        secondary: Node | None) -> ConversionPlan:
    """The file disks as mirror disks to ``secondary`` (export ports reserved).

    Raises:
        OpPrereqError: (INVAL) not kvm, or a file outside the cluster's file storage
            directory.
    """
    assert secondary is not None
    check_mirror_hypervisor(DiskTemplate.MIRROR, inst.hypervisor)
    cfg, now = lu.cfg, lu.now()
    root = cfg.cluster.file_storage_dir.rstrip("/") + "/"
    alloc = DrbdAllocator(cfg, lu.ctx.drbd, lu.lock_owner or f"lu/{id(lu)}")
    plan = ConversionPlan(DiskTemplate.FILE, DiskTemplate.MIRROR, secondary, disks)
    for disk in disks:
        path = posixpath.normpath(str(disk.logical_id[1]))
        if not path.startswith(root):
            raise OpPrereqError(f"Disk {disk.iv_name} of instance {inst.name} ({path}) is"
                                f" not under the file storage directory {root}",
                                ErrorCode.INVAL)
        lid = MirrorLogicalId(MIRROR_DRIVER, path, secondary.effective_secondary_ip,
                              alloc.port(), disk.uuid)
        plan.new_disks.append(disk.evolve(now, dev_type=DiskTemplate.MIRROR,
                                          logical_id=lid.as_tuple(),
                                          nodes=(inst.primary_node, secondary.uuid)))
    plan.space = [(secondary, disk_space_needs(cfg.cluster, disks))]
    return plan


async def file_to_mirror(lu: LogicalUnit[Any], inst: Instance, plan: ConversionPlan,
                         wait: bool) -> Instance:
    assert plan.secondary is not None
    lu.log_info("Converting disk template from 'file' to 'mirror'")
    await shutdown_for_conversion(lu, inst, plan.disks)
    lu.log_info(f"Creating the secondary halves on node {plan.secondary.name}...")
    await _create_halves(lu, inst, plan.secondary, plan.new_disks)
    updated = await commit_conversion(lu, inst, plan, disks_active=False)
    lu.log_info(f"The disks of instance {inst.name} are copied to node"
                f" {plan.secondary.name} when it next starts; until then they are degraded")
    return updated


async def _create_halves(lu: LogicalUnit[Any], inst: Instance, node: Node,
                         disks: list[Disk]) -> None:
    made: list[Disk] = []
    info = f"originstname+{inst.name}"
    for disk in disks:
        sent = node_disk(lu.cfg, disk, node.uuid)
        result = await lu.ctx.rpc.blockdev_create(node, sent, disk.size, inst.name, False,
                                                  info, False)
        if result.ok:
            made.append(disk)
            continue
        for done in reversed(made):
            removed = await lu.ctx.rpc.blockdev_remove(node, node_disk(lu.cfg, done, node.uuid))
            if not removed.ok:
                lu.log_warning(f"Could not remove the new half of disk {done.iv_name} on"
                               f" node {node.name}: {removed.fail_msg}")
        raise OpExecError(f"Can't create block device {disk.iv_name} on node {node.name}"
                          f" for instance {inst.name}: {result.fail_msg}")


def plan_mirror_to_file(lu: LogicalUnit[Any], inst: Instance, disks: list[Disk],
                        secondary: Node | None) -> ConversionPlan:
    """The primary's halves as file disks."""
    now = lu.now()
    plan = ConversionPlan(DiskTemplate.MIRROR, DiskTemplate.FILE, None, disks)
    for disk in disks:
        lid = MirrorLogicalId.of(disk)
        if lid is None:
            raise OpPrereqError(f"Disk {disk.iv_name} of instance {inst.name} has a"
                                f" malformed mirror logical id", ErrorCode.STATE)
        plan.new_disks.append(disk.evolve(now, dev_type=DiskTemplate.FILE,
                                          logical_id=(lid.driver, lid.path),
                                          nodes=(inst.primary_node,)))
    return plan


async def mirror_to_file(lu: LogicalUnit[Any], inst: Instance, plan: ConversionPlan,
                         wait: bool) -> Instance:
    lu.log_info("Converting disk template from 'mirror' to 'file'")
    await shutdown_for_conversion(lu, inst, plan.disks)
    halves = [(lu.cfg.nodes[uuid], node_disk(lu.cfg, disk, uuid)) for disk in plan.disks
              if (uuid := secondary_of(inst, disk)) is not None and uuid in lu.cfg.nodes]
    updated = await commit_conversion(lu, inst, plan, disks_active=False)
    lu.log_info("Removing the secondary halves...")
    for node, sent in halves:
        result = await lu.ctx.rpc.blockdev_remove(node, sent)
        if not result.ok:
            lu.log_warning(f"Could not remove disk {sent.iv_name} on node {node.name}:"
                           f" {result.fail_msg}; please remove it manually")
    return updated
