"""``plain`` ↔ ``drbd`` conversions (Ganeti's ``_ConvertPlainToDrbd`` and
``_ConvertDrbdToPlain``).

plain → drbd: each plain LV stays where it is and becomes the data LV of a new
drbd disk (same volume, same name: no rename); the primary gets a new meta LV,
the secondary a data and a meta LV; the primary's device is created first and
made primary, so the secondary resyncs from it. The instance is committed with
its drbd disks, then the sync is waited for (or looked at once with
``--no-wait-for-sync``, leaving the devices up and the disks marked active).
After a full wait the devices are shut down again, as the stopped instance had
them. If a device cannot be created, what was made is removed: the secondary's
volumes, the primary's device and meta LVs; never the primary's data.

drbd → plain: each data LV becomes the plain disk (with the drbd disk's size,
mode, name and ``iv_name``), committed first; then the secondary's device and
volumes and the primary's meta LVs are removed (failures are warnings). The
minors and the port go back to the pool with the drbd disks.
"""

from __future__ import annotations

from typing import Any

import msgspec

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.allocation import disk_space_needs
from corral.cmdlib.common.instances.conversion_plan import (
    ConversionPlan,
    commit_conversion,
    shutdown_for_conversion,
)
from corral.cmdlib.common.instances.disk_sync import wait_for_sync
from corral.cmdlib.common.instances.drbd import DrbdAllocator, new_drbd_disk
from corral.cmdlib.common.instances.node_disks import node_disk
from corral.errors import OpExecError
from corral.objects.instance import Disk, DiskTemplate, Instance
from corral.objects.node import Node
from corral.rpc.payloads import NodeDisk


def _index(disk: Disk, position: int) -> int:
    number = disk.iv_name.partition("/")[2]
    return int(number) if number.isdigit() else position


def plan_plain_to_drbd(lu: LogicalUnit[Any], inst: Instance, disks: list[Disk],
                       secondary: Node | None) -> ConversionPlan:
    """New drbd disks over the plain LVs (minors and port reserved)."""
    assert secondary is not None
    cfg, now = lu.cfg, lu.now()
    alloc = DrbdAllocator(cfg, lu.ctx.drbd, lu.lock_owner or f"lu/{id(lu)}")
    nodes = (inst.primary_node, secondary.uuid)
    plan = ConversionPlan(DiskTemplate.PLAIN, DiskTemplate.DRBD, secondary, disks)
    metas: list[Disk] = []
    for position, old in enumerate(disks):
        spec = {"size": old.size, "mode": old.mode.value, "name": old.name,
                "vg": str(old.logical_id[0])}
        branch = new_drbd_disk(alloc, cfg.cluster, _index(old, position), spec, nodes, now)
        data = old.evolve(now, nodes=nodes, iv_name="", name="")
        meta = branch.children[1]
        plan.new_disks.append(msgspec.structs.replace(
            branch.disk, children=(data.uuid, meta.uuid), iv_name=old.iv_name))
        plan.children.extend((data, meta))
        metas.append(meta)
    plan.space = [(secondary, disk_space_needs(cfg.cluster, plan.children)),
                  (cfg.nodes[inst.primary_node], disk_space_needs(cfg.cluster, metas))]
    return plan


async def plain_to_drbd(lu: LogicalUnit[Any], inst: Instance, plan: ConversionPlan,
                        wait: bool) -> Instance:
    lu.log_info("Converting disk template from 'plain' to 'drbd'")
    await shutdown_for_conversion(lu, inst, plan.disks)
    lu.log_info("Creating additional volumes and initializing DRBD devices...")
    await _create_devices(lu, inst, plan)
    updated = await commit_conversion(lu, inst, plan, disks_active=not wait)
    if not await wait_for_sync(lu, updated, plan.new_disks, oneshot=not wait):
        raise OpExecError("There are some degraded disks for this instance, please"
                          " cleanup manually")
    if wait:
        await shutdown_for_conversion(lu, updated, plan.new_disks)
    return updated


async def _create_devices(lu: LogicalUnit[Any], inst: Instance, plan: ConversionPlan) -> None:
    """Each drbd disk on the primary (made primary), then on the secondary; on a failure
    the devices made so far are removed and OpExecError raised."""
    assert plan.secondary is not None
    primary = lu.cfg.nodes[inst.primary_node]
    made: list[tuple[Disk, bool]] = []
    info = f"originstname+{inst.name}"
    for disk in plan.new_disks:
        for node, on_primary in ((primary, True), (plan.secondary, False)):
            sent = node_disk(lu.cfg, disk, node.uuid, plan.children)
            result = await lu.ctx.rpc.blockdev_create(node, sent, disk.size, inst.name,
                                                      on_primary, info, False)
            if not result.ok:
                lu.log_warning("Initializing of DRBD devices failed; removing what was made")
                await _undo(lu, inst, plan, made)
                raise OpExecError(f"Can't create block device {disk.iv_name} on node"
                                  f" {node.name} for instance {inst.name}:"
                                  f" {result.fail_msg}")
            made.append((disk, on_primary))


async def _undo(lu: LogicalUnit[Any], inst: Instance, plan: ConversionPlan,
                made: list[tuple[Disk, bool]]) -> None:
    """Remove the devices made: whole on the secondary; on the primary the device is
    shut down and only its meta LV removed (the data LV is the instance's disk)."""
    assert plan.secondary is not None
    primary = lu.cfg.nodes[inst.primary_node]
    for disk, on_primary in reversed(made):
        if not on_primary:
            sent = node_disk(lu.cfg, disk, plan.secondary.uuid, plan.children)
            await _warn(lu, await lu.ctx.rpc.blockdev_remove(plan.secondary, sent), disk,
                        plan.secondary)
            continue
        sent = node_disk(lu.cfg, disk, primary.uuid, plan.children)
        await _warn(lu, await lu.ctx.rpc.blockdev_shutdown(primary, sent), disk, primary)
        await _warn(lu, await lu.ctx.rpc.blockdev_remove(primary, _meta(sent, primary.uuid)),
                    disk, primary)


def _meta(sent: NodeDisk, node: str) -> NodeDisk:
    """The meta LV of a drbd disk as ``node`` receives it."""
    meta = sent.child_disks[1]
    return msgspec.structs.replace(meta, nodes=(node,))


async def _warn(lu: LogicalUnit[Any], result: Any, disk: Disk, node: Node) -> None:
    if not result.ok:
        lu.log_warning(f"Could not remove block device {disk.iv_name} (or its volumes) on"
                       f" node {node.name}: {result.fail_msg}")


def plan_drbd_to_plain(lu: LogicalUnit[Any], inst: Instance, disks: list[Disk],
                       secondary: Node | None) -> ConversionPlan:
    """The data LVs as the new plain disks; the drbd disks and meta LVs removed."""
    cfg, now = lu.cfg, lu.now()
    plan = ConversionPlan(DiskTemplate.DRBD, DiskTemplate.PLAIN, None, disks)
    for disk in disks:
        data, meta = (cfg.disks[uuid] for uuid in disk.children)
        plan.new_disks.append(data.evolve(now, size=disk.size, mode=disk.mode,
                                          name=disk.name, iv_name=disk.iv_name,
                                          nodes=(inst.primary_node,)))
        plan.removed.extend((disk, meta))
    return plan


async def drbd_to_plain(lu: LogicalUnit[Any], inst: Instance, plan: ConversionPlan,
                        wait: bool) -> Instance:
    lu.log_info("Converting disk template from 'drbd' to 'plain'")
    await shutdown_for_conversion(lu, inst, plan.disks)
    cfg = lu.cfg
    secondaries = [n for n in plan.disks[0].nodes if n != inst.primary_node] \
        if plan.disks else []
    leftovers = [(cfg.nodes[node], node_disk(cfg, disk, node)) for disk in plan.disks
                 for node in secondaries]
    metas = [(cfg.nodes[inst.primary_node],
              _meta(node_disk(cfg, disk, inst.primary_node), inst.primary_node))
             for disk in plan.disks]
    updated = await commit_conversion(lu, inst, plan, disks_active=False)
    lu.log_info("Removing volumes on the secondary node...")
    await _remove_all(lu, leftovers)
    lu.log_info("Removing unneeded volumes on the primary node...")
    await _remove_all(lu, metas)
    return updated


async def _remove_all(lu: LogicalUnit[Any], devices: list[tuple[Node, NodeDisk]]) -> None:
    for node, sent in devices:
        result = await lu.ctx.rpc.blockdev_remove(node, sent)
        if not result.ok:
            lu.log_warning(f"Could not remove block device {sent.iv_name or sent.uuid} on"
                           f" node {node.name}: {result.fail_msg}; please remove it"
                           " manually")
