"""Replacing the secondary half of ``mirror`` disks (Corral's user-space RAID1).

* :func:`rebuild_secondary` (``replace_on_secondary``, and ``replace_auto`` for the disks
  the running primary reports degraded): the secondary's exports stop,
  its files are removed and made again (empty), the exports start again, and the
  running primary's QEMU copies the whole of each disk to them
  (``instance_mirror_resync`` with ``full``).
* :func:`move_secondary` (``replace_new_secondary``): new files and exports on the new
  node (client: the primary), the disks rewritten to it (:func:`with_nodes`: same port
  and export name, the new node's address), the running primary's QEMU switched to the
  new exports with a whole-disk copy, then the old secondary's exports stopped and its
  files removed (an offline old secondary only costs warnings).

A stopped instance has no QEMU to copy with: its new halves are filled when it next
starts (a start always copies the whole disk to the secondary), which the job log says.
The progress of the copy is logged as DRBD's (``- device disk/0: 40.00% done, ...``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.instances.bundle import build_bundle, instance_disks
from corral.cmdlib.common.instances.disk_sync import (
    DEGRADED_RETRIES,
    POLL,
    UNREACHABLE_TRIES,
    info,
    progress_line,
)
from corral.cmdlib.common.instances.mirror import start_exports, stop_exports, with_nodes
from corral.cmdlib.common.instances.node_disks import node_disk
from corral.cmdlib.common.instances.replace_drbd import ReplacePlan
from corral.errors import OpExecError
from corral.objects.instance import AdminState, Disk, Instance
from corral.objects.node import Node
from corral.rpc.payloads import MirrorDiskSync

STEPS = 4


def _step(lu: LogicalUnit[Any], number: int, message: str) -> None:
    lu.log_info(f"STEP {number}/{STEPS} {message}")


def _running(lu: LogicalUnit[Any], inst: Instance) -> bool:
    primary = lu.cfg.nodes.get(inst.primary_node)
    return inst.admin_state is AdminState.UP and primary is not None and not primary.offline


async def _make_halves(lu: LogicalUnit[Any], inst: Instance, node: Node,
                       disks: Sequence[Disk]) -> None:
    """Create ``disks``' files on ``node`` (a secondary); on a failure remove the ones
    made, then raise."""
    made: list[Disk] = []
    for disk in disks:
        info(lu, f"Adding new local storage on {node.name} for {disk.iv_name}")
        sent = node_disk(lu.cfg, disk, node.uuid)
        result = await lu.ctx.rpc.blockdev_create(node, sent, disk.size, inst.name, False,
                                                  f"originstname+{inst.name}", False)
        if not result.ok:
            await _remove_halves(lu, node, made)
            raise OpExecError(f"Can't create block device {disk.iv_name} on node"
                              f" {node.name}: {result.fail_msg}")
        made.append(disk)


async def _remove_halves(lu: LogicalUnit[Any], node: Node, disks: Sequence[Disk]) -> None:
    for disk in disks:
        result = await lu.ctx.rpc.blockdev_remove(node, node_disk(lu.cfg, disk, node.uuid))
        if not result.ok:
            lu.log_warning(f"Can't remove the old copy of {disk.iv_name} on node {node.name}:"
                           f" {result.fail_msg} (hint: remove it manually)")


async def _resync(lu: LogicalUnit[Any], inst: Instance, indices: Sequence[int],
                  new_node: Node) -> None:
    """A whole-disk copy by the running primary, or the note that the next start does it."""
    if not _running(lu, inst):
        lu.log_warning(f"Instance {inst.name} is not running: its new copies on"
                       f" {new_node.name} are filled when it starts; until then only its"
                       " primary node holds the data")
        return
    primary = lu.cfg.nodes[inst.primary_node]
    result = await lu.ctx.rpc.instance_mirror_resync(primary, build_bundle(lu.cfg, inst),
                                                     list(indices), True)
    if not result.ok:
        raise OpExecError(f"Can't resync the disks of instance {inst.name} on node"
                          f" {primary.name}: {result.fail_msg}")
    await wait_mirror_sync(lu, inst, indices)


async def rebuild_secondary(lu: LogicalUnit[Any], plan: ReplacePlan) -> None:
    """Make the secondary's halves of ``plan.disks`` again and copy the data to them.

    Raises:
        OpExecError: a step failed.
    """
    inst, node = plan.instance, plan.target
    disks = instance_disks(lu.cfg, inst)
    wanted = [disks[i] for i in plan.disks]
    _step(lu, 1, "Stop the exports")
    await stop_exports(lu, inst, wanted)
    _step(lu, 2, "Allocate new storage")
    await _remove_halves(lu, node, wanted)
    await _make_halves(lu, inst, node, wanted)
    _step(lu, 3, "Start the exports")
    await start_exports(lu, inst, wanted)
    _step(lu, 4, "Sync devices")
    await _resync(lu, inst, plan.disks, node)


async def move_secondary(lu: LogicalUnit[Any], plan: ReplacePlan) -> None:
    """Move the secondary halves of every disk to ``plan.new_node``.

    Raises:
        OpExecError: a step failed (before the configuration changes, what was made on
            the new node is removed again).
    """
    inst, old, new = plan.instance, plan.target, plan.new_node
    assert new is not None
    disks = instance_disks(lu.cfg, inst)
    now = lu.now()
    moved = [with_nodes(lu.cfg, d, inst.primary_node, new.uuid).evolve(now) for d in disks]
    _step(lu, 1, "Allocate new storage")
    await _make_halves(lu, inst, new, moved)
    try:
        await start_exports(lu, inst, moved)
    except OpExecError:
        await stop_exports(lu, inst, moved)
        await _remove_halves(lu, new, moved)
        raise
    _step(lu, 2, "Changing the configuration")
    info(lu, "Updating instance configuration")
    await lu.commit(*moved)
    _step(lu, 3, "Sync devices")
    await _resync(lu, inst, plan.disks, new)
    _step(lu, 4, "Removing old storage")
    await stop_exports(lu, inst, disks, node=old.uuid)
    await _remove_halves(lu, old, disks)


async def wait_mirror_sync(lu: LogicalUnit[Any], inst: Instance,
                           indices: Sequence[int]) -> None:
    """Poll the primary until the disks ``indices`` are in sync, logging each copy's
    progress (the estimate from the rate since the previous poll).

    Raises:
        OpExecError: the primary stopped answering, or a disk stayed degraded.
    """
    primary = lu.cfg.nodes[inst.primary_node]
    info(lu, f"Waiting for instance {inst.name} to sync disks")
    seen: dict[int, tuple[float, int]] = {}
    misses = degraded_polls = 0
    while True:
        found = await _statuses(lu, inst, primary)
        if isinstance(found, str):
            misses += 1
            lu.log_warning(f"Can't get any data from node {primary.name}: {found}")
            if misses >= UNREACHABLE_TRIES:
                raise OpExecError(f"Can't contact node {primary.name} for mirror data,"
                                  " aborting.")
        else:
            misses = 0
            pending, degraded = _report(lu, inst, indices, found, seen)
            degraded_polls = degraded_polls + 1 if degraded else 0
            if degraded and degraded_polls > DEGRADED_RETRIES:
                raise OpExecError(f"Disk {degraded} of instance {inst.name} stays degraded"
                                  f" on its new secondary")
            if not pending and not degraded:
                break
        await lu.ctx.clock.sleep(POLL)
    info(lu, f"Instance {inst.name}'s disks are in sync")


async def _statuses(lu: LogicalUnit[Any], inst: Instance,
                    primary: Node) -> list[MirrorDiskSync] | str:
    current = lu.cfg.instances.get(inst.uuid, inst)
    result = await lu.ctx.rpc.instance_mirror_status(primary, build_bundle(lu.cfg, current))
    if not result.ok or result.payload is None:
        return result.fail_msg or "no answer"
    return result.payload


def _report(lu: LogicalUnit[Any], inst: Instance, indices: Sequence[int],
            found: Sequence[MirrorDiskSync], seen: dict[int, tuple[float, int]],
            ) -> tuple[bool, str]:
    """Log the progress of the disks still copying; returns (any copying, a degraded
    disk's description or "")."""
    disks = instance_disks(lu.cfg, lu.cfg.instances.get(inst.uuid, inst))
    pending, degraded = False, ""
    now = lu.ctx.clock.monotonic()
    for status in found:
        if status.index not in indices or status.state == "in_sync":
            continue
        name = disks[status.index].iv_name if status.index < len(disks) else str(status.index)
        if status.state == "degraded":
            degraded = f"{name} ({status.error})" if status.error else name
            continue
        pending = True
        percent = 100.0 * status.done / status.total if status.total else 0.0
        eta = None
        before = seen.get(status.index)
        if before is not None and now > before[0] and status.done > before[1]:
            rate = (status.done - before[1]) / (now - before[0])
            eta = (status.total - status.done) / rate
        seen[status.index] = (now, status.done)
        info(lu, progress_line(name, percent, eta))
    return pending, degraded
