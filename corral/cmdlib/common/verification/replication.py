"""Lagging master candidates: what the master's replicators report, for verify and LUXI,
and what the candidates' job queue replicas hold.

A candidate is lagging when it did not acknowledge a configuration commit or a job queue
write in time (:mod:`corral.rpc.majority`); it is caught up in the background. A job queue
replica is behind when its highest job id is below the master's queue serial, or when it
lacks the file of a job the master has (as the configuration serial check of
:mod:`corral.cmdlib.common.verification.candidates`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from corral.cmdlib.common.verification.report import ENODEREPL, Finding, error
from corral.cmdlib.context import MasterContext
from corral.objects.node import Node
from corral.rpc.majority import LagSource
from corral.rpc.payloads import QueueReplicaState

SETTLE_SECONDS = 1.0
"""A replica found behind is asked again after this pause before it is reported: a job
submitted this instant is acknowledged by a majority while the last candidate's copy is
still on its way."""
SHOWN_JOBS = 5
"""Missing job ids listed in a finding (then "..." )."""


def lagging_candidates(ctx: MasterContext) -> dict[str, list[str]]:
    """``{candidate: ["configuration serial 41 of 57", "3 jobs"]}``, by name."""
    queue = ctx.queue
    sources = [ctx.config.replicator, queue.saver.replicator if queue is not None else None]
    lag: dict[str, list[str]] = {}
    for source in sources:
        if isinstance(source, LagSource):
            for name, missing in source.lagging().items():
                lag.setdefault(name, []).append(missing)
    return dict(sorted(lag.items()))


def lag_findings(lag: dict[str, list[str]]) -> list[Finding]:
    """One ENODEREPL error per lagging candidate."""
    return [
        error(ENODEREPL, name, f"candidate {name} is behind: {', '.join(missing)}")
        for name, missing in lag.items()
    ]


def queue_findings(
    master_serial: int, states: Mapping[str, QueueReplicaState | None]
) -> list[Finding]:
    """One ENODEREPL error per candidate whose job queue replica is behind the master's
    queue serial or lacks job files, or that did not describe its replica (None)."""
    found = []
    for name, state in sorted(states.items()):
        if state is None:
            found.append(error(ENODEREPL, name, f"candidate {name} did not report its job"
                               " queue replica"))
            continue
        behind = []
        if state.serial < master_serial:
            behind.append(f"job queue serial {state.serial} of {master_serial}")
        if state.missing:
            shown = ", ".join(str(i) for i in state.missing[:SHOWN_JOBS])
            more = ", ..." if len(state.missing) > SHOWN_JOBS else ""
            behind.append(f"{len(state.missing)} job file(s) missing (jobs {shown}{more})")
        if behind:
            found.append(error(ENODEREPL, name, f"candidate {name} is behind: "
                               f"{', '.join(behind)}"))
    return found


async def queue_replica_findings(ctx: MasterContext, settle: float = SETTLE_SECONDS
                                 ) -> list[Finding]:
    """Ask every online candidate but the master (and those already reported lagging by
    the queue replicator) what its job queue replica holds; see :func:`queue_findings`."""
    queue = ctx.queue
    if queue is None:
        return []
    data = ctx.config.data
    source = queue.saver.replicator
    lagging: set[str] = set(source.lagging()) if isinstance(source, LagSource) else set()
    candidates = [n for n in data.online_nodes() if n.master_candidate
                  and n.uuid != data.cluster.master_node and n.name not in lagging]
    found = await _ask_queue(ctx, candidates)
    if found and settle > 0:
        await asyncio.sleep(settle)
        again = {f.item for f in found}
        found = await _ask_queue(ctx, [n for n in candidates if n.name in again])
    return found


async def _ask_queue(ctx: MasterContext, candidates: list[Node]) -> list[Finding]:
    queue = ctx.queue
    assert queue is not None
    serial = queue.saver.serial
    answers = await ctx.rpc.jobqueue_replica_state(candidates, sorted(queue.jobs))
    return queue_findings(serial, {name: r.payload if r.ok else None
                                   for name, r in answers.items()})
