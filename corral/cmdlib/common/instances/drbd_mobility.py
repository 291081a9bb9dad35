"""DRBD instances changing nodes (the DRBD part of Ganeti's TLMigrateInstance): the
target rule, the consistency check, the swap of roles in the configuration, and the
node steps around a live migration.

A DRBD instance fails over or migrates to its secondary node only; afterwards the
old primary is the secondary: the disk's logical id names the new primary first (with
its minor), and the disk and its LVs list the nodes in that order.

A live migration runs with both sides primary (Ganeti's sequence)::

    close on target -> disconnect both -> attach both (dual-primary) -> wait for sync
    -> open on source and target (shared) -> hypervisor migration -> commit the swap
    -> close on the old primary -> wait for sync -> disconnect both
    -> attach both (single primary) -> wait for sync

On a failure before the switch the disks go back to single-primary on the source.
DRBD refuses a second primary while the peers are connected without dual-primary
mode, so only the migration's window has two; both sides primary while disconnected
would be a split brain, which none of these steps produces: every disconnect happens
while one side is secondary, so at most one side can write while they are apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.instances.bundle import instance_disks
from corral.cmdlib.common.instances.drbd import DrbdLogicalId
from corral.cmdlib.common.instances.node_disks import node_disk, node_disks
from corral.errors import ErrorCode, OpExecError, OpPrereqError
from corral.objects.config_data import ConfigData
from corral.objects.instance import Disk, DiskTemplate, Instance
from corral.objects.node import Node
from corral.rpc.payloads import NodeDisk
from corral.rpc.results import NodeResult
from corral.storage.base import LDiskStatus

T = TypeVar("T")

TO_SECONDARY = frozenset({DiskTemplate.DRBD, DiskTemplate.MIRROR})
"""Templates whose instances fail over or migrate to their secondary node only
(Ganeti's DTS_INT_MIRROR): ``drbd`` and Corral's ``mirror``."""
DRBD_STEPS = frozenset({DiskTemplate.DRBD})
"""Templates moved by the DRBD steps of this module and ``drbd_migration.py`` (roles in
the logical id, consistency from ``blockdev_find``, dual-primary migration); ``mirror``
has its own (``mirror_mobility.py``)."""
SYNC_POLL = 2.0
"""Seconds between two ``drbd_wait_sync`` rounds (Ganeti's)."""

NodeCall = Callable[[Node, list[NodeDisk]], Awaitable[dict[str, NodeResult[T]]]]


# --- the target -----------------------------------------------------------------------

def secondary_node(cfg: ConfigData, inst: Instance) -> Node | None:
    """The secondary node of a DRBD or mirror instance; None for other templates."""
    if inst.disk_template not in TO_SECONDARY:
        return None
    uuids = cfg.instance_secondary_nodes(inst)
    return cfg.nodes.get(uuids[0]) if uuids else None


def secondary_target(cfg: ConfigData, inst: Instance, given: Node | None,
                     iallocator: str | None, *, failover: bool) -> Node:
    """The only node a DRBD instance can go to: its secondary.

    Raises:
        OpPrereqError: (STATE) the instance has no secondary; (INVAL) an allocator or
            another target node was given.
    """
    target = secondary_node(cfg, inst)
    template = inst.disk_template.value
    if target is None:
        raise OpPrereqError(f"Instance {inst.name} uses {template} disks but has no"
                            " secondary node", ErrorCode.STATE)
    if iallocator or (given is not None and given.uuid != target.uuid):
        verb = "failed over" if failover else "migrated"
        raise OpPrereqError(
            f"Instances with disk types {template} cannot be {verb} to arbitrary nodes"
            " (neither an iallocator nor a target node can be passed); the secondary node"
            f" of instance {inst.name} is {target.name}", ErrorCode.INVAL)
    return target


# --- the configuration ----------------------------------------------------------------

def swapped_roles(cfg: ConfigData, disk: Disk, source: str, target: str,
                  now: float) -> list[Disk]:
    """A DRBD disk from ``source`` (its primary) to ``target`` (its secondary), roles
    swapped, and its LVs listing the nodes in the new order.

    Raises:
        OpExecError: the disk is not between these two nodes.
    """
    lid = DrbdLogicalId.of(disk)
    if lid is None or (lid.primary, lid.secondary) != (source, target):
        raise OpExecError(f"Disk {disk.iv_name or disk.uuid} is not a DRBD disk from node"
                          f" {_name(cfg, source)} to node {_name(cfg, target)}")
    swapped = DrbdLogicalId(lid.secondary, lid.primary, lid.port, lid.secondary_minor,
                            lid.primary_minor, lid.secret)
    order = (target, source)
    moved = [disk.evolve(now, logical_id=swapped.as_tuple(), nodes=order)]
    moved.extend(cfg.disks[uuid].evolve(now, nodes=order) for uuid in disk.children
                 if uuid in cfg.disks)
    return moved


def _name(cfg: ConfigData, uuid: str) -> str:
    node = cfg.nodes.get(uuid)
    return node.name if node is not None else uuid


# --- consistency ------------------------------------------------------------------------

async def disk_consistent(lu: LogicalUnit[Any], disk: Disk, node: Node, *,
                          ldisk: bool = False) -> bool:
    """Whether ``disk`` is in a good state on ``node`` (not its primary): found and not
    degraded, or with ``ldisk`` its local disk good (Ganeti's CheckDiskConsistency; the
    LVs under a DRBD disk are not looked at on a secondary)."""
    result = await lu.ctx.rpc.blockdev_find(node, node_disk(lu.cfg, disk, node.uuid))
    if not result.ok:
        lu.log_warning(f"Can't find disk on node {node.name}: {result.fail_msg}")
        return False
    if result.payload is None:
        lu.log_warning(f"Can't find disk on node {node.name}")
        return False
    if ldisk:
        return result.payload.ldisk_status == LDiskStatus.OKAY
    return not result.payload.is_degraded


async def check_failover_consistency(lu: LogicalUnit[Any], inst: Instance, source: Node,
                                     target: Node, ignore: bool) -> None:
    """Before a failover of a DRBD instance with active disks: each disk must be good on
    the target, unless the source is offline or ``ignore`` (then a warning).

    Raises:
        OpExecError: a disk is degraded on the target.
    """
    if inst.disk_template not in DRBD_STEPS:
        return
    if not inst.disks_active:
        lu.log_info("* not checking disk consistency as instance is not running")
        return
    lu.log_info("* checking disk consistency between source and target")
    for index, disk in enumerate(instance_disks(lu.cfg, inst)):
        if await disk_consistent(lu, disk, target):
            continue
        if source.offline:
            lu.log_info(f"Node {source.name} is offline, ignoring degraded disk {index} on"
                        f" target node {target.name}")
        elif ignore:
            lu.log_warning(f"Disk {index} is degraded on target node {target.name},"
                           " proceeding as told to ignore consistency")
        else:
            raise OpExecError(f"Disk {index} is degraded on target node, aborting failover")


async def check_migration_consistency(lu: LogicalUnit[Any], inst: Instance,
                                      target: Node) -> None:
    """Before a migration: each disk in sync on the target.

    Raises:
        OpExecError: a disk is degraded or still resyncing there.
    """
    lu.log_info("* checking disk consistency between source and target")
    for index, disk in enumerate(instance_disks(lu.cfg, inst)):
        if not await disk_consistent(lu, disk, target):
            raise OpExecError(f"Disk {index} is degraded or not fully synchronized on"
                              " target node, aborting migration")


# --- node steps -------------------------------------------------------------------------

@dataclass
class DrbdSteps:
    """The DRBD calls of a migration on the instance's two nodes (Ganeti's
    _CloseInstanceDisks, _OpenInstanceDisks, _GoStandalone, _GoReconnect, _WaitUntilSync).

    Each node receives its own side of every disk, so the two-node calls go to each node
    separately, side by side (an attach waits for its peer).
    """

    lu: LogicalUnit[Any]
    inst: Instance
    nodes: tuple[Node, Node]
    tolerant: bool = False
    """A failed close is a warning (Ganeti's ignore_consistency)."""

    def disks(self, node: Node) -> list[NodeDisk]:
        return node_disks(self.lu.cfg, instance_disks(self.lu.cfg, self.inst), node.uuid)

    async def _on_both(self, call: NodeCall[T]) -> list[tuple[Node, NodeResult[T]]]:
        answers = await asyncio.gather(*(call(node, self.disks(node)) for node in self.nodes))
        return [(node, answer[node.name]) for node, answer in
                zip(self.nodes, answers, strict=True)]

    async def close(self, node: Node) -> None:
        """Make the disks secondary on ``node`` (and drop the instance's links there).

        Raises:
            OpExecError: the node failed (unless offline or ``tolerant``: a warning).
        """
        self.lu.log_info(f"* closing instance disks on node {node.name}")
        result = await self.lu.ctx.rpc.blockdev_close(node, self.inst.name, self.disks(node))
        if result.ok:
            return
        if result.offline or self.tolerant:
            self.lu.log_warning(f"Could not close instance disks on node {node.name},"
                                " proceeding anyway")
            return
        raise OpExecError(f"Cannot close instance disks on node {node.name}:"
                          f" {result.fail_msg}")

    async def open(self, node: Node, *, exclusive: bool) -> None:
        """Make the disks primary on ``node``.

        Raises:
            OpExecError: the node failed.
        """
        mode = "in exclusive mode" if exclusive else "in shared mode"
        self.lu.log_info(f"* opening instance disks on node {node.name} {mode}")
        result = await self.lu.ctx.rpc.blockdev_open(node, self.inst.name, self.disks(node),
                                                     exclusive)
        if not result.ok:
            raise OpExecError(f"Cannot open instance disks on node {node.name}:"
                              f" {result.fail_msg}")

    async def standalone(self) -> None:
        """Disconnect the disks on both nodes.

        Raises:
            OpExecError: naming the node that failed.
        """
        self.lu.log_info("* changing into standalone mode")
        rpc = self.lu.ctx.rpc
        for node, result in await self._on_both(
                lambda node, disks: rpc.drbd_disconnect_net([node], disks)):
            if not result.ok:
                raise OpExecError(f"Cannot disconnect disks node {node.name}:"
                                  f" {result.fail_msg}")

    async def reconnect(self, *, multimaster: bool) -> None:
        """Connect the disks again, dual-primary with ``multimaster``.

        Raises:
            OpExecError: naming the node that failed.
        """
        mode = "dual-master" if multimaster else "single-master"
        self.lu.log_info(f"* changing disks into {mode} mode")
        rpc = self.lu.ctx.rpc
        for node, result in await self._on_both(
                lambda node, disks: rpc.drbd_attach_net([node], disks, multimaster)):
            if not result.ok:
                raise OpExecError(f"Cannot change disks config on node {node.name}:"
                                  f" {result.fail_msg}")

    async def wait_sync(self) -> None:
        """Wait until both nodes report the disks in sync, logging the progress.

        Raises:
            OpExecError: a node failed (a disk neither connected nor resyncing).
        """
        self.lu.log_info("* wait until resync is done")
        rpc = self.lu.ctx.rpc
        while True:
            done, lowest = True, 100.0
            for node, result in await self._on_both(
                    lambda node, disks: rpc.drbd_wait_sync([node], disks)):
                if not result.ok or result.payload is None:
                    raise OpExecError(f"Cannot resync disks on node {node.name}:"
                                      f" {result.fail_msg}")
                done = done and result.payload.all_done
                lowest = min(lowest, result.payload.min_resync)
            if done:
                return
            if lowest < 100:
                self.lu.log_info(f"   - progress: {lowest:.1f}%")
            await self.lu.ctx.clock.sleep(SYNC_POLL)

    async def single_master(self) -> None:
        """Back to one primary after a migration: wait, disconnect, attach, wait."""
        await self.wait_sync()
        await self.standalone()
        await self.reconnect(multimaster=False)
        await self.wait_sync()

    async def revert(self, target: Node) -> None:
        """After a failed migration: the disks single-primary on the source again; a
        failure is a warning (the guest keeps running on the source)."""
        try:
            await self.close(target)
            await self.standalone()
            await self.reconnect(multimaster=False)
            await self.wait_sync()
        except OpExecError as err:
            self.lu.log_warning("Migration failed and I can't reconnect the drives, please"
                                f" try to recover the instance manually; error '{err}'")
