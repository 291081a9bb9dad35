"""What a master candidate's job queue replica holds, for ``gnt-cluster verify``.

The replica is Ganeti's file layout (:mod:`corral.backend.jobqueue_files`): ``job-<id>``,
``archive/<id // 10000>/job-<id>`` and ``serial``. The answer is the highest job id the
replica knows and which of the master's jobs it has no file of.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from corral.backend.context import NodeContext
from corral.backend.handlers import handles
from corral.backend.jobqueue_files import JOBS_PER_ARCHIVE_DIR
from corral.layout import NodeLayout
from corral.rpc.payloads import QueueReplicaState

_JOB = re.compile(r"job-([0-9]+)")
_NUMBER = re.compile(r"[0-9]+")


def _ids_in(directory: Path) -> set[int]:
    try:
        names = [entry.name for entry in directory.iterdir()]
    except OSError:
        return set()
    return {int(m.group(1)) for name in names if (m := _JOB.fullmatch(name))}


def _serial_file(queue_dir: Path) -> int:
    try:
        text = (queue_dir / "serial").read_text().strip()
    except OSError:
        return 0
    return int(text) if text.isdigit() else 0


def _newest_archived(archive: Path) -> int:
    """The highest archived job id: the job files of the highest-numbered archive dir."""
    try:
        buckets = sorted((int(e.name) for e in archive.iterdir() if _NUMBER.fullmatch(e.name)),
                         reverse=True)
    except OSError:
        return 0
    for bucket in buckets:
        ids = _ids_in(archive / str(bucket))
        if ids:
            return max(ids)
    return 0


def replica_state(layout: NodeLayout, job_ids: list[int]) -> QueueReplicaState:
    """The replica's highest job id and the ``job_ids`` it has no file of."""
    queue_dir = layout.queue_dir
    live = _ids_in(queue_dir)
    archive = layout.queue_archive_dir
    missing = sorted(
        job_id for job_id in set(job_ids) - live
        if not (archive / str(job_id // JOBS_PER_ARCHIVE_DIR) / f"job-{job_id}").exists()
    )
    serial = max(max(live, default=0), _serial_file(queue_dir), _newest_archived(archive))
    return QueueReplicaState(serial=serial, missing=missing)


@handles("jobqueue_replica_state")
async def jobqueue_replica_state(ctx: NodeContext, job_ids: list[int]) -> QueueReplicaState:
    """The highest job id of this node's job queue replica and which of ``job_ids``
    it lacks."""
    return await asyncio.to_thread(replica_state, ctx.layout, job_ids)
