"""The job queue: submission, scheduling, cancelation, priorities, dependencies, archiving."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import msgspec

from corral.clock import Clock, split_time
from corral.errors import (
    CorralError,
    JobLost,
    JobQueueDrainError,
    JobQueueError,
    OpExecError,
    OpPrereqError,
    ParameterError,
)
from corral.job_wire import JOB_FINALIZED, OP_FINALIZED, JobStatus, OpStatus
from corral.jobs.model import Job, QueuedOp
from corral.jobs.persist import JobSaver, NotReplicated, archived_file_name, job_file_name
from corral.jobs.slots import SlotPool
from corral.opcodes.base import SUBMIT_PRIORITIES, OpCode
from corral.opcodes.codec import decode_opcode
from corral.opcodes.private import (
    PRIVATE_FIELDS,
    SECRET_FIELDS,
    SECRETS_LOST,
    has_secrets,
    hidden_values,
    scrub,
    without_secrets,
)

log = logging.getLogger(__name__)

Feedback = Callable[[str], None]


class OpRunner(Protocol):
    """Runs one opcode of a job (the opcode processor)."""

    async def run_op(
        self,
        job: Job,
        opcode: OpCode,
        feedback: Feedback,
        on_locked: Callable[[], Awaitable[None]],
    ) -> Any:
        """Execute ``opcode``; await ``on_locked()`` once its locks are held. Returns its result."""


class JobQueue:
    """Persistent jobs in memory and on disk, run as asyncio tasks."""

    def __init__(
        self,
        saver: JobSaver,
        runner: OpRunner,
        clock: Clock,
        max_running: Callable[[], int] = lambda: 20,
    ) -> None:
        self.saver = saver
        self.runner = runner
        self.clock = clock
        self.jobs: dict[int, Job] = {}
        self.slots = SlotPool(max_running)
        self.drained = False
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._changed: dict[int, asyncio.Event] = {}
        self._executing: set[int] = set()
        self._stopping = False
        self._committing: set[int] = set()
        self._commit_turns: dict[int, asyncio.Lock] = {}

    # --- start-up -----------------------------------------------------
    async def recover(self) -> None:
        """Load unarchived jobs; requeue pending ones, fail the ones that were running and
        the ones whose secret parameters (kept in memory only) were lost."""
        docs = await asyncio.to_thread(self.saver.store.load_active)
        interrupted: list[Job] = []
        for doc in docs:
            job = Job.from_dict(doc)
            self.jobs[job.id] = job
            if job.status in JOB_FINALIZED:
                continue
            if any(op.status is OpStatus.RUNNING for op in job.ops):
                self._fail_unfinished(job, INTERRUPTED)
                interrupted.append(job)
            elif _secrets_lost(job):
                self._reset_pending(job)
                self._fail_unfinished(job, SECRETS_LOST)
                interrupted.append(job)
            else:
                self._reset_pending(job)
        if interrupted:
            await self.saver.save(*interrupted)
        for job in self.jobs.values():
            if job.status not in JOB_FINALIZED:
                self._spawn(job)

    def _fail_unfinished(self, job: Job, message: str) -> None:
        now = self.clock.now()
        job.add_log(now, message)
        for index, op in enumerate(job.ops):
            if op.status not in OP_FINALIZED:
                job.move_op(index, OpStatus.ERROR)
                op.result = OpExecError(message).encode()
                op.end_timestamp = split_time(now)
        job.end_timestamp = split_time(now)

    @staticmethod
    def _reset_pending(job: Job) -> None:
        for index, op in enumerate(job.ops):
            if op.status in (OpStatus.WAITING, OpStatus.CANCELING):
                job.move_op(index, OpStatus.QUEUED)

    # --- submission ---------------------------------------------------
    def _build_job(self, job_id: int, ops: list[dict[str, Any]]) -> Job:
        """Decode and check every opcode; the job keeps the decoded ones for running them."""
        if not isinstance(ops, list) or not ops:
            raise ParameterError("a job needs a non-empty list of opcodes")
        queued = [_queued_op(raw) for raw in ops]
        return Job(id=job_id, ops=queued, received_timestamp=split_time(self.clock.now()))

    async def submit_many(
        self, op_lists: list[list[dict[str, Any]]], to_drained: bool = False,
        whole_call: bool = False,
    ) -> list[tuple[bool, Any]]:
        """Submit jobs; one ``(True, job id)`` or ``(False, error message)`` per job.

        With ``whole_call`` (LUXI's SubmitManyJobs, as Ganeti 3.0 decodes the whole request
        first), a job whose opcodes do not decode refuses the whole call: its error is
        raised and no job is submitted. A relative dependency that cannot be resolved
        still fails that job alone.
        """
        if self.drained and not to_drained:
            raise JobQueueDrainError("Job queue is drained, refusing job")
        results: list[tuple[bool, Any]] = []
        new_jobs: list[Job] = []
        first_serial = self.saver.serial
        for index, ops in enumerate(op_lists):
            try:
                job = self._build_job(self.saver.serial + 1, ops)
            except CorralError as err:
                if whole_call:
                    self.saver.serial = first_serial
                    raise
                results.append((False, str(err)))
                continue
            try:
                _resolve_relative_deps(job, [j.id for j in new_jobs], index)
            except CorralError as err:
                results.append((False, str(err)))
                continue
            self.saver.serial = job.id
            new_jobs.append(job)
            results.append((True, job.id))
        if new_jobs:
            await self._acknowledge(new_jobs)
            for job in new_jobs:
                self.jobs[job.id] = job
                self._spawn(job)
        return results

    async def submit(self, ops: list[dict[str, Any]], to_drained: bool = False) -> int:
        """Submit one job and return its id; raises on invalid opcodes."""
        if self.drained and not to_drained:
            raise JobQueueDrainError("Job queue is drained, refusing job")
        job = self._build_job(self.saver.serial + 1, ops)
        _resolve_relative_deps(job, [], 0)
        self.saver.serial = job.id
        await self._acknowledge([job])
        self.jobs[job.id] = job
        self._spawn(job)
        return job.id

    async def _acknowledge(self, jobs: list[Job]) -> None:
        """Save new jobs on disk and on a majority of the candidates. Without that majority
        they end in error here (so that they never run) and NotReplicated is raised; if
        the local write fails, its error is raised and the candidates get them in error."""
        try:
            await self.saver.save(*jobs, replicated=True)
        except NotReplicated as err:
            for job in jobs:
                self._fail_unfinished(job, f"Job not acknowledged: {err}")
            await self.saver.mark(*jobs)
            raise
        except JobQueueError as err:
            # not on our disk: the copies sent to the candidates alongside must not run
            for job in jobs:
                self._fail_unfinished(job, f"Job not acknowledged: {err}")
            self.saver.replicate_only(*jobs).add_done_callback(_ignore_outcome)
            raise

    # --- running ------------------------------------------------------
    def _spawn(self, job: Job) -> None:
        self._tasks[job.id] = asyncio.create_task(self._run_job(job), name=f"job-{job.id}")

    async def _run_job(self, job: Job) -> None:
        try:
            for index in range(len(job.ops)):
                if job.ops[index].status in OP_FINALIZED:
                    continue
                if not await self._run_op(job, index):
                    break
        except asyncio.CancelledError:
            if self._stopping:
                raise  # the daemon stops; the job's last saved state stands
            await self._cancel_rest(job)
        except Exception:
            log.exception("job %d: unexpected failure in the queue", job.id)
        finally:
            self._tasks.pop(job.id, None)
            self.notify(job.id)

    async def _run_op(self, job: Job, index: int) -> bool:
        """Run one opcode; False when the job must stop (error or cancel)."""
        opcode = _opcode(job.ops[index])
        if not await self._wait_dependencies(job, index, opcode):
            return False
        await self.slots.acquire(job.ops[index].priority, job.id)
        try:
            return await self._execute(job, index, opcode)
        finally:
            self.slots.release()

    async def _execute(self, job: Job, index: int, opcode: OpCode) -> bool:
        op = job.ops[index]
        now = split_time(self.clock.now())
        job.move_op(index, OpStatus.WAITING)
        op.start_timestamp = now
        if job.start_timestamp is None:
            job.start_timestamp = now
        self._save_later(job)

        async def on_locked() -> None:
            locked_at = split_time(self.clock.now())

            def running(draft: Job) -> None:
                draft.move_op(index, OpStatus.RUNNING)
                draft.ops[index].exec_timestamp = locked_at

            await self._commit(job, running)  # durable before anything executes
            self._executing.add(job.id)

        def feedback(message: str) -> None:
            job.add_log(self.clock.now(), _scrubbed(job, message))
            self._save_later(job)

        try:
            result = await self.runner.run_op(job, opcode, feedback, on_locked)
        except asyncio.CancelledError:
            if self._stopping:
                raise  # the daemon stops: the job stays "running" on disk and is failed at restart
            await self._finish(job, index, OpStatus.CANCELED, "Job canceled by request")
            return False
        except CorralError as err:
            return await self._fail(job, index, err)
        except Exception as err:
            log.exception("job %d: opcode %s crashed", job.id, opcode.op_id)
            return await self._fail(job, index, OpExecError(f"{type(err).__name__}: {err}"))
        finally:
            self._executing.discard(job.id)
        await self._finish(job, index, OpStatus.SUCCESS, result)
        return True

    async def _fail(self, job: Job, index: int, err: CorralError) -> bool:
        job.add_log(self.clock.now(), _scrubbed(job, f"Error: {err}"))
        await self._finish(job, index, OpStatus.ERROR, err.encode())
        return False

    async def _finish(self, job: Job, index: int, status: OpStatus, result: Any) -> None:
        """End opcode ``index`` with ``status``; an error or cancel ends the later ones too."""
        now = split_time(self.clock.now())
        result = _scrubbed(job, result)

        def finish(draft: Job) -> None:
            for position, op in enumerate(draft.ops):
                if position < index or op.status in OP_FINALIZED:
                    continue
                if position == index:
                    draft.move_op(position, status)
                    op.result = result
                elif status is OpStatus.SUCCESS:
                    break
                else:
                    draft.move_op(position, status)
                    op.result = (
                        result
                        if status is OpStatus.CANCELED
                        else (OpExecError("Error in a previous opcode").encode())
                    )
                op.end_timestamp = now
            if draft.status in JOB_FINALIZED:
                draft.end_timestamp = now

        await self._commit(job, finish)

    async def _commit(self, job: Job, change: Callable[[Job], None]) -> None:
        """Apply ``change`` durably: observers see it only once it is on disk.

        ``change`` is made to a draft, which is saved, then to the job itself: what the
        job's task changed meanwhile (a status, a log entry) stays. Commits to one job take
        turns, so each draft starts from the changes committed before it.

        While the disk refuses the write, the saver retries it and the job keeps its last
        durable state (what queries show); an error here leaves the job unchanged.
        """
        turn = self._commit_turns.setdefault(job.id, asyncio.Lock())
        async with turn:
            draft = job.draft()
            change(draft)
            self._committing.add(job.id)
            try:
                await self.saver.save(draft)
            finally:
                self._committing.discard(job.id)
            change(job)
        self.notify(job.id)

    def _save_later(self, job: Job) -> None:
        """Save an intermediate state in the background (its loss on a crash is harmless).

        Waiters are woken once it is written: when a durable change follows at once (a
        job that gets its locks at once goes on to ``running``), they see both together.
        """
        if job.id in self._committing:
            self.notify(job.id)
            return

        def written(future: asyncio.Future[None]) -> None:
            _ignore_outcome(future)
            self.notify(job.id)

        self.saver.mark(job, lazy=True).add_done_callback(written)

    async def _wait_dependencies(self, job: Job, index: int, opcode: OpCode) -> bool:
        for dep_id, statuses in opcode.depends or []:
            wanted = {JobStatus(s) for s in statuses} if statuses else set(JOB_FINALIZED)
            dep = self.jobs.get(int(dep_id))
            if dep is None:
                continue  # archived or unknown: Ganeti treats it as satisfied
            if dep.status not in JOB_FINALIZED:
                job.move_op(index, OpStatus.WAITING)
                self._save_later(job)
                await self.wait_finished(dep.id)
            if dep.status not in wanted:
                err = OpPrereqError(
                    f"Dependency job {dep.id} ended with status '{dep.status}', "
                    f"not one of {sorted(s.value for s in wanted)}"
                )
                return await self._fail(job, index, err)
        return True

    # --- change notification -------------------------------------------
    def notify(self, job_id: int) -> None:
        event = self._changed.pop(job_id, None)
        if event is not None:
            event.set()

    def change_event(self, job_id: int) -> asyncio.Event:
        """An event set at the job's next change. A finished (or archived) job changes no
        more: its event is not kept, or one per job a client waited for would pile up."""
        job = self.jobs.get(job_id)
        if job is None or job.status in JOB_FINALIZED:
            return asyncio.Event()
        event = self._changed.get(job_id)
        if event is None:
            event = self._changed[job_id] = asyncio.Event()
        return event

    async def wait_finished(self, job_id: int) -> None:
        while (job := self.jobs.get(job_id)) is not None and job.status not in JOB_FINALIZED:
            await self.change_event(job_id).wait()

    # --- queries --------------------------------------------------------
    async def get(self, job_id: int) -> Job | None:
        """A job from memory, or from the archive on disk."""
        job = self.jobs.get(job_id)
        if job is not None:
            return job
        found = await asyncio.to_thread(self.saver.store.load, job_id)
        if found is None:
            return None
        return Job.from_dict(found[0], archived=found[1])

    async def get_many(self, job_ids: Iterable[int]) -> list[Job]:
        """The jobs among ``job_ids`` that exist, each once: from memory, the rest read
        from disk in one worker-thread call."""
        wanted = set(job_ids)
        jobs = [job for job_id in wanted if (job := self.jobs.get(job_id)) is not None]
        missing = wanted.difference(job.id for job in jobs)
        if missing:
            found = await asyncio.to_thread(self.saver.store.load_many, missing)
            jobs.extend(Job.from_dict(data, archived=archived) for data, archived in found)
        return jobs

    async def get_or_raise(self, job_id: int) -> Job:
        job = await self.get(job_id)
        if job is None:
            raise JobLost(f"Job {job_id} not found")
        return job

    # --- control --------------------------------------------------------
    async def cancel(self, job_id: int, kill: bool = False) -> tuple[bool, str]:
        """Ganeti's CancelJob: ``(success, message)``."""
        job = self.jobs.get(job_id)
        if job is None:
            return False, f"Job {job_id} not found"
        status = job.status
        if status in JOB_FINALIZED:
            return False, f"Job {job_id} is no longer waiting in the queue"
        if job_id in self._executing and not kill:
            return False, f"Job {job_id} is already running, can't cancel"
        task = self._tasks.get(job_id)
        if task is not None and (job_id in self._executing or _is_started(job)):
            task.cancel()
            return True, f"Job {job_id} will be canceled"
        if task is not None:
            task.cancel()
        await self._cancel_rest(job)
        return True, f"Job {job_id} canceled"

    async def _cancel_rest(self, job: Job) -> None:
        """Cancel every opcode of ``job`` that has not finished."""
        pending = [i for i, op in enumerate(job.ops) if op.status not in OP_FINALIZED]
        if pending:
            await self._finish(job, pending[0], OpStatus.CANCELED, "Job canceled by request")

    async def change_priority(self, job_id: int, priority: int) -> tuple[bool, str]:
        job = self.jobs.get(job_id)
        if job is None:
            return False, f"Job {job_id} not found"
        if priority not in SUBMIT_PRIORITIES:
            raise ParameterError(f"priority: {priority} is not one of {sorted(SUBMIT_PRIORITIES)}")
        if job.status in JOB_FINALIZED:
            return False, f"Job {job_id} is finished"

        def reprioritize(draft: Job) -> None:
            for op in draft.ops:
                if op.status not in OP_FINALIZED and op.status is not OpStatus.RUNNING:
                    op.priority = priority

        await self._commit(job, reprioritize)
        self.slots.reprioritize(job_id, priority)
        return (
            True,
            f"Priorities of pending opcodes for job {job_id} have been changed to {priority}",
        )

    async def archive(self, job_ids: list[int]) -> list[int]:
        """Archive finished jobs; returns the ids actually archived."""
        done = [i for i in job_ids if (j := self.jobs.get(i)) and j.status in JOB_FINALIZED]
        if not done:
            return []
        await asyncio.to_thread(self.saver.store.archive, done)
        if self.saver.replicator is not None:
            renames = [(job_file_name(i), archived_file_name(i)) for i in done]
            try:
                await self.saver.replicator.rename(renames)
            except Exception:
                log.exception("archive replication failed")
        for job_id in done:
            self.jobs.pop(job_id, None)
            self._commit_turns.pop(job_id, None)
        return done

    async def auto_archive(self, age: float, timeout: float) -> tuple[int, int]:
        """Archive finished jobs older than ``age`` seconds (-1: all); returns (archived, left)."""
        now = self.clock.now()
        candidates = []
        for job in list(self.jobs.values()):
            if job.status not in JOB_FINALIZED:
                continue
            ended = job.end_timestamp or job.received_timestamp or (0, 0)
            if age < 0 or now - ended[0] >= age:
                candidates.append(job.id)
        archived = await asyncio.wait_for(self.archive(candidates), timeout=max(timeout, 1.0))
        return len(archived), 0

    async def set_drain(self, flag: bool) -> None:
        self.drained = flag
        if self.saver.replicator is not None:
            await self.saver.replicator.set_drain_flag(flag)

    async def shutdown(self) -> None:
        """Stop running jobs' tasks (their state is persisted as it was)."""
        self._stopping = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _ignore_outcome(future: asyncio.Future[None]) -> None:
    """Background writes report failures in the log; their outcome is not awaited."""
    if not future.cancelled():
        future.exception()


INTERRUPTED = "Job was running when the master daemon stopped; its outcome is unknown"


def _secrets_lost(job: Job) -> bool:
    """Whether an opcode still to run had secret parameters (stored without their values)."""
    return any(op.status not in OP_FINALIZED and has_secrets(op.input) for op in job.ops)


def _scrubbed(job: Job, value: Any) -> Any:
    """``value`` without the job's private or secret values (an OS script may echo them in
    an error): what the queue stores must never hold a secret, nor serve a private value."""
    hidden = frozenset().union(*(hidden_values(op.opcode, SECRET_FIELDS | PRIVATE_FIELDS)
                                 for op in job.ops if op.opcode is not None))
    return scrub(value, hidden)


def _is_started(job: Job) -> bool:
    return any(op.status in (OpStatus.WAITING, OpStatus.RUNNING) for op in job.ops)


def _queued_op(raw: Any) -> QueuedOp:
    """A submitted opcode, decoded and checked; raises CorralError when it is not valid."""
    if not isinstance(raw, dict):
        raise ParameterError(f"an opcode must be an object, not {type(raw).__name__}")
    opcode = decode_opcode(raw)
    if opcode.priority not in SUBMIT_PRIORITIES:
        raise ParameterError(
            f"priority: {opcode.priority} is not one of {sorted(SUBMIT_PRIORITIES)}"
        )
    stored = without_secrets(_normalized_input(opcode, raw))  # the opcode keeps them
    return QueuedOp(input=stored, priority=opcode.priority, opcode=opcode)


def _opcode(op: QueuedOp) -> OpCode:
    """The opcode decoded: kept from its submission, or decoded once after a restart."""
    if op.opcode is None:
        op.opcode = decode_opcode(op.input)
    return op.opcode


def _normalized_input(op: OpCode, raw: dict[str, Any]) -> dict[str, Any]:
    """The opcode as submitted (Ganeti keeps the client's input), with OP_ID first."""
    return {"OP_ID": op.op_id, **{k: v for k, v in raw.items() if k != "OP_ID"}}


def _resolve_relative_deps(job: Job, earlier_ids: list[int], index: int) -> None:
    """Turn negative (relative) dependency ids into absolute ones, as Ganeti does.

    Both forms of each opcode change: its input (what is stored) and its decoded opcode.
    """
    for op in job.ops:
        opcode = _opcode(op)
        if not opcode.depends:
            continue
        resolved = [_absolute(entry, earlier_ids, index) for entry in opcode.depends]
        op.input["depends"] = [[dep, statuses] for dep, statuses in resolved]
        op.opcode = msgspec.structs.replace(opcode, depends=resolved)


def _absolute(
    entry: tuple[int | str, list[str]], earlier_ids: list[int], index: int
) -> tuple[int, list[str]]:
    """One decoded ``depends`` entry with an absolute job id."""
    job_id, statuses = entry
    try:
        dep = int(job_id)
    except ValueError as err:
        pair = [job_id, statuses]
        raise ParameterError(f"depends: {pair!r} is not a [job id, [statuses]] pair") from err
    if dep < 0:
        position = index + dep
        if position < 0 or position >= len(earlier_ids):
            raise ParameterError(f"depends: relative job id {dep} is out of range")
        dep = earlier_ids[position]
    return dep, statuses
