"""Job queue replication to the master candidates over node RPC."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from corral import serde
from corral.jobs.model import Job
from corral.jobs.persist import NotReplicated, job_file_name
from corral.objects.config_data import ConfigData
from corral.objects.node import Node
from corral.rpc.majority import (
    ACK_BOUND,
    DEFAULT_BACKOFF,
    CatchUp,
    CatchUpBackoff,
    acks_needed,
    gather_majority,
    require_majority,
)
from corral.rpc.nodes import NodeRpc
from corral.rpc.results import NodeResult

log = logging.getLogger(__name__)

MAX_MISSED_FILES = 10_000
"""Missed job files kept for one lagging candidate; beyond, it gets a full queue copy."""

RESYNC_CHUNK = 1000
"""Job files per call of a full queue copy at a master's start (bodies stay small)."""

Files = list[tuple[str, str]]
Send = Callable[[Node], Awaitable[NodeResult[None]]]


@dataclass
class QueueLag:
    """What one lagging candidate misses, in the order it must get it."""

    files: dict[str, str] = field(default_factory=dict)
    """Job file name -> its latest content."""
    renames: list[tuple[str, str]] = field(default_factory=list)
    drain: bool | None = None
    resync: bool = False
    """Too much was missed: send the whole queue instead of ``files``."""

    def empty(self) -> bool:
        return not (self.files or self.renames or self.resync) and self.drain is None

    def followed_by(self, newer: QueueLag) -> QueueLag:
        """This lag with ``newer`` (recorded later) on top."""
        return QueueLag(
            files={**self.files, **newer.files},
            renames=self.renames + newer.renames,
            drain=self.drain if newer.drain is None else newer.drain,
            resync=self.resync or newer.resync,
        )

    def describe(self) -> str:
        if self.resync:
            return "a full job queue copy"
        jobs = len(self.files)
        parts = [f"{jobs} job{'' if jobs == 1 else 's'}"]
        if self.renames:
            parts.append(f"{len(self.renames)} archived")
        if self.drain is not None:
            parts.append("the drain flag")
        return ", ".join(parts)


def job_files(jobs: Iterable[Job]) -> Files:
    """The job files of ``jobs``, by id: a full copy of the queue for a candidate."""
    return [
        (job_file_name(job.id), serde.dumps(job.to_dict()).decode())
        for job in sorted(jobs, key=lambda job: job.id)
    ]


class RpcQueueReplicator:
    """Copies job files, renames and the drain flag to every online candidate but the master.

    A write returns once a majority of the candidate pool (the master included) holds it,
    and raises :class:`NotReplicated` naming the unreachable candidates when none can.
    Candidates that do not answer within ``bound`` seconds are lagging: writes skip them
    and record what they miss, and a background loop sends it until they are level.
    ``snapshot`` gives every job file of the queue, for a candidate that missed too much.
    """

    def __init__(
        self,
        rpc: NodeRpc,
        config: Callable[[], ConfigData],
        snapshot: Callable[[], Files] | None = None,
        bound: float = ACK_BOUND,
        backoff: CatchUpBackoff = DEFAULT_BACKOFF,
    ) -> None:
        self.rpc = rpc
        self.config = config
        self.snapshot = snapshot
        self.bound = bound
        self.lag: dict[str, QueueLag] = {}
        self.catch_up = CatchUp(self._catch_up, self.lag.__contains__, backoff)

    def _candidates(self) -> list[Node]:
        cfg = self.config()
        return [
            n
            for n in cfg.nodes.values()
            if n.master_candidate and not n.offline and n.uuid != cfg.cluster.master_node
        ]

    def lagging(self) -> dict[str, str]:
        """``{candidate: "3 jobs"}`` for every lagging candidate."""
        return {name: lag.describe() for name, lag in sorted(self.lag.items())}

    async def update(self, files: Files) -> None:
        def record(lag: QueueLag) -> None:
            if lag.resync:
                return
            lag.files.update(files)
            if self.snapshot is not None and len(lag.files) > MAX_MISSED_FILES:
                lag.files.clear()
                lag.resync = True

        wire = [list(f) for f in files]
        await self._replicate(
            f"job queue update ({len(files)} file(s))",
            lambda node: self._one(self.rpc.jobqueue_update([node], wire), node),
            record,
        )

    async def rename(self, renames: list[tuple[str, str]]) -> None:
        wire = [list(r) for r in renames]
        await self._replicate(
            "job archival",
            lambda node: self._one(self.rpc.jobqueue_rename([node], wire), node),
            lambda lag: lag.renames.extend(renames),
        )

    async def set_drain_flag(self, flag: bool) -> None:
        def record(lag: QueueLag) -> None:
            lag.drain = flag

        await self._replicate(
            "drain flag",
            lambda node: self._one(self.rpc.jobqueue_set_drain_flag([node], flag), node),
            record,
        )

    async def resync(self) -> list[str]:
        """A full copy of the queue's job files to every candidate, at a master's start
        (the previous master, now a candidate, never held its own queue as a replica);
        the candidates that do not take it within the bound get it in the background.
        The names of those."""
        files = [list(f) for f in self.snapshot()] if self.snapshot is not None else []
        if not files:
            return []
        chunks = [files[i:i + RESYNC_CHUNK] for i in range(0, len(files), RESYNC_CHUNK)]
        calls = {n.name: self._send_chunks(n, chunks) for n in self._candidates()}
        outcome = await gather_majority(calls, 0, self.bound)
        for name, reason in sorted(outcome.failed.items()):
            log.warning("master candidate %s did not take the job queue copy: %s", name, reason)
            lag = self.lag.setdefault(name, QueueLag())
            lag.files.clear()
            lag.resync = True
            self.catch_up.start(name, outcome.pending.get(name))
        return sorted(outcome.failed)

    async def _send_chunks(self, node: Node, chunks: list[list[list[str]]]) -> NodeResult[None]:
        result: NodeResult[None] = NodeResult(node=node.name, call="jobqueue_update")
        for chunk in chunks:
            result = (await self.rpc.jobqueue_update([node], chunk))[node.name]
            if not result.ok:
                break
        return result

    @staticmethod
    async def _one(
        call: Awaitable[dict[str, NodeResult[None]]], node: Node
    ) -> NodeResult[None]:
        return (await call)[node.name]

    async def _replicate(
        self, what: str, send: Send, record: Callable[[QueueLag], None]
    ) -> None:
        """Send to the candidates that are level; record it for the lagging ones."""
        candidates = self._candidates()
        names = {n.name for n in candidates}
        for name in [n for n in self.lag if n not in names]:
            del self.lag[name]
        for lag in self.lag.values():
            record(lag)
        needed = acks_needed(len(candidates) + 1)
        calls = {n.name: send(n) for n in candidates if n.name not in self.lag}
        outcome = await gather_majority(calls, needed, self.bound)
        for name, reason in outcome.failed.items():
            if name not in self.lag:
                log.warning("master candidate %s is lagging (job queue): %s", name, reason)
            record(self.lag.setdefault(name, QueueLag()))
            self.catch_up.start(name, outcome.pending.get(name))
        waiting = [name for name in self.lag if name not in outcome.failed]
        require_majority(
            what, outcome, needed, len(candidates) + 1, waiting, NotReplicated
        )

    async def _catch_up(self, name: str) -> bool:
        """Send lagging ``name`` what it missed; whether it answered."""
        node = next((n for n in self._candidates() if n.name == name), None)
        if node is None:
            self.lag.pop(name, None)
            return True
        sent, self.lag[name] = self.lag[name], QueueLag()
        if not await self._send_lag(node, sent):
            self.lag[name] = sent.followed_by(self.lag.get(name, QueueLag()))
            return False
        newer = self.lag.get(name)
        if newer is not None and newer.empty():
            del self.lag[name]
        return True

    async def _send_lag(self, node: Node, lag: QueueLag) -> bool:
        """Files, then renames, then the drain flag; stops at the first failure."""
        files = self.snapshot() if lag.resync and self.snapshot else list(lag.files.items())
        steps: list[Callable[[], Awaitable[dict[str, NodeResult[None]]]]] = []
        if files:
            steps.append(lambda: self.rpc.jobqueue_update([node], [list(f) for f in files]))
        if lag.renames:
            steps.append(lambda: self.rpc.jobqueue_rename([node], [list(r) for r in lag.renames]))
        if lag.drain is not None:
            flag = lag.drain
            steps.append(lambda: self.rpc.jobqueue_set_drain_flag([node], flag))
        for step in steps:
            result = (await step())[node.name]
            if not result.ok:
                log.info("catch-up of %s failed: %s", node.name, result.fail_msg)
                return False
        return True
