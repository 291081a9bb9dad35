"""Lagging master candidates: what the master's replicators report, for verify and LUXI.

A candidate is lagging when it did not acknowledge a configuration commit or a job queue
write in time (:mod:`corral.rpc.majority`); it is caught up in the background.
"""

from __future__ import annotations

from corral.cmdlib.common.verification.report import ENODEREPL, Finding, error
from corral.cmdlib.context import MasterContext
from corral.rpc.majority import LagSource


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
