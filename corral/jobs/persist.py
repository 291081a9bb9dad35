"""Group commit of job updates: local durable write, then replication to candidates."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from corral import serde
from corral.errors import JobQueueError
from corral.jobs.model import Job
from corral.jobs.store import JobStore

log = logging.getLogger(__name__)


REPLICATION_DELAY = 0.02
"""Seconds a job update may wait to share a replication run with later updates."""

LAZY_DELAY = 0.01
"""Seconds a lazy local write (a state whose loss on a crash is harmless, e.g. ``waiting``)
may wait to share a transaction with the next durable one."""


class NotReplicated(JobQueueError):
    """Too few master candidates acknowledged a queue write (the message names them)."""


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


@dataclass(frozen=True)
class Backoff:
    """Pauses between attempts of a failed write: ``first`` seconds, doubling up to ``limit``."""

    first: float = 0.1
    limit: float = 5.0

    def delay(self, failures: int) -> float:
        """The pause after the ``failures``-th failed attempt in a row (1, 2, …)."""
        return min(self.limit, self.first * 2.0 ** min(failures - 1, 64))


@dataclass(frozen=True)
class _Mark:
    """A wait for a run: ``fail_fast`` ones get a failed write's error, and their
    documents (``ids``) are dropped; the others wait until their documents are written."""

    future: asyncio.Future[None]
    ids: frozenset[int]
    fail_fast: bool


class _Batcher:
    """Runs ``write`` on everything marked since the last run; a run coalesces all marks.

    Each mark gets a future that ends when a run including it has finished.
    Marks that are not ``urgent`` may wait up to ``delay`` seconds so that they
    share a run with later ones (an urgent mark starts the run at once).

    Without ``retry``, a failed run ends its marks with the error. With it, only
    ``fail_fast`` marks do; the rest of the run is written again after a pause (cut short
    by a new fail-fast mark) until it succeeds, and the failure is logged once per episode.
    """

    def __init__(
        self,
        write: Callable[[dict[int, bytes]], Awaitable[None]],
        delay: float = 0.0,
        retry: Backoff | None = None,
    ) -> None:
        self._write = write
        self._delay = delay
        self._retry = retry
        self._pending: dict[int, bytes] = {}
        self._waiters: list[_Mark] = []
        self._task: asyncio.Task[None] | None = None
        self._urgent = asyncio.Event()
        self._wake = asyncio.Event()
        self.failures = 0
        """Failed runs in a row (0 when the last run succeeded)."""

    def mark(
        self, docs: dict[int, bytes], urgent: bool = True, fail_fast: bool = False
    ) -> asyncio.Future[None]:
        self._pending.update(docs)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(_Mark(future, frozenset(docs), fail_fast))
        if urgent or not self._delay:
            self._urgent.set()
        if fail_fast:
            self._wake.set()
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
            self._wake.clear()
            batch, marks = self._pending, self._waiters
            self._pending, self._waiters = {}, []
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                _settle([*marks, *self._waiters], cancel=True)
                raise
            except Exception as err:  # a failed write must reach every waiter
                if self._retry is None:
                    log.exception("job queue write failed")
                    _settle(marks, error=err)
                else:
                    self._keep_for_retry(batch, marks, err)
                    await self._pause(err)
                continue
            self._succeeded()
            _settle(marks)

    def _keep_for_retry(self, batch: dict[int, bytes], marks: list[_Mark], err: Exception) -> None:
        """End the fail-fast marks with ``err``, dropping their documents; put the rest back,
        under any newer state marked for the same jobs since."""
        for mark in marks:
            if mark.fail_fast:
                for job_id in mark.ids:
                    batch.pop(job_id, None)
        _settle([m for m in marks if m.fail_fast], error=err)
        batch.update(self._pending)
        self._pending = batch
        self._waiters = [m for m in marks if not m.fail_fast] + self._waiters

    async def _pause(self, err: Exception) -> None:
        """Log the first failure of an episode, then wait before the next attempt."""
        assert self._retry is not None
        self.failures += 1
        if self.failures == 1:
            log.error("%s; job queue writes are retried until they succeed", err)
        if not self._pending and not self._waiters:
            return  # only fail-fast marks failed: nothing to retry
        try:
            await asyncio.wait_for(self._wake.wait(), self._retry.delay(self.failures))
        except TimeoutError:
            pass

    def _succeeded(self) -> None:
        if self.failures:
            log.warning("job queue writes succeed again, after %d failed attempts", self.failures)
        self.failures = 0


def _settle(
    marks: list[_Mark], error: BaseException | None = None, cancel: bool = False
) -> None:
    for mark in marks:
        future = mark.future
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

    A failed local write (a full disk) fails the submissions in it, whose jobs are then
    never written; the updates of known jobs in it are written again, after pauses that
    follow ``retry``, until they are durable: their waits end only then.
    """

    def __init__(
        self,
        store: JobStore,
        replicator: QueueReplicator | None = None,
        retry: Backoff = Backoff(),
    ) -> None:
        self.store = store
        self.replicator = replicator
        self.serial = store.last_id()
        self._local = _Batcher(self._write_local, delay=LAZY_DELAY, retry=retry)
        self._remote = _Batcher(self._write_remote, delay=REPLICATION_DELAY)
        self._sent_ahead: dict[int, bytes] = {}
        """Submitted documents sent to the candidates alongside their local write."""

    @property
    def failing(self) -> bool:
        """Whether the last local write failed (writes are being retried)."""
        return self._local.failures > 0

    async def save(self, *jobs: Job, replicated: bool = False) -> None:
        """Return once the current state of ``jobs`` is durable (and replicated, if asked).

        A replicated save acknowledges new jobs: if its local write fails, it raises
        that error (JobQueueError naming the cause) and the jobs are not written later.
        Other saves return only once written, however many attempts that takes.
        Unreplicated saves reach the candidates within REPLICATION_DELAY, or with
        the next replicated save, whichever comes first. A replicated save that a
        majority of the candidates does not acknowledge raises NotReplicated.
        """
        docs = _documents(jobs)
        local = self._local.mark(docs, fail_fast=replicated)
        if not replicated or self.replicator is None:
            await local
            return
        # the candidates get the documents while the local transaction runs; runs are
        # sequential, so this one also carries every state written before it
        self._sent_ahead.update(docs)
        run = self._remote.mark(docs, urgent=True)
        try:
            await local
        except BaseException:
            for job_id in docs:
                self._sent_ahead.pop(job_id, None)
            raise
        await asyncio.wait([run])
        error = None if run.cancelled() else run.exception()
        if isinstance(error, NotReplicated):
            raise error

    def replicate_only(self, *jobs: Job) -> asyncio.Future[None]:
        """Send the state ``jobs`` have now to the candidates alone, not to the local store.

        For submissions whose local write failed: their copies, sent to the candidates
        alongside that write, are replaced by this state (the job in error).
        """
        if self.replicator is None:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            future.set_result(None)
            return future
        return self._remote.mark(_documents(jobs), urgent=True)

    def mark(self, *jobs: Job, lazy: bool = False) -> asyncio.Future[None]:
        """Queue the state ``jobs`` have now for the next write; the future ends with it.

        The state is serialised at once, so later changes to the objects do not
        leak into this write, and the last state marked for a job is the one written.
        A ``lazy`` write waits up to LAZY_DELAY for a later write to share its
        transaction (a durable save made meanwhile writes it at once, superseded by
        that save's newer state of the same job).
        """
        return self._local.mark(_documents(jobs), urgent=not lazy)

    async def _write_local(self, batch: dict[int, bytes]) -> None:
        await asyncio.to_thread(self.store.save, list(batch.items()), self.serial)
        if self.replicator is None:
            return
        # documents a submission already sent to the candidates are not sent again
        rest = {i: d for i, d in batch.items() if self._sent_ahead.pop(i, None) is not d}
        if rest:
            self._remote.mark(rest, urgent=False).add_done_callback(_quiet)

    async def _write_remote(self, batch: dict[int, bytes]) -> None:
        assert self.replicator is not None
        await self.replicator.update([(job_file_name(i), d.decode()) for i, d in batch.items()])


def _documents(jobs: tuple[Job, ...]) -> dict[int, bytes]:
    """The jobs' current state, serialised: later changes to them do not leak into a write."""
    return {job.id: serde.dumps(job.to_dict()) for job in jobs}


def _quiet(future: asyncio.Future[None]) -> None:
    """Background replication reports failures in the log; nobody else awaits it."""
    if not future.cancelled():
        future.exception()
