"""Group commit of job updates: local durable write, then replication to candidates."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from corral import serde
from corral.jobs.model import Job
from corral.jobs.store import JobStore

log = logging.getLogger(__name__)


REPLICATION_DELAY = 0.02
"""Seconds a job update may wait to share a replication run with later updates."""


class QueueReplicator(Protocol):
    """Copies job files to the master candidates (Ganeti's jobqueue_update)."""

    async def update(self, files: list[tuple[str, str]]) -> None:
        """Write ``(file name, content)`` pairs on every candidate."""

    async def rename(self, renames: list[tuple[str, str]]) -> None:
        """Rename job files on every candidate (archiving)."""

    async def set_drain_flag(self, flag: bool) -> None:
        """Set or clear the drain flag on every candidate."""


def job_file_name(job_id: int) -> str:
    return f"job-{job_id}"


def archived_file_name(job_id: int) -> str:
    return f"archive/{job_id // 10000}/job-{job_id}"


class _Batcher:
    """Runs ``write`` on everything marked since the last run; a run coalesces all marks.

    Each mark gets a future that ends when a run including it has finished.
    Marks that are not ``urgent`` may wait up to ``delay`` seconds so that they
    share a run with later ones (an urgent mark starts the run at once).
    """

    def __init__(
        self, write: Callable[[dict[int, bytes]], Awaitable[None]], delay: float = 0.0
    ) -> None:
        self._write = write
        self._delay = delay
        self._pending: dict[int, bytes] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None
        self._urgent = asyncio.Event()

    def mark(self, docs: dict[int, bytes], urgent: bool = True) -> asyncio.Future[None]:
        self._pending.update(docs)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        if urgent or not self._delay:
            self._urgent.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return future

    async def _run(self) -> None:
        while self._pending or self._waiters:
            if not self._urgent.is_set():
                try:
                    await asyncio.wait_for(self._urgent.wait(), self._delay)
                except TimeoutError:
                    pass
            self._urgent.clear()
            batch, waiters = self._pending, self._waiters
            self._pending, self._waiters = {}, []
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                _settle([*waiters, *self._waiters], cancel=True)
                raise
            except Exception as err:  # a failed write must reach every waiter
                log.exception("job queue write failed")
                _settle(waiters, error=err)
                continue
            _settle(waiters)


def _settle(
    waiters: list[asyncio.Future[None]], error: BaseException | None = None, cancel: bool = False
) -> None:
    for future in waiters:
        if future.done():
            continue
        if cancel:
            future.cancel()
        elif error is not None:
            future.set_exception(error)
        else:
            future.set_result(None)


class JobSaver:
    """Coalesced, durable job writes, then replication of the job files to the candidates.

    Every write waits for the local transaction; only writes that ask for it
    (submissions) also wait for the candidates. While one batch is written, new
    updates gather into the next, so a burst costs a few transactions, not one each.
    """

    def __init__(self, store: JobStore, replicator: QueueReplicator | None = None) -> None:
        self.store = store
        self.replicator = replicator
        self.serial = store.last_id()
        self._local = _Batcher(self._write_local)
        self._remote = _Batcher(self._write_remote, delay=REPLICATION_DELAY)

    async def save(self, *jobs: Job, replicated: bool = False) -> None:
        """Return once the current state of ``jobs`` is durable (and replicated, if asked).

        Unreplicated saves reach the candidates within REPLICATION_DELAY, or with
        the next replicated save, whichever comes first.
        """
        await self.mark(*jobs)
        if replicated and self.replicator is not None:
            # runs are sequential: a run started now includes every state written so far
            await asyncio.wait([self._remote.mark({}, urgent=True)])

    def mark(self, *jobs: Job) -> asyncio.Future[None]:
        """Queue the state ``jobs`` have now for the next write; the future ends with it.

        The state is serialised at once, so later changes to the objects do not
        leak into this write, and the last state marked for a job is the one written.
        """
        return self._local.mark({job.id: serde.dumps(job.to_dict()) for job in jobs})

    async def _write_local(self, batch: dict[int, bytes]) -> None:
        await asyncio.to_thread(self.store.save, list(batch.items()), self.serial)
        if self.replicator is not None:
            self._remote.mark(batch, urgent=False).add_done_callback(_quiet)

    async def _write_remote(self, batch: dict[int, bytes]) -> None:
        assert self.replicator is not None
        await self.replicator.update([(job_file_name(i), d.decode()) for i, d in batch.items()])


def _quiet(future: asyncio.Future[None]) -> None:
    """Background replication reports failures in the log; nobody else awaits it."""
    if not future.cancelled():
        future.exception()
