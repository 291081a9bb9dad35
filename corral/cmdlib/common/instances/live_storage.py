"""Live storage migration on the master: node-local disks (``file``, ``plain``) get a
fresh twin with the same logical id on the target node, which the source mirrors
while the guest runs; afterwards one of the two copies is removed.

Disks here are the configured ones with ``nodes`` naming the node acted on, so
that the node calls see the disk as it is (or will be) placed there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.instances.disks import storage_dirs
from corral.cmdlib.common.instances.node_disks import node_disk
from corral.errors import OpExecError
from corral.objects.instance import Disk, DiskTemplate, Instance
from corral.objects.node import Node

NODE_LOCAL = frozenset({DiskTemplate.FILE, DiskTemplate.PLAIN})
"""Templates whose disks live on one node: migrating them copies the disks."""


def needs_copy(disks: Sequence[Disk]) -> bool:
    """Whether migrating an instance with ``disks`` must copy them to the target."""
    return any(d.dev_type in NODE_LOCAL for d in disks)


def placed_on(disks: Sequence[Disk], node: Node) -> list[Disk]:
    """``disks`` as placed on ``node`` alone (for node calls; never committed)."""
    return [d.evolve(d.mtime, nodes=(node.uuid,)) for d in disks]


async def create_target_disks(lu: LogicalUnit[Any], inst: Instance, disks: Sequence[Disk],
                              target: Node) -> list[Disk]:
    """Create an empty twin of each disk on ``target``; on a failure remove the twins
    made so far and raise.

    Raises:
        OpExecError: naming the disk and the node's error.
    """
    created: list[Disk] = []
    for disk in placed_on(disks, target):
        sent = node_disk(lu.cfg, disk, target.uuid)
        result = await lu.ctx.rpc.blockdev_create(target, sent, disk.size, inst.name, True,
                                                  f"originstname+{inst.name}", False)
        if not result.ok:
            await remove_disk_copies(lu, inst, created, target, what="new")
            raise OpExecError(f"Can't create block device {disk.iv_name} on node"
                              f" {target.name} for instance {inst.name}: {result.fail_msg}")
        created.append(disk)
    return created


async def remove_disk_copies(lu: LogicalUnit[Any], inst: Instance, disks: Sequence[Disk],
                             node: Node, *, what: str) -> bool:
    """Remove ``disks`` (``what``: "new" or "old" copies) and their instance directory from
    ``node``; failures are warnings. Returns whether every disk went."""
    ok = True
    for disk in disks:
        sent = node_disk(lu.cfg, disk, node.uuid)
        await lu.ctx.rpc.blockdev_shutdown(node, sent)
        result = await lu.ctx.rpc.blockdev_remove(node, sent)
        if not result.ok:
            ok = False
            lu.log_warning(f"Could not remove the {what} copy of disk {disk.iv_name} of"
                           f" instance {inst.name} on node {node.name}: {result.fail_msg}")
    for directory in sorted(storage_dirs(disks)):
        result = await lu.ctx.rpc.file_storage_dir_remove(node, directory)
        if not result.ok:
            lu.log_warning(f"Could not remove directory '{directory}' on node {node.name}:"
                           f" {result.fail_msg}")
    return ok


async def release_disks(lu: LogicalUnit[Any], inst: Instance, disks: Sequence[Disk],
                        node: Node) -> None:
    """Shut the (shared) disks down on a node the instance does not run on (the one it
    left, or a target that gave it up); failures are warnings. DRBD disks stay: that
    node is (or stays) their secondary."""
    for disk in placed_on(disks, node):
        if disk.dev_type is DiskTemplate.DRBD:
            continue
        result = await lu.ctx.rpc.blockdev_shutdown(node, node_disk(lu.cfg, disk, node.uuid))
        if not result.ok:
            lu.log_warning(f"Could not shut down disk {disk.iv_name} of instance {inst.name}"
                           f" on node {node.name}: {result.fail_msg}")
