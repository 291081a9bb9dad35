"""Waiting for an instance's mirrored disks to resync (Ganeti's ``WaitForSync``), with
the progress of each disk in the job log, and the mirror checks around a disk replacement
(which disks are faulty on a node, whether a node's copies are consistent).

Progress lines are Ganeti's: ``- device disk/0: 12.50% done, 1m 5s remaining
(estimated)``, one per resyncing disk at every poll (every ``POLL`` seconds).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.instances.node_disks import node_disks
from corral.errors import ErrorCode, OpExecError, OpPrereqError
from corral.objects.instance import Disk, Instance
from corral.objects.node import Node
from corral.rpc.payloads import MirrorStatus
from corral.storage.base import LDiskStatus

POLL = 1.0
"""Seconds between two mirror status polls while disks resync."""
UNREACHABLE_TRIES = 10
"""Polls the primary may miss in a row before the wait gives up (Ganeti's)."""
DEGRADED_RETRIES = 10
"""Extra polls when every disk is done but one is still degraded (a transient state)."""


def info(lu: LogicalUnit[Any], message: str) -> None:
    """A job-log line in Ganeti's ``LogInfo`` form."""
    lu.log_info(f" - INFO: {message}")


def format_seconds(seconds: float) -> str:
    """``2d 9h 19m 49s``, ``1m 5s``, ``7s`` (Ganeti's FormatSeconds)."""
    left = round(seconds)
    parts: list[str] = []
    if left > 0:
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            whole, left = divmod(left, size)
            if whole or parts:
                parts.append(f"{whole}{unit}")
    parts.append(f"{left}s")
    return " ".join(parts)


def progress_line(iv_name: str, percent: float, eta: float | None) -> str:
    """One disk's resync progress (``eta`` in seconds), as Ganeti's job log shows it."""
    left = f"{format_seconds(eta)} remaining (estimated)" if eta is not None \
        else "no time estimate"
    return f"- device {iv_name}: {percent:5.2f}% done, {left}"


async def mirror_status(
    lu: LogicalUnit[Any], node: Node, disks: Sequence[Disk],
) -> list[MirrorStatus] | str:
    """The mirror status of ``disks`` on ``node``, or the node's failure message."""
    sent = node_disks(lu.cfg, disks, node.uuid)
    result = await lu.ctx.rpc.blockdev_getmirrorstatus(node, sent)
    if not result.ok or result.payload is None:
        return result.fail_msg or "no answer"
    return result.payload


async def wait_for_sync(lu: LogicalUnit[Any], inst: Instance, disks: Sequence[Disk]) -> bool:
    """Poll the primary node until no disk of ``disks`` resyncs; returns False when one
    stayed degraded without resyncing (Ganeti's result).

    Raises:
        OpExecError: the primary node did not answer ``UNREACHABLE_TRIES`` times in a row.
    """
    if not disks:
        return True
    node = lu.cfg.nodes[inst.primary_node]
    info(lu, f"Waiting for instance {inst.name} to sync disks")
    misses, degraded_tries = 0, DEGRADED_RETRIES
    while True:
        found = await mirror_status(lu, node, disks)
        if isinstance(found, str):
            misses += 1
            lu.log_warning(f"Can't get any data from node {node.name}: {found}")
            if misses >= UNREACHABLE_TRIES:
                raise OpExecError(f"Can't contact node {node.name} for mirror data, aborting.")
            await lu.ctx.clock.sleep(POLL)
            continue
        misses = 0
        done, degraded = True, False
        for disk, status in zip(disks, found, strict=False):
            degraded = degraded or (status.is_degraded and status.sync_percent is None)
            if status.sync_percent is not None:
                done = False
                info(lu, progress_line(disk.iv_name, status.sync_percent,
                                       status.estimated_time))
        if done and degraded and degraded_tries > 0:
            degraded_tries -= 1
        elif done:
            break
        await lu.ctx.clock.sleep(POLL)
    if not degraded:
        info(lu, f"Instance {inst.name}'s disks are in sync")
    return not degraded


async def faulty_disks(
    lu: LogicalUnit[Any], inst: Instance, disks: Sequence[Disk], node: Node,
) -> list[int]:
    """Indices (in ``disks``) of the disks whose local storage on ``node`` is faulty
    (Ganeti's FindFaultyInstanceDisks).

    Raises:
        OpPrereqError: (ENVIRON) the node did not answer.
    """
    found = await mirror_status(lu, node, disks)
    if isinstance(found, str):
        raise OpPrereqError(f"Failed to get disk status from node {node.name}: {found}",
                            ErrorCode.ENVIRON)
    return [index for index, status in enumerate(found)
            if status.ldisk_status == LDiskStatus.FAULTY]


async def check_consistent(
    lu: LogicalUnit[Any], inst: Instance, disks: Sequence[Disk], node: Node,
    *, local_only: bool,
) -> None:
    """Each disk is healthy on ``node``: not degraded, or (``local_only``) with its local
    storage up to date (Ganeti's CheckDiskConsistency with ``ldisk``).

    Raises:
        OpExecError: a disk is missing or degraded there.
    """
    for disk in disks:
        info(lu, f"Checking {disk.iv_name} consistency on node {node.name}")
    found = await mirror_status(lu, node, disks)
    if isinstance(found, str):
        raise OpExecError(f"Can't find the disks of instance {inst.name} on node"
                          f" {node.name}: {found}")
    for status in found:
        bad = (status.ldisk_status != LDiskStatus.OKAY) if local_only else status.is_degraded
        if bad:
            raise OpExecError(f"Node {node.name} has degraded storage, unsafe to replace"
                              f" disks for instance {inst.name}")
