"""Replacing the storage of ``drbd`` disks (Ganeti's TLReplaceDisks for DRBD 8).

* :func:`change_secondary` (``replace_new_secondary``): new LVs and a new minor on the
  new node (created, then left StandAlone), the old secondary's device shut down, the
  primary disconnected, the configuration switched to the new node, the primary and the
  new node connected (a full resync from the primary), and once in sync the old
  secondary's LVs removed. An offline old secondary only costs warnings.
* :func:`replace_local` (``replace_on_primary``/``replace_on_secondary``): new LVs on
  the node, the old ones detached and renamed away (``<name>_replaced-<time>``), the new
  ones renamed to the old names and attached (a full resync from the peer), so the
  configuration does not change; once in sync the renamed LVs are removed.

Both log Ganeti's six steps (``STEP n/6 ...``) and the resync progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.instances.bundle import instance_disks
from corral.cmdlib.common.instances.disk_sync import check_consistent, info, wait_for_sync
from corral.cmdlib.common.instances.drbd import DrbdAllocator, DrbdLogicalId
from corral.cmdlib.common.instances.node_disks import node_disk, node_disks
from corral.errors import OpExecError
from corral.locking.levels import Level
from corral.objects.base import new_uuid
from corral.objects.instance import Disk, Instance
from corral.objects.node import Node
from corral.rpc.payloads import DeviceRename, NodeDisk

STEPS = 6


@dataclass(frozen=True)
class ReplacePlan:
    """What a replacement acts on, as the unit's checks found it."""

    instance: Instance
    disks: tuple[int, ...]
    """Indices of the disks to replace."""
    target: Node
    """The node whose storage is replaced (the old secondary when it changes)."""
    other: Node
    """The node that keeps its storage and serves the resync."""
    new_node: Node | None = None
    early_release: bool = False


def step(lu: LogicalUnit[Any], number: int, message: str) -> None:
    """Ganeti's LogStep line."""
    lu.log_info(f"STEP {number}/{STEPS} {message}")


def _owner_info(inst: Instance) -> str:
    return f"originstname+{inst.name}"


async def check_existence(
    lu: LogicalUnit[Any], inst: Instance, disks: Sequence[Disk], indices: Sequence[int],
    nodes: Sequence[Node],
) -> None:
    """Every disk of ``indices`` is assembled on every node of ``nodes``.

    Raises:
        OpExecError: ``Can't find disk/N on node X: ...``.
    """
    for index in indices:
        disk = disks[index]
        for node in nodes:
            info(lu, f"Checking {disk.iv_name} on {node.name}")
            result = await lu.ctx.rpc.blockdev_find(node, node_disk(lu.cfg, disk, node.uuid))
            if not result.ok or result.payload is None:
                why = result.fail_msg if not result.ok else "disk not found"
                raise OpExecError(f"Can't find {disk.iv_name} on node {node.name}: {why}")


async def check_devices(lu: LogicalUnit[Any], inst: Instance, disks: Sequence[Disk]) -> None:
    """After the resync, each disk is found on the primary and not degraded.

    Raises:
        OpExecError: a disk is missing or degraded.
    """
    node = lu.cfg.nodes[inst.primary_node]
    for disk in disks:
        result = await lu.ctx.rpc.blockdev_find(node, node_disk(lu.cfg, disk, node.uuid))
        if not result.ok or result.payload is None:
            why = result.fail_msg if not result.ok else "disk not found"
            raise OpExecError(f"Can't find DRBD device {disk.iv_name}: {why}")
        if result.payload.is_degraded:
            raise OpExecError(f"DRBD device {disk.iv_name} is degraded!")


async def remove_old_lvs(lu: LogicalUnit[Any], node: Node, lvs: Sequence[NodeDisk]) -> None:
    """Remove replaced LVs; failures are warnings (they can be removed by hand)."""
    for lv in lvs:
        info(lu, f"Remove logical volume {lv.logical_id[1]} on {node.name}")
        result = await lu.ctx.rpc.blockdev_remove(node, lv)
        if not result.ok:
            lu.log_warning(f"Can't remove old LV: {result.fail_msg}"
                           " (hint: remove unused LVs manually)")


def release_node_locks(lu: LogicalUnit[Any], early_release: bool) -> None:
    """While the disks resync only the instance lock is needed (and, without early
    release, the resources of its nodes)."""
    lu.release_level(Level.NODE)
    if early_release:
        lu.release_level(Level.NODE_RES)


# --- replace_new_secondary --------------------------------------------------------------------

@dataclass(frozen=True)
class _Moved:
    """One disk moving to the new secondary: before, after, and its LVs after."""

    old: Disk
    new: Disk
    children: tuple[Disk, ...]


def _moved_disks(lu: LogicalUnit[Any], inst: Instance, disks: Sequence[Disk],
                 new_node: Node) -> list[_Moved]:
    alloc = DrbdAllocator(lu.cfg, lu.ctx.drbd, lu.lock_owner)
    minors = alloc.minors([new_node.uuid] * len(disks))
    nodes = (inst.primary_node, new_node.uuid)
    now = lu.now()
    moved = []
    for disk, minor in zip(disks, minors, strict=True):
        lid = DrbdLogicalId.of(disk)
        if lid is None:
            raise OpExecError(f"Disk {disk.iv_name} of instance {inst.name} is not a drbd disk")
        primary_minor = lid.primary_minor if lid.primary == inst.primary_node \
            else lid.secondary_minor
        new_lid = DrbdLogicalId(inst.primary_node, new_node.uuid, lid.port, primary_minor,
                                minor, lid.secret)
        children = tuple(lu.cfg.disks[uuid].evolve(now, nodes=nodes) for uuid in disk.children)
        moved.append(_Moved(disk, disk.evolve(now, logical_id=new_lid.as_tuple(), nodes=nodes),
                            children))
    return moved


def _on_new(lu: LogicalUnit[Any], move: _Moved, node: Node) -> NodeDisk:
    return node_disk(lu.cfg, move.new, node.uuid, move.children)


async def _create_on_new_node(lu: LogicalUnit[Any], inst: Instance, moves: Sequence[_Moved],
                              new_node: Node) -> None:
    """Each disk's LVs and device on the new node, then its network dropped (StandAlone,
    as Ganeti creates it without a port) until the primary is switched over."""
    made: list[NodeDisk] = []
    for move in moves:
        info(lu, f"Adding new local storage on {new_node.name} for {move.old.iv_name}")
        sent = _on_new(lu, move, new_node)
        result = await lu.ctx.rpc.blockdev_create(new_node, sent, move.new.size, inst.name,
                                                  False, _owner_info(inst), False)
        if not result.ok:
            await _undo_new(lu, new_node, made)
            raise OpExecError(f"Can't create block device {move.old.iv_name} on node"
                              f" {new_node.name}: {result.fail_msg}")
        made.append(sent)
    dropped = (await lu.ctx.rpc.drbd_disconnect_net([new_node], made))[new_node.name]
    if not dropped.ok:
        await _undo_new(lu, new_node, made)
        raise OpExecError(f"Can't prepare the new devices on node {new_node.name}:"
                          f" {dropped.fail_msg}")


async def _undo_new(lu: LogicalUnit[Any], node: Node, made: Sequence[NodeDisk]) -> None:
    for sent in reversed(made):
        result = await lu.ctx.rpc.blockdev_remove(node, sent)
        if not result.ok:
            lu.log_warning(f"Can't remove the new device {sent.iv_name} on node {node.name}:"
                           f" {result.fail_msg} (hint: remove it manually)")


async def _shutdown_old(lu: LogicalUnit[Any], disks: Sequence[Disk], old: Node) -> None:
    for disk in disks:
        info(lu, f"Shutting down drbd for {disk.iv_name} on old node")
        result = await lu.ctx.rpc.blockdev_shutdown(old, node_disk(lu.cfg, disk, old.uuid))
        if not result.ok:
            lu.log_warning(f"Failed to shutdown drbd for {disk.iv_name} on old node:"
                           f" {result.fail_msg} (hint: please cleanup this device manually"
                           " as soon as possible)")


async def _attach(lu: LogicalUnit[Any], inst: Instance, nodes: Sequence[Node]) -> None:
    """Connect the primary and the new secondary (each gets its own side of each disk)."""
    info(lu, "Attaching primary drbds to new secondary (standalone => connected)")
    disks = instance_disks(lu.cfg, inst)
    calls = [lu.ctx.rpc.drbd_attach_net([node], node_disks(lu.cfg, disks, node.uuid), False)
             for node in nodes]
    for node, results in zip(nodes, await asyncio.gather(*calls), strict=True):
        result = results[node.name]
        if not result.ok:
            raise OpExecError(f"Can't attach drbd disks on node {node.name}: {result.fail_msg}"
                              f" (please do a gnt-instance info {inst.name} to see the status"
                              " of disks)")


async def change_secondary(lu: LogicalUnit[Any], plan: ReplacePlan) -> None:
    """Move the secondary half of every disk of ``plan.instance`` to ``plan.new_node``.

    Raises:
        OpExecError: a step failed (what was made on the new node is removed again when
            the configuration still names the old secondary).
    """
    inst, old, new = plan.instance, plan.target, plan.new_node
    assert new is not None
    primary = lu.cfg.nodes[inst.primary_node]
    disks = instance_disks(lu.cfg, inst)
    step(lu, 1, "Check device existence")
    await check_existence(lu, inst, disks, range(len(disks)), [primary])
    step(lu, 2, "Check peer consistency")
    await check_consistent(lu, inst, disks, primary, local_only=True)
    step(lu, 3, "Allocate new storage")
    moves = _moved_disks(lu, inst, disks, new)
    old_lvs = [node_disk(lu.cfg, lu.cfg.disks[u], old.uuid) for d in disks for u in d.children]
    await _create_on_new_node(lu, inst, moves, new)
    step(lu, 4, "Changing drbd configuration")
    await _shutdown_old(lu, disks, old)
    info(lu, "Detaching primary drbds from the network (=> standalone)")
    result = (await lu.ctx.rpc.drbd_disconnect_net(
        [primary], node_disks(lu.cfg, disks, primary.uuid)))[primary.name]
    if not result.ok:
        await _undo_new(lu, new, [_on_new(lu, m, new) for m in moves])
        raise OpExecError(f"Can't detach the disks from the network on old node:"
                          f" {result.fail_msg}")
    info(lu, "Updating instance configuration")
    await lu.commit(*(m.new for m in moves), *(c for m in moves for c in m.children))
    await _attach(lu, inst, [primary, new])
    await _finish(lu, plan, old, old_lvs)


async def _finish(lu: LogicalUnit[Any], plan: ReplacePlan, node: Node,
                  old_lvs: Sequence[NodeDisk]) -> None:
    """Steps 5 and 6: wait for the resync, check, remove the replaced LVs (first, with
    early release)."""
    inst = lu.cfg.instances.get(plan.instance.uuid, plan.instance)
    disks = instance_disks(lu.cfg, inst)
    wanted = [disks[i] for i in plan.disks if i < len(disks)]
    number = 5
    if plan.early_release:
        step(lu, number, "Removing old storage")
        number += 1
        await remove_old_lvs(lu, node, old_lvs)
    release_node_locks(lu, plan.early_release)
    step(lu, number, "Sync devices")
    await wait_for_sync(lu, inst, disks)
    await check_devices(lu, inst, wanted)
    if not plan.early_release:
        step(lu, number + 1, "Removing old storage")
        await remove_old_lvs(lu, node, old_lvs)


# --- replace_on_primary / replace_on_secondary ------------------------------------------------

@dataclass(frozen=True)
class _Swap:
    """One disk's volumes on the target node: the drbd disk, its current volumes, and the
    new ones (under their own names until the swap)."""

    disk: Disk
    old: tuple[NodeDisk, ...]
    new: tuple[NodeDisk, ...]


def _new_volume(lu: LogicalUnit[Any], lv: NodeDisk, index: int, suffix: str) -> NodeDisk:
    name = f"{new_uuid()}.disk{index}_{suffix}"
    return msgspec.structs.replace(lv, uuid=new_uuid(), logical_id=(lv.logical_id[0], name))


def _renamed(lv: NodeDisk, name: str) -> NodeDisk:
    return msgspec.structs.replace(lv, logical_id=(lv.logical_id[0], name))


async def _create_volumes(lu: LogicalUnit[Any], plan: ReplacePlan,
                          disks: Sequence[Disk]) -> list[_Swap]:
    inst, node = plan.instance, plan.target
    swaps: list[_Swap] = []
    made: list[NodeDisk] = []
    for index in plan.disks:
        disk = disks[index]
        info(lu, f"Adding storage on {node.name} for {disk.iv_name}")
        old = tuple(node_disk(lu.cfg, lu.cfg.disks[u], node.uuid) for u in disk.children)
        new = tuple(_new_volume(lu, lv, index, suffix)
                    for lv, suffix in zip(old, ("data", "meta"), strict=False))
        for lv in new:
            result = await lu.ctx.rpc.blockdev_create(
                node, lv, lv.size, inst.name, node.uuid == inst.primary_node,
                _owner_info(inst), False)
            if not result.ok:
                await _undo_new(lu, node, made)
                raise OpExecError(f"Can't create block device: {result.fail_msg}")
            made.append(lv)
        swaps.append(_Swap(disk, old, new))
    return swaps


async def _swap_volumes(lu: LogicalUnit[Any], plan: ReplacePlan, swap: _Swap,
                        suffix: int) -> list[NodeDisk]:
    """Detach the old volumes, rename them away, give the new ones their names, attach;
    returns the old volumes under their new names."""
    node, disk = plan.target, swap.disk
    device = node_disk(lu.cfg, disk, node.uuid)
    info(lu, f"Detaching {disk.iv_name} drbd from local storage")
    result = await lu.ctx.rpc.blockdev_removechildren(node, device, list(swap.old))
    if not result.ok:
        raise OpExecError(f"Can't detach drbd from local storage on node {node.name} for"
                          f" device {disk.iv_name}: {result.fail_msg}")
    aside = [_renamed(lv, f"{lv.logical_id[1]}_replaced-{suffix}") for lv in swap.old]
    present = []
    for lv, moved in zip(swap.old, aside, strict=True):
        found = await lu.ctx.rpc.blockdev_find(node, lv)
        if found.ok and found.payload is not None:
            present.append(DeviceRename(lv, moved.logical_id))
    info(lu, "Renaming the old LVs on the target node")
    result = await lu.ctx.rpc.blockdev_rename(node, present)
    if not result.ok:
        raise OpExecError(f"Can't rename old LVs on node {node.name}: {result.fail_msg}")
    info(lu, "Renaming the new LVs on the target node")
    result = await lu.ctx.rpc.blockdev_rename(
        node, [DeviceRename(new, old.logical_id) for new, old in zip(swap.new, swap.old,
                                                                     strict=True)])
    if not result.ok:
        raise OpExecError(f"Can't rename new LVs on node {node.name}: {result.fail_msg}")
    info(lu, f"Adding new mirror component on {node.name}")
    result = await lu.ctx.rpc.blockdev_addchildren(node, device, list(swap.old))
    if not result.ok:
        await _undo_new(lu, node, swap.old)
        raise OpExecError(f"Can't add local storage to drbd: {result.fail_msg}")
    return aside


async def replace_local(lu: LogicalUnit[Any], plan: ReplacePlan) -> None:
    """Replace the volumes of ``plan.disks`` on ``plan.target``; the peer resyncs them.

    Raises:
        OpExecError: a step failed.
    """
    inst, target, other = plan.instance, plan.target, plan.other
    disks = instance_disks(lu.cfg, inst)
    wanted = [disks[i] for i in plan.disks]
    step(lu, 1, "Check device existence")
    await check_existence(lu, inst, disks, plan.disks, [other, target])
    step(lu, 2, "Check peer consistency")
    await check_consistent(lu, inst, wanted, other, local_only=False)
    step(lu, 3, "Allocate new storage")
    swaps = await _create_volumes(lu, plan, disks)
    step(lu, 4, "Changing drbd configuration")
    suffix = int(lu.now())
    old_lvs: list[NodeDisk] = []
    for swap in swaps:
        old_lvs += await _swap_volumes(lu, plan, swap, suffix)
    await _finish(lu, plan, target, old_lvs)
