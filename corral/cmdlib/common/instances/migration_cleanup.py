"""``gnt-instance migrate --cleanup``: find where the instance really runs after an
interrupted migration and make the nodes and the configuration agree.

- on the source (the configured primary) only: it keeps the guest, which is resumed
  if an interrupted migration left it paused, whichever side of it the node was;
- on one other node only: the configuration follows, that node resumes the guest;
- on both: if the source reports a completed migration the other node wins, else
  the source does (the other node discards its copy, and the disk copies a live
  storage migration was making there are removed);
- nowhere: an error; stop and start the instance to repair.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.instances.bundle import build_bundle, instance_disks
from corral.cmdlib.common.instances.live_storage import (
    needs_copy,
    placed_on,
    release_disks,
    remove_disk_copies,
)
from corral.cmdlib.common.instances.mirror_mobility import swap_exports
from corral.cmdlib.common.instances.relocation import moved_to
from corral.errors import OpExecError
from corral.objects.bundle import InstanceBundle
from corral.objects.instance import Instance
from corral.objects.node import Node

NOWHERE = ("Instance does not seem to be running at all; in this case it's safer to repair"
           " by running 'gnt-instance stop' to ensure disk shutdown, and then restarting it")
TWICE = ("Instance seems to be running on two nodes, or the hypervisor is confused; you"
         " will have to ensure manually that it runs only on one and restart this operation")


def _bundle(lu: LogicalUnit[Any], inst: Instance, node: Node) -> InstanceBundle:
    return build_bundle(lu.cfg, inst, disks=placed_on(instance_disks(lu.cfg, inst), node),
                        node=node.uuid)


async def find_locations(lu: LogicalUnit[Any], inst: Instance,
                         nodes: Sequence[Node]) -> list[Node]:
    """The nodes among ``nodes`` (offline ones skipped) whose hypervisor lists ``inst``.

    Raises:
        OpExecError: a node did not answer.
    """
    lu.log_info("* checking where the instance actually runs (if this hangs, the"
                " hypervisor might be in a bad state)")
    online = [n for n in nodes if not n.offline]
    hvparams = {inst.hypervisor: dict(lu.cfg.cluster.hvparams.get(inst.hypervisor, {}))}
    results = await lu.ctx.rpc.instance_list(online, [inst.hypervisor], hvparams)
    found = []
    for node in online:
        result = results[node.name]
        if not result.ok:
            raise OpExecError(f"Can't contact node {node.name}: {result.fail_msg}")
        if inst.name in (result.payload or []):
            found.append(node)
    lu.log_info(f"* instance running on: {','.join(n.name for n in found)}")
    return found


async def clean_up(lu: LogicalUnit[Any], inst: Instance, source: Node,
                   others: Sequence[Node]) -> None:
    """Repair ``inst`` after an interrupted migration from ``source`` to one of ``others``.

    Raises:
        OpExecError: the instance runs nowhere or on several other nodes, or a node
            did not answer.
    """
    lu.log_info(f"Migrating instance {inst.name}")
    where = await find_locations(lu, inst,
                                 [source, *[n for n in others if n.uuid != source.uuid]])
    elsewhere = [n for n in where if n.uuid != source.uuid]
    if len(elsewhere) > 1:
        raise OpExecError(TWICE)
    target = elsewhere[0] if elsewhere else None
    on_source = any(n.uuid == source.uuid for n in where)
    if target is None and not on_source:
        raise OpExecError(NOWHERE)
    if target is not None and on_source:
        lu.log_info("Trying to cleanup after failed migration")
        if not await _completed(lu, inst, source):
            await _source_wins(lu, inst, source, target)
            return
        if not await _finalize_src(lu, inst, source, success=True):
            raise OpExecError(f"Instance migration cleanup failed: the source {source.name}"
                              " did not let go of the instance")
    if target is None:
        lu.log_info(f"* instance confirmed to be running on its primary node ({source.name})")
        await _finalize_src(lu, inst, source, success=False)
        await _finalize_dst(lu, inst, source)
    else:
        await _target_wins(lu, inst, source, target)
    lu.log_info("* done")


async def _completed(lu: LogicalUnit[Any], inst: Instance, source: Node) -> bool:
    """Whether the source's hypervisor says its outgoing migration completed (no
    answer or no migration known there: not completed, the source keeps the guest)."""
    result = await lu.ctx.rpc.instance_get_migration_status(source, _bundle(lu, inst, source))
    if not result.ok or result.payload is None:
        lu.log_info(f"* no migration status from {source.name}: {result.fail_msg}")
        return False
    return result.payload.status == "completed"


async def _finalize_src(lu: LogicalUnit[Any], inst: Instance, source: Node, *,
                        success: bool) -> bool:
    result = await lu.ctx.rpc.instance_finalize_migration_src(
        source, _bundle(lu, inst, source), success, True)
    if not result.ok:
        lu.log_warning(f"Could not finalize the migration on source node {source.name}:"
                       f" {result.fail_msg}")
    return result.ok


async def _finalize_dst(lu: LogicalUnit[Any], inst: Instance, node: Node) -> None:
    """Run a guest received on ``node`` whose migration stopped after the switch
    (drivers do nothing for a guest that was not received)."""
    result = await lu.ctx.rpc.instance_finalize_migration_dst(
        node, _bundle(lu, inst, node), "", True)
    if not result.ok:
        lu.log_warning(f"Could not finalize the migration on node {node.name}:"
                       f" {result.fail_msg}")


async def _source_wins(lu: LogicalUnit[Any], inst: Instance, source: Node,
                       target: Node) -> None:
    lu.log_info(f"* the migration did not complete: keeping the instance on {source.name},"
                f" discarding the copy on {target.name}")
    info = await lu.ctx.rpc.migration_info(source, _bundle(lu, inst, source))
    result = await lu.ctx.rpc.instance_finalize_migration_dst(
        target, _bundle(lu, inst, target), info.payload or "", False)
    if not result.ok:
        raise OpExecError(f"Instance migration cleanup failed: {result.fail_msg}")
    await _finalize_src(lu, inst, source, success=False)
    disks = instance_disks(lu.cfg, inst)
    if needs_copy(disks):  # the target's copies were still being made: incomplete
        await remove_disk_copies(lu, inst, placed_on(disks, target), target, what="new")
    else:
        await release_disks(lu, inst, disks, target)
    lu.log_info("* done")


async def _target_wins(lu: LogicalUnit[Any], inst: Instance, source: Node,
                       target: Node) -> None:
    lu.log_info(f"* instance running on secondary node ({target.name}), updating config")
    moved, disks = moved_to(lu.cfg, inst, source.uuid, target.uuid, lu.now())
    await lu.commit(moved, *disks)
    await swap_exports(lu, moved, instance_disks(lu.cfg, moved), target)
    info = await lu.ctx.rpc.migration_info(source, _bundle(lu, inst, source))
    result = await lu.ctx.rpc.instance_finalize_migration_dst(
        target, _bundle(lu, moved, target), info.payload or "", True)
    if not result.ok:
        raise OpExecError(f"Could not resume instance {inst.name} on {target.name}:"
                          f" {result.fail_msg}")
    if needs_copy(instance_disks(lu.cfg, inst)):
        lu.log_warning(f"The old copies of the disks of instance {inst.name} were left on"
                       f" node {source.name}")
    else:
        await release_disks(lu, inst, instance_disks(lu.cfg, inst), source)
