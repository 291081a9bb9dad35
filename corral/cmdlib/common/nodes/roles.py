"""What follows a change of master-candidate roles: demotion RPCs and replica copies."""

from __future__ import annotations

from typing import Any

from corral import serde
from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.candidate_files import upload_candidate_files
from corral.cmdlib.context import MasterContext
from corral.jobs.persist import job_file_name
from corral.objects.node import Node


async def demote_node(lu: LogicalUnit[Any], node: Node) -> None:
    """Ask a former candidate to drop its configuration and queue replicas (best effort)."""
    if node.offline:
        return
    if lu.ctx.config.data.cluster.auto_failover:
        # its standby master daemon must not campaign any more (nor keep the replica open)
        stopped = (await lu.ctx.rpc.node_ensure_daemon([node], "corral-masterd", False))
        if not stopped[node.name].ok:
            lu.log_warning(f"Could not stop the standby master daemon on {node.name}:"
                           f" {stopped[node.name].fail_msg}")
    result = await lu.ctx.rpc.node_demote_from_mc(node)
    if not result.ok:
        lu.log_warning(f"Node {node.name} failed to demote itself: {result.fail_msg}")


async def copy_job_queue(ctx: MasterContext) -> None:
    """Send every job of the queue to the candidates (a new candidate needs all of them)."""
    queue = ctx.queue
    if queue is None or queue.saver.replicator is None:
        return
    jobs = sorted(queue.jobs.values(), key=lambda job: job.id)
    files = [(job_file_name(job.id), serde.dumps(job.to_dict()).decode()) for job in jobs]
    if files:
        await queue.saver.replicator.update(files)


async def welcome_candidates(lu: LogicalUnit[Any], nodes: list[Node]) -> None:
    """Give newly promoted candidates a full configuration and job queue copy, and the
    candidate files (the CA key, the RAPI certificate)."""
    if not nodes:
        return
    await lu.ctx.config.full_resync()
    await copy_job_queue(lu.ctx)
    await upload_candidate_files(lu, nodes)


def log_promotions(lu: LogicalUnit[Any], nodes: list[Node]) -> None:
    if nodes:
        names = ", ".join(n.name for n in nodes)
        lu.log_info(f"Promoted nodes to master candidate role: {names}")
