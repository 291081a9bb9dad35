"""Moving a ``mirror`` instance between its two nodes, and bringing a returned
secondary back in sync.

Both nodes hold the disks, so an instance only ever moves to its secondary, and the
roles swap: the configuration's disks become :func:`with_nodes` (new primary, old
primary). A live migration copies memory only; the master drives the export swap
between the source letting go and the target resuming::

    source migration_info -> target accept_instance (disks with the swapped URI)
    -> source instance_migrate ... completed -> source finalize_migration_src
    -> target mirror_export_stop -> source mirror_export_start (client: target)
    -> commit (primary = target, disks swapped) -> target finalize_migration_dst

The target's QEMU opens its own half only when it resumes, after its export let go
of the file; from its first write it mirrors to the old primary's export. A failover
(``common/instances/failover.py``) stops the target's export with the disks, commits
the swap and starts the export on the old primary before the instance; with the old
primary dead the instance starts degraded on its copy, and the old primary's half is
resynced once it serves again (``gnt-instance activate-disks``: :func:`resync_degraded`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.instances.bundle import build_bundle
from corral.cmdlib.common.instances.migration import Migration, MigrationPlan
from corral.cmdlib.common.instances.mirror import start_exports, stop_exports, with_nodes
from corral.cmdlib.common.instances.mobility import MobilityLU
from corral.errors import ErrorCode, OpExecError, OpPrereqError
from corral.objects.bundle import InstanceBundle
from corral.objects.instance import Disk, DiskTemplate, Instance
from corral.objects.node import Node


def is_mirror(inst: Instance) -> bool:
    return inst.disk_template is DiskTemplate.MIRROR


def swapped_disks(lu: LogicalUnit[Any], disks: list[Disk], primary: str,
                  secondary: str) -> list[Disk]:
    """``disks`` between ``primary`` and ``secondary`` (mirror ones rewritten)."""
    return [with_nodes(lu.cfg, d, primary, secondary) for d in disks]


async def choose_target(lu: MobilityLU) -> Node:
    """The node ``lu``'s instance moves to: for a mirror instance its secondary (the
    one given must be it; no allocator), else the usual choice.

    Raises:
        OpPrereqError: (INVAL) another target, or an allocator, for a mirror instance.
    """
    inst = lu.inst
    if not is_mirror(inst):
        return await lu.choose_target()
    secondaries = lu.cfg.instance_secondary_nodes(inst)
    secondary = lu.cfg.nodes.get(secondaries[0]) if len(secondaries) == 1 else None
    if secondary is None:
        raise OpPrereqError(f"Instance {inst.name} has mirror disks but no single secondary"
                            " node", ErrorCode.STATE)
    given = lu.given_target
    if given is not None and given.uuid != secondary.uuid:
        raise OpPrereqError(f"Instance {inst.name} has mirror disks: it can only {lu.VERB}"
                            f" to its secondary node {secondary.name}, not {given.name}",
                            ErrorCode.INVAL)
    if given is None and lu.targeting.iallocator:
        raise OpPrereqError(f"Instance {inst.name} has mirror disks: it can only {lu.VERB}"
                            f" to its secondary node {secondary.name}; an iallocator"
                            " has nothing to choose", ErrorCode.INVAL)
    return secondary


class MirrorMigration(Migration):
    """A live migration of a mirror instance: no disk copy, roles swapped."""

    def __init__(self, lu: LogicalUnit[Any], plan: MigrationPlan) -> None:
        super().__init__(lu, plan)
        self.swapped = swapped_disks(lu, self.disks, plan.target.uuid, plan.source.uuid)

    def bundle(self, node: Node) -> InstanceBundle:
        """On the target, the disks as they will be (mirroring to the source)."""
        disks = self.swapped if node.uuid == self.plan.target.uuid else self.disks
        return build_bundle(self.lu.cfg, self.inst, disks=disks, node=node.uuid)

    async def _switch(self) -> None:
        moved = self.inst.evolve(self.inst.mtime, primary_node=self.plan.target.uuid)
        await swap_exports(self.lu, moved, self.swapped, self.plan.target)
        await super()._switch()


async def swap_exports(lu: LogicalUnit[Any], moved: Instance, disks: Sequence[Disk],
                       new_primary: Node) -> None:
    """``moved`` (primary ``new_primary``, ``disks`` with the roles swapped) is about to
    resume there: its export on ``new_primary`` stops, so that QEMU can open the file,
    and each disk's new secondary serves its half to it. A failure leaves the guest
    running degraded (a warning). Other templates: nothing."""
    if not is_mirror(moved):
        return
    others = {lu.cfg.nodes[n].name for d in disks for n in d.nodes
              if n != new_primary.uuid and n in lu.cfg.nodes}
    lu.log_info(f"* moving the disk exports from {new_primary.name} to"
                f" {', '.join(sorted(others))}")
    await stop_exports(lu, moved, disks, node=new_primary.uuid)
    try:
        await start_exports(lu, moved, disks)
    except OpExecError as err:
        lu.log_warning(f"{err}; instance {moved.name} will run with degraded disks on"
                       f" {new_primary.name}")


RESYNC_RETRIES = 20
RESYNC_RETRY_INTERVAL = 0.5
"""A resync asked just after the export came back may fail while QEMU's NBD client is
still reconnecting: it is asked again (every 0.5 s, at most 20 times) while degraded."""


async def resync_degraded(lu: LogicalUnit[Any], inst: Instance) -> list[int]:
    """Ask the primary of running ``inst`` to reattach and resync its degraded mirror
    disks (their secondary serving again), until they resync; returns their indices.
    Nothing is asked of an instance that is not running; failures are warnings."""
    if not is_mirror(inst):
        return []
    primary = lu.cfg.nodes.get(inst.primary_node)
    if primary is None or primary.offline:
        return []
    bundle = build_bundle(lu.cfg, inst)
    degraded = await _degraded(lu, primary, bundle)
    if not degraded:
        return []
    lu.log_info(f"* resyncing disk(s) {', '.join(map(str, degraded))} of instance"
                f" {inst.name} to its secondary")
    left, error = degraded, ""
    for _ in range(RESYNC_RETRIES):
        result = await lu.ctx.rpc.instance_mirror_resync(primary, bundle, left, False)
        error = result.fail_msg or ""
        await lu.ctx.clock.sleep(RESYNC_RETRY_INTERVAL)
        left = [i for i in await _degraded(lu, primary, bundle) if i in degraded]
        if not left:
            return degraded
    lu.log_warning(f"Could not resync disk(s) {', '.join(map(str, left))} of instance"
                   f" {inst.name} on node {primary.name}: {error or 'still degraded'}")
    return degraded


async def _degraded(lu: LogicalUnit[Any], node: Node, bundle: InstanceBundle) -> list[int]:
    """Indices of the degraded mirror disks of a running instance (none: not running)."""
    status = await lu.ctx.rpc.instance_mirror_status(node, bundle)
    if not status.ok:
        return []
    return [s.index for s in status.payload or [] if s.state == "degraded"]
