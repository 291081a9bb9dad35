"""Space checks of ``node_verify``: volume groups and the filesystems holding the
configuration and the job queue (see ``corral.cmdlib.common.verification.space`` for how
the master judges them)."""

from __future__ import annotations

import os
from pathlib import Path

from corral.backend.context import NodeContext
from corral.backend.services import storage
from corral.errors import CorralError
from corral.layout import NodeLayout
from corral.objects.instance import DiskTemplate
from corral.rpc.payloads import SpaceReport

MIB = 1 << 20


async def vg_space(ctx: NodeContext, names: list[str]) -> dict[str, SpaceReport]:
    """Size and free space of each volume group, through the LVM driver (or its error)."""
    reports = {}
    for name in names:
        try:
            space = await storage(ctx, DiskTemplate.PLAIN).storage_info(name)
        except CorralError as err:
            reports[name] = SpaceReport(error=str(err))
        else:
            reports[name] = SpaceReport(size_mib=space.size_mib, free_mib=space.free_mib)
    return reports


def filesystem_space(path: Path) -> SpaceReport:
    """Size and free space of the filesystem holding ``path`` (blocking). Free space is
    what unprivileged writers get (``f_bavail``): the stricter figure, root's reserve
    aside."""
    try:
        stats = os.statvfs(path)
    except OSError as err:
        return SpaceReport(error=f"cannot read the filesystem of {path}: {err.strerror}")
    return SpaceReport(size_mib=stats.f_blocks * stats.f_frsize // MIB,
                       free_mib=stats.f_bavail * stats.f_frsize // MIB)


def disk_space(layout: NodeLayout, paths: list[str]) -> dict[str, SpaceReport]:
    """``filesystem_space`` of each path, relative to the node root (blocking)."""
    return {str(p): filesystem_space(layout.root / str(p).lstrip("/")) for p in paths}
