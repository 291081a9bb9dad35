"""The sync state of ``mirror`` disks, as their primary's hypervisor reports it
(``instance_mirror_status``), in Ganeti's device status terms.

A mirror only exists while its instance runs (the primary's QEMU writes to both
halves), so a stopped instance has no mirror state: its disks show "not active",
as drbd disks whose devices are down. ``in_sync`` is in sync; ``resyncing`` is
degraded with the percentage copied; ``degraded`` (the secondary unreachable) is
degraded without a resync, which ``activate-disks`` starts again.
"""

from __future__ import annotations

from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.instances.bundle import build_bundle
from corral.objects.instance import DiskTemplate, Instance
from corral.rpc.payloads import MirrorDiskSync

LDS_OKAY = 1
IN_SYNC, DEGRADED, RESYNCING = "in_sync", "degraded", "resyncing"


def percent(sync: MirrorDiskSync) -> float:
    return 100.0 * sync.done / sync.total if sync.total else 0.0


def status_fields(sync: MirrorDiskSync) -> list[Any]:
    """``[sync percent, estimated time, degraded, local disk status]`` of one disk."""
    if sync.state == RESYNCING:
        return [percent(sync), None, True, LDS_OKAY]
    return [None, None, sync.state != IN_SYNC, LDS_OKAY]


def state_text(sync: MirrorDiskSync) -> str:
    """A degraded mirror disk in the words of ``gnt-instance info``."""
    if sync.state == RESYNCING:
        return f"*RECOVERING* {percent(sync):5.2f}%, ETA unknown"
    return f"*DEGRADED*{f' ({sync.error})' if sync.error else ''}"


def has_mirror(lu: LogicalUnit[Any], inst: Instance) -> bool:
    return any(lu.cfg.disks[u].dev_type is DiskTemplate.MIRROR for u in inst.disks
               if u in lu.cfg.disks)


async def mirror_states(lu: LogicalUnit[Any], inst: Instance
                        ) -> dict[int, MirrorDiskSync] | None:
    """Disk index → sync state of the running instance's mirror disks; None when the
    primary cannot tell (offline, or the instance not running there: a warning)."""
    node = lu.cfg.nodes.get(inst.primary_node)
    if node is None or node.offline:
        return None
    result = await lu.ctx.rpc.instance_mirror_status(node, build_bundle(lu.cfg, inst))
    if not result.ok:
        lu.log_warning(f"Cannot get the mirror state of instance {inst.name} from node"
                       f" {node.name}: {result.fail_msg}")
        return None
    return {sync.index: sync for sync in result.payload or []}
