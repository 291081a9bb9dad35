"""What a disk template conversion changes (:class:`ConversionPlan`) and the steps every
conversion shares: deactivating the disks first, committing the instance with its new
disks and template.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.allocation import StorageKey
from corral.cmdlib.common.instances.disks import shutdown_disks
from corral.errors import OpExecError
from corral.objects.config_data import Kind
from corral.objects.instance import Disk, DiskTemplate, Instance
from corral.objects.node import Node


@dataclass
class ConversionPlan:
    """A checked conversion: the disks before and after, what to commit and remove."""

    old: DiskTemplate
    new: DiskTemplate
    secondary: Node | None
    disks: list[Disk]
    """The instance's disks now."""
    new_disks: list[Disk] = field(default_factory=list)
    """The instance's disks after the conversion, in order."""
    children: list[Disk] = field(default_factory=list)
    """Disks to commit beside ``new_disks`` (a drbd disk's LVs)."""
    removed: list[Disk] = field(default_factory=list)
    """Disks that leave the configuration."""
    space: list[tuple[Node, dict[StorageKey, int]]] = field(default_factory=list)
    """MiB each node must have free, per storage unit."""


async def shutdown_for_conversion(lu: LogicalUnit[Any], inst: Instance,
                                  disks: Sequence[Disk]) -> None:
    """Deactivate the disks on every node before their template changes.

    Raises:
        OpExecError: a disk could not be shut down.
    """
    if not await shutdown_disks(lu, inst, disks):
        raise OpExecError("Cannot shutdown instance disks, unable to proceed with disk"
                          " template conversion")


async def commit_conversion(lu: LogicalUnit[Any], inst: Instance, plan: ConversionPlan,
                            disks_active: bool) -> Instance:
    """Commit the instance with its new disks and template, and drop the removed disks."""
    now = lu.now()
    updated = inst.evolve(now, disks=tuple(d.uuid for d in plan.new_disks),
                          disk_template=plan.new, disks_active=disks_active)
    await lu.commit(updated, *plan.new_disks, *plan.children,
                    removed=[(Kind.DISK, d.uuid) for d in plan.removed])
    return updated
