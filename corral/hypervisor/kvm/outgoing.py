"""The source side of a running KVM migration: what QEMU says, what to do next.

:func:`assess` is a pure function from the :class:`OutgoingRecord` and one
observation of QEMU (``query-migrate``, ``query-block-jobs``) to the next action
and the status to report, so the same rules drive the background task and a
status query after a node daemon restart. :class:`OutgoingRun` is that task.

The sequence with disk mirrors: mirrors copy until every one is READY, then the
memory migration starts; QEMU stops the guest and pauses before switch-over
(``pause-before-switchover``); the mirrors are cancelled there (a READY mirror
copies what is left and ends without pivot) and, once they are gone, the
migration continues. Without mirrors QEMU goes straight to completion.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from corral.clock import Clock
from corral.errors import HypervisorError
from corral.hypervisor.base import MigrationPhase, MigrationState, MigrationStatus
from corral.hypervisor.kvm.migration_records import OutgoingRecord, write_outgoing
from corral.hypervisor.kvm.qmp import BlockJob, MigrateInfo, QmpSession

POLL = 0.02
"""Seconds between two looks at QEMU (it bounds the pause added at switch-over)."""
MIRROR_END_TIMEOUT = 60.0
"""Seconds the cancelled mirrors get to copy their last writes and end."""
POSTCOPY_AFTER_SYNCS = 2
"""Precopy passes before switching to postcopy."""
_MIB = 1024 * 1024
_log = logging.getLogger(__name__)

class Action(enum.Enum):
    WAIT = "wait"
    START_MEMORY = "start-memory"
    START_POSTCOPY = "start-postcopy"
    SWITCHOVER = "switchover"
    FINISH_MIRRORS = "finish-mirrors"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Observation:
    """One look at the source QEMU."""

    migrate: MigrateInfo
    jobs: dict[str, BlockJob]


@dataclass(frozen=True, slots=True)
class Assessment:
    action: Action
    state: MigrationState
    phase: MigrationPhase
    error: str = ""


ENDED = frozenset({"concluded", "null"})
"""Block job states of a job that no longer runs (kept until dismissed)."""


def _disk_failure(record: OutgoingRecord, obs: Observation) -> str:
    for job_id in record.jobs:
        job = obs.jobs.get(job_id)
        if job is not None and job.error:
            return f"disk mirror {job_id} failed: {job.error}"
        if job is None or job.status in ENDED:
            return f"disk mirror {job_id} ended before the migration finished"
    return ""


def assess(record: OutgoingRecord, obs: Observation) -> Assessment:
    """The next step of the migration ``record`` describes, given what QEMU says."""
    active, memory = MigrationState.ACTIVE, MigrationPhase.MEMORY
    if not record.memory_started:
        failure = _disk_failure(record, obs)
        if failure:
            return Assessment(Action.DONE, MigrationState.FAILED, MigrationPhase.DISKS, failure)
        if all(obs.jobs[j].ready for j in record.jobs):
            return Assessment(Action.START_MEMORY, MigrationState.SETUP, memory)
        return Assessment(Action.WAIT, active, MigrationPhase.DISKS)
    status = obs.migrate.status
    if status == "failed":
        return Assessment(Action.DONE, MigrationState.FAILED, memory,
                          obs.migrate.error or "QEMU reports the migration failed")
    if status == "cancelled":
        return Assessment(Action.DONE, MigrationState.CANCELLED, memory,
                          "the migration was cancelled")
    if status == "completed":
        if any(j in obs.jobs for j in record.jobs):
            return Assessment(Action.FINISH_MIRRORS, active, memory)
        return Assessment(Action.DONE, MigrationState.COMPLETED, memory)
    if status == "pre-switchover":
        return Assessment(Action.SWITCHOVER, active, memory)
    failure = "" if record.switchover_started else _disk_failure(record, obs)
    if failure:
        return Assessment(Action.DONE, MigrationState.FAILED, memory, failure)
    if (status == "active" and record.postcopy and not record.postcopy_started
            and obs.migrate.dirty_sync_count >= POSTCOPY_AFTER_SYNCS):
        return Assessment(Action.START_POSTCOPY, active, memory)
    state = MigrationState.SETUP if status in ("", "none", "setup") else active
    return Assessment(Action.WAIT, state, memory)


RATE_WINDOW = 0.25
"""Seconds of copying observed before a disk copy rate is reported."""


@dataclass(slots=True)
class DiskFigures:
    """The largest disk copy figures seen (bytes; jobs vanish once they end) and the
    copy's average rate (bytes/s) since it was first seen."""

    copied: int = 0
    total: int = 0
    first_seen: tuple[float, int] | None = None
    """When the copy was first seen, and how much was copied then."""
    rate: float = 0.0

    def update(self, jobs: dict[str, BlockJob], ids: tuple[str, ...], now: float) -> None:
        mine = [jobs[j] for j in ids if j in jobs]
        if not mine:
            return
        self.copied = max(self.copied, sum(j.offset for j in mine))
        self.total = max(self.total, sum(j.length for j in mine))
        if self.first_seen is None:
            self.first_seen = (now, self.copied)
        elif now - self.first_seen[0] >= RATE_WINDOW:
            self.rate = (self.copied - self.first_seen[1]) / (now - self.first_seen[0])


def status_of(verdict: Assessment, obs: Observation, disks: DiskFigures,
              error: str = "") -> MigrationStatus:
    """The status to report: ``error`` (the task's own failure) overrides ``verdict``."""
    mig = obs.migrate
    state = MigrationState.FAILED if error else verdict.state
    copying_disks = verdict.phase is MigrationPhase.DISKS
    rate = disks.rate / _MIB if copying_disks else mig.mbps / 8.0 * 1e6 / _MIB
    return MigrationStatus(
        state=state, phase=verdict.phase, transferred_ram_mib=mig.transferred // _MIB,
        total_ram_mib=mig.total // _MIB, remaining_ram_mib=mig.remaining // _MIB,
        rate_mib_s=rate, expected_downtime_ms=mig.expected_downtime_ms,
        downtime_ms=mig.downtime_ms, total_time_ms=mig.total_time_ms,
        disk_transferred_mib=disks.copied // _MIB, disk_total_mib=disks.total // _MIB,
        error=error or verdict.error)


async def observe(qmp: QmpSession, record: OutgoingRecord) -> Observation:
    migrate = await qmp.query_migrate()
    jobs = {j.job_id: j for j in await qmp.query_block_jobs() if j.job_id in record.jobs}
    return Observation(migrate, jobs)


@dataclass(slots=True)
class OutgoingRun:
    """The background task that carries one outgoing migration to its end."""

    record: OutgoingRecord
    qmp_socket: Path
    record_path: Path
    clock: Clock
    disks: DiskFigures = field(default_factory=DiskFigures)
    error: str = ""
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"migrate {self.record.name}")

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    async def stop(self) -> None:
        """Cancel the task (idempotent)."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _run(self) -> None:
        try:
            while await self._step():
                await self.clock.sleep(POLL)
        except HypervisorError as err:
            self.error = str(err)
            _log.warning("migration of %s failed: %s", self.record.name, err)

    async def _step(self) -> bool:
        """One look and at most one action; False once the migration has ended."""
        async with QmpSession(self.qmp_socket) as qmp:
            obs = await observe(qmp, self.record)
            self.disks.update(obs.jobs, self.record.jobs, self.clock.monotonic())
            verdict = assess(self.record, obs)
            if verdict.action is Action.START_MEMORY:
                await self._save(memory_started=True)
                await qmp.migrate(self.record.uri)
            elif verdict.action is Action.START_POSTCOPY:
                await self._save(postcopy_started=True)
                with contextlib.suppress(HypervisorError):  # it may have just completed
                    await qmp.migrate_start_postcopy()
            elif verdict.action in (Action.SWITCHOVER, Action.FINISH_MIRRORS):
                if not self.record.switchover_started:  # before the mirrors go away
                    await self._save(switchover_started=True)
                await end_mirrors(qmp, self.record.jobs, self.clock, force=False)
                if verdict.action is Action.SWITCHOVER:
                    await qmp.migrate_continue()
        return verdict.action is not Action.DONE

    async def _save(self, **changes: bool) -> None:
        self.record = msgspec.structs.replace(self.record, **changes)
        await asyncio.to_thread(write_outgoing, self.record_path, self.record)


async def end_mirrors(qmp: QmpSession, job_ids: tuple[str, ...], clock: Clock, *,
                      force: bool) -> None:
    """Cancel the mirror jobs still running, wait until they ended, dismiss them.

    Without ``force`` a READY mirror first copies its last writes (the target's disk
    is then complete); with it the copy is abandoned.

    Raises:
        HypervisorError: a job did not end within :data:`MIRROR_END_TIMEOUT`, or
            (without ``force``) a mirror failed, so the target's disk is incomplete.
    """
    deadline = clock.monotonic() + MIRROR_END_TIMEOUT
    cancelled: set[str] = set()
    while True:
        jobs = {j.job_id: j for j in await qmp.query_block_jobs() if j.job_id in job_ids}
        running = {j.job_id for j in jobs.values() if j.status not in ENDED}
        if not running:
            break
        if clock.monotonic() > deadline:
            raise HypervisorError(f"disk mirrors {', '.join(sorted(running))} did not end")
        for job_id in sorted(running - cancelled):
            with contextlib.suppress(HypervisorError):  # ended meanwhile
                await qmp.block_job_cancel(job_id, force=force)
            cancelled.add(job_id)
        await clock.sleep(POLL / 2)
    for job_id in jobs:
        with contextlib.suppress(HypervisorError):
            await qmp.job_dismiss(job_id)
    failed = [f"{j.job_id}: {j.error}" for j in jobs.values() if j.error]
    if failed and not force:
        raise HypervisorError(f"disk mirror failed while finishing: {'; '.join(failed)}")
