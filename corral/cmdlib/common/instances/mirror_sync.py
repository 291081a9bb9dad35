"""Waiting for an instance's mirrored disks to be in sync (Ganeti's ``WaitForSync``).

The primary node reports each disk's mirror state (``blockdev_getmirrorstatus``);
while a disk resyncs, the job log gets ``- device disk/0: 45.10% done, 1m 3s
remaining (estimated)``, and the wait sleeps for the estimate (between 1 and
``MAX_POLL`` seconds). A disk degraded without a resync under way is looked at
again ``DEGRADED_RETRIES`` times, a second apart, before it counts: a connection
being made is not a failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.instances.node_disks import node_disks
from corral.errors import OpExecError
from corral.objects.instance import Disk, DiskTemplate, Instance
from corral.rpc.payloads import MirrorStatus

MAX_POLL = 5.0
DEGRADED_RETRIES = 10
NODE_RETRIES = 10
NODE_RETRY_DELAY = 6.0
SYNCED = frozenset({DiskTemplate.DRBD})
"""Templates whose disks the primary node reports with ``blockdev_getmirrorstatus``."""


def format_seconds(seconds: float) -> str:
    """``2d 9h 19m 49s`` (Ganeti's FormatSeconds)."""
    rest = round(seconds)
    parts: list[str] = []
    if rest > 0:
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            count, rest = divmod(rest, size)
            if count or parts:
                parts.append(f"{count}{unit}")
    parts.append(f"{rest}s")
    return " ".join(parts)


def progress_line(iv_name: str, status: MirrorStatus) -> str:
    """The job log line of one resyncing disk."""
    if status.estimated_time is not None:
        left = f"{format_seconds(status.estimated_time)} remaining (estimated)"
    else:
        left = "no time estimate"
    return f"- device {iv_name}: {status.sync_percent or 0.0:5.2f}% done, {left}"


async def _statuses(lu: LogicalUnit[Any], inst: Instance,
                    disks: Sequence[Disk]) -> list[MirrorStatus]:
    """The primary's answer, asked again (``NODE_RETRIES`` times) while it fails.

    Raises:
        OpExecError: the node did not answer.
    """
    node = lu.cfg.nodes[inst.primary_node]
    sent = node_disks(lu.cfg, disks, node.uuid)
    for _ in range(NODE_RETRIES):
        result = await lu.ctx.rpc.blockdev_getmirrorstatus(node, sent)
        if result.ok:
            return list(result.payload or [])
        lu.log_warning(f"Can't get any data from node {node.name}: {result.fail_msg}")
        await lu.ctx.clock.sleep(NODE_RETRY_DELAY)
    raise OpExecError(f"Can't contact node {node.name} for mirror data, aborting.")


async def wait_for_sync(lu: LogicalUnit[Any], inst: Instance, disks: Sequence[Disk],
                        oneshot: bool = False) -> bool:
    """Wait until the mirrored ``disks`` are in sync (``oneshot``: look once); returns
    False when one stays degraded without resyncing.

    Raises:
        OpExecError: the primary node cannot be reached.
    """
    mirrored = [d for d in disks if d.dev_type in SYNCED]
    if not mirrored:
        return True
    if not oneshot:
        lu.log_info(f"Waiting for instance {inst.name} to sync disks")
    retries = DEGRADED_RETRIES
    while True:
        done, degraded, wait = True, False, 0.0
        for disk, status in zip(mirrored, await _statuses(lu, inst, mirrored), strict=False):
            degraded = degraded or (status.is_degraded and status.sync_percent is None)
            if status.sync_percent is not None:
                done = False
                wait = max(wait, float(status.estimated_time or MAX_POLL))
                lu.log_info(progress_line(disk.iv_name, status))
        if (done or oneshot) and degraded and retries > 0:
            retries -= 1
            await lu.ctx.clock.sleep(1.0)
            continue
        if done or oneshot:
            break
        await lu.ctx.clock.sleep(min(MAX_POLL, max(1.0, wait)))
    if done:
        lu.log_info(f"Instance {inst.name}'s disks are in sync")
    return not degraded
