"""The job queue with a scripted opcode runner: statuses, order, cancel, recovery."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from corral.clock import SystemClock
from corral.errors import CorralError, JobQueueDrainError, OpExecError, ParameterError
from corral.job_wire import JobStatus, OpStatus
from corral.jobs import model
from corral.jobs import queue as queue_module
from corral.jobs.model import Job, QueuedOp
from corral.jobs.persist import JobSaver
from corral.jobs.queue import JobQueue
from corral.jobs.store import JobStore
from corral.opcodes.base import OpCode
from corral.opcodes.codec import decode_opcode
from corral.opcodes.test import OpTestDelay, OpTestDummy


class ScriptedRunner:
    """Runs OP_TEST_DUMMY (result/messages/fail) and OP_TEST_DELAY (sleeps).

    An opcode whose ``comment`` names an event in ``holds`` runs until that event is set.
    """

    def __init__(self) -> None:
        self.order: list[int] = []
        self.holds: dict[str, asyncio.Event] = {}

    async def run_op(
        self,
        job: Job,
        opcode: OpCode,
        feedback: Callable[[str], None],
        on_locked: Callable[[], Awaitable[None]],
    ) -> Any:
        await on_locked()
        self.order.append(job.id)
        if opcode.comment in self.holds:
            await self.holds[opcode.comment].wait()
        if isinstance(opcode, OpTestDelay):
            await asyncio.sleep(opcode.duration)
            return None
        assert isinstance(opcode, OpTestDummy)
        for message in opcode.messages:
            feedback(message)
        if opcode.fail:
            raise OpExecError("scripted failure")
        return opcode.result


def dummy(**fields: Any) -> dict[str, Any]:
    return {"OP_ID": "OP_TEST_DUMMY", **fields}


def delay(seconds: float, **fields: Any) -> dict[str, Any]:
    return {"OP_ID": "OP_TEST_DELAY", "duration": seconds, **fields}


def make_queue(tmp_path: Path, max_running: int = 20) -> tuple[JobQueue, ScriptedRunner]:
    runner = ScriptedRunner()
    saver = JobSaver(JobStore(tmp_path / "queue.db"))
    return JobQueue(saver, runner, SystemClock(), max_running=lambda: max_running), runner


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_success_and_persistence(tmp_path: Path) -> None:
    async def scenario() -> None:
        queue, _ = make_queue(tmp_path)
        job_id = await queue.submit([dummy(result=42, messages=["hello"])])
        await queue.wait_finished(job_id)
        job = queue.jobs[job_id]
        assert job.status is JobStatus.SUCCESS
        assert job.ops[0].result == 42
        assert [entry[3] for entry in job.ops[0].log] == ["hello"]
        stored = queue.saver.store.load(job_id)
        assert stored is not None
        assert stored[0]["ops"][0]["status"] == "success"

    run(scenario())


def test_failure_fails_later_opcodes(tmp_path: Path) -> None:
    async def scenario() -> None:
        queue, _ = make_queue(tmp_path)
        job_id = await queue.submit([dummy(fail=True), dummy(result=1)])
        await queue.wait_finished(job_id)
        job = queue.jobs[job_id]
        assert job.status is JobStatus.ERROR
        assert job.ops[0].result == ["OpExecError", ["scripted failure"]]
        assert job.ops[1].status is OpStatus.ERROR

    run(scenario())


def test_invalid_opcodes_are_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        queue, _ = make_queue(tmp_path)
        with pytest.raises(ParameterError, match="duration"):
            await queue.submit([{"OP_ID": "OP_TEST_DELAY", "duration": "soon"}])
        results = await queue.submit_many([[dummy()], [{"OP_ID": "OP_NOPE"}]])
        assert results[0][0] is True
        assert results[1][0] is False
        assert "OP_NOPE" in results[1][1]

    run(scenario())


def test_whole_call_refuses_every_job_for_one_undecodable(tmp_path: Path) -> None:
    async def scenario() -> None:
        queue, _ = make_queue(tmp_path)
        with pytest.raises(CorralError, match="OP_NOPE"):
            await queue.submit_many([[dummy()], [{"OP_ID": "OP_NOPE"}]], whole_call=True)
        assert queue.jobs == {}
        results = await queue.submit_many([[dummy()], [dummy(depends=[[-5, []]])]],
                                          whole_call=True)
        assert results[0] == (True, 1)  # no id was spent on the refused call
        assert results[1][0] is False  # a bad relative dependency fails its job alone

    run(scenario())


def test_priority_orders_waiting_jobs(tmp_path: Path) -> None:
    async def scenario() -> None:
        queue, runner = make_queue(tmp_path, max_running=1)
        blocker = await queue.submit([delay(0.1)])
        low = await queue.submit([dummy(priority=10)])
        high = await queue.submit([dummy(priority=-10)])
        await queue.wait_finished(low)
        assert runner.order == [blocker, high, low]

    run(scenario())


def test_dependencies(tmp_path: Path) -> None:
    async def scenario() -> None:
        queue, runner = make_queue(tmp_path)
        first = await queue.submit([delay(0.05)])
        second = await queue.submit([dummy(depends=[[first, ["success"]]])])
        failing = await queue.submit([dummy(fail=True)])
        third = await queue.submit([dummy(depends=[[failing, ["success"]]])])
        await queue.wait_finished(second)
        await queue.wait_finished(third)
        assert runner.order.index(first) < runner.order.index(second)
        assert queue.jobs[second].status is JobStatus.SUCCESS
        assert queue.jobs[third].status is JobStatus.ERROR
        assert "Dependency" in queue.jobs[third].ops[0].result[1][0]

    run(scenario())


def test_relative_dependencies_in_one_submission(tmp_path: Path) -> None:
    async def scenario() -> None:
        queue, runner = make_queue(tmp_path)
        results = await queue.submit_many([[delay(0.05)], [dummy(depends=[[-1, []]])]])
        ids = [r[1] for r in results]
        await queue.wait_finished(ids[1])
        assert queue.jobs[ids[1]].ops[0].input["depends"] == [[ids[0], []]]
        assert runner.order == ids

    run(scenario())


def test_cancel_queued_and_running(tmp_path: Path) -> None:
    async def scenario() -> None:
        queue, _ = make_queue(tmp_path, max_running=1)
        running = await queue.submit([delay(0.3)])
        queued = await queue.submit([dummy()])
        await asyncio.sleep(0.02)
        assert await queue.cancel(queued) == (True, f"Job {queued} canceled")
        ok, message = await queue.cancel(running)
        assert not ok
        assert "already running" in message
        ok, _ = await queue.cancel(running, kill=True)
        assert ok
        await queue.wait_finished(running)
        assert queue.jobs[queued].status is JobStatus.CANCELED
        assert queue.jobs[running].status is JobStatus.CANCELED

    run(scenario())


def test_recovery_requeues_and_fails_interrupted(tmp_path: Path) -> None:
    async def crash() -> tuple[int, int]:
        queue, _ = make_queue(tmp_path, max_running=1)
        running = await queue.submit([delay(5)])
        queued = await queue.submit([dummy(result="later")])
        await asyncio.sleep(0.05)
        await queue.saver.save(queue.jobs[running], queue.jobs[queued])
        await queue.shutdown()  # nothing more is written: as after kill -9
        return running, queued

    running, queued = run(crash())

    async def restart() -> None:
        queue, _ = make_queue(tmp_path)
        await queue.recover()
        await queue.wait_finished(queued)
        assert queue.jobs[running].status is JobStatus.ERROR
        assert "outcome is unknown" in queue.jobs[running].ops[0].result[1][0]
        assert queue.jobs[queued].status is JobStatus.SUCCESS
        assert queue.jobs[queued].ops[0].result == "later"
        assert await queue.submit([dummy()]) == queued + 1

    run(restart())


def test_drain_and_archive(tmp_path: Path) -> None:
    async def scenario() -> None:
        queue, _ = make_queue(tmp_path)
        job_id = await queue.submit([dummy()])
        await queue.wait_finished(job_id)
        await queue.set_drain(True)
        with pytest.raises(JobQueueDrainError):
            await queue.submit([dummy()])
        assert await queue.submit([dummy()], to_drained=True) == job_id + 1
        await queue.set_drain(False)
        await queue.wait_finished(job_id + 1)
        assert await queue.archive([job_id]) == [job_id]
        assert job_id not in queue.jobs
        archived = await queue.get(job_id)
        assert archived is not None
        assert archived.archived
        assert await queue.auto_archive(-1, 5) == (1, 0)

    run(scenario())


def test_change_priority(tmp_path: Path) -> None:
    async def scenario() -> None:
        queue, runner = make_queue(tmp_path, max_running=1)
        blocker = await queue.submit([delay(0.1)])
        first = await queue.submit([dummy()])
        second = await queue.submit([dummy()])
        ok, _ = await queue.change_priority(second, -10)
        assert ok
        await queue.wait_finished(first)
        assert runner.order == [blocker, second, first]

    run(scenario())


# --- the state machine: every move the queue makes is in the model's tables ---------------


class Moves:
    """Every status change attempted, legal or not (the queue's tasks swallow errors)."""

    def __init__(self) -> None:
        self.ops: set[tuple[OpStatus, OpStatus]] = set()
        self.jobs: set[tuple[JobStatus, JobStatus]] = set()


@pytest.fixture
def moves(monkeypatch: pytest.MonkeyPatch) -> Moves:
    recorded = Moves()
    check_op, check_job = model.check_op_transition, model.check_job_transition

    def record_op(old: OpStatus, new: OpStatus) -> None:
        recorded.ops.add((old, new))
        check_op(old, new)

    def record_job(job_id: int, old: JobStatus, new: JobStatus) -> None:
        if old != new:
            recorded.jobs.add((old, new))
        check_job(job_id, old, new)

    monkeypatch.setattr(model, "check_op_transition", record_op)
    monkeypatch.setattr(model, "check_job_transition", record_job)
    return recorded


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


def fresh_queue(tmp_path: Path, name: str, max_running: int = 20) -> JobQueue:
    (tmp_path / name).mkdir()
    return make_queue(tmp_path / name, max_running)[0]


async def run_succeed_fail_and_depend(queue: JobQueue) -> None:
    """Success over two opcodes, a failure, dependencies waited for and failed."""
    assert isinstance(queue.runner, ScriptedRunner)
    release = queue.runner.holds["held"] = asyncio.Event()
    ok = await queue.submit([dummy(), dummy()])
    slow = await queue.submit([dummy(comment="held")])
    failing = await queue.submit([dummy(comment="held"), dummy(fail=True), dummy()])
    waits_then_runs = await queue.submit([dummy(depends=[[slow, ["success"]]])])
    waits_then_fails = await queue.submit([dummy(depends=[[failing, ["success"]]])])
    dependents = (waits_then_runs, waits_then_fails)
    await until(lambda: all(queue.jobs[i].status is JobStatus.WAITING for i in dependents))
    release.set()
    for job_id in (ok, *dependents):
        await queue.wait_finished(job_id)
    failed_already = await queue.submit([dummy(depends=[[failing, ["success"]]])])
    await queue.wait_finished(failed_already)
    assert queue.jobs[ok].status is JobStatus.SUCCESS
    assert queue.jobs[waits_then_runs].status is JobStatus.SUCCESS
    assert queue.jobs[failing].status is JobStatus.ERROR
    assert queue.jobs[waits_then_fails].status is JobStatus.ERROR
    assert queue.jobs[failed_already].status is JobStatus.ERROR


async def run_cancels(queue: JobQueue) -> None:
    """Cancel while queued for a slot and while waiting for a dependency; kill while running."""
    running = await queue.submit([delay(5)])
    await until(lambda: queue.jobs[running].status is JobStatus.RUNNING)
    queued = await queue.submit([dummy()])
    dependent = await queue.submit([dummy(depends=[[running, []]])])
    await until(lambda: queue.jobs[dependent].status is JobStatus.WAITING)
    assert (await queue.cancel(queued))[0]
    assert (await queue.cancel(dependent))[0]
    assert (await queue.cancel(running, kill=True))[0]
    for job_id in (running, queued, dependent):
        await queue.wait_finished(job_id)
        assert queue.jobs[job_id].status is JobStatus.CANCELED


async def run_restart(tmp_path: Path) -> None:
    """A master restart over jobs left running, waiting and canceling."""
    (tmp_path / "restart").mkdir()
    saver = JobSaver(JobStore(tmp_path / "restart" / "queue.db"))
    saver.serial = 3
    await saver.save(
        on_disk(1, OpStatus.RUNNING, OpStatus.QUEUED),
        on_disk(2, OpStatus.WAITING),
        on_disk(3, OpStatus.SUCCESS, OpStatus.CANCELING),
    )
    queue = JobQueue(saver, ScriptedRunner(), SystemClock())
    await queue.recover()
    for job_id in (2, 3):
        await queue.wait_finished(job_id)
    assert [queue.jobs[i].status for i in (1, 2, 3)] == [
        JobStatus.ERROR, JobStatus.SUCCESS, JobStatus.SUCCESS
    ]


def on_disk(job_id: int, *statuses: OpStatus) -> Job:
    ops = [QueuedOp(input={"OP_ID": "OP_TEST_DUMMY"}, status=status) for status in statuses]
    return Job(id=job_id, ops=ops)


def test_every_move_the_queue_makes_is_in_the_tables(tmp_path: Path, moves: Moves) -> None:
    async def scenario() -> None:
        await run_succeed_fail_and_depend(fresh_queue(tmp_path, "depend"))
        await run_cancels(fresh_queue(tmp_path, "cancel", max_running=1))
        await run_restart(tmp_path)

    run(scenario())
    assert moves.ops - set(model.OP_TRANSITIONS) == set()
    assert moves.jobs - set(model.JOB_TRANSITIONS) == set()
    # and the tables hold nothing the queue never does
    assert set(model.OP_TRANSITIONS) - moves.ops == set()
    assert set(model.JOB_TRANSITIONS) - moves.jobs == set()


def test_a_priority_change_saved_while_the_job_starts(
    tmp_path: Path, moves: Moves, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job's start is neither lost nor undone by a commit that was under way."""

    async def scenario() -> None:
        queue, _ = make_queue(tmp_path, max_running=1)
        await queue.submit([delay(0.1)])
        target = await queue.submit([dummy(result="done")])
        gate = asyncio.Event()
        save = queue.saver.save
        held: list[int] = []

        async def hold_first_save(*jobs: Job, replicated: bool = False) -> None:
            if not held and any(job.id == target for job in jobs):
                held.append(target)
                await gate.wait()
            await save(*jobs, replicated=replicated)

        monkeypatch.setattr(queue.saver, "save", hold_first_save)
        change = asyncio.create_task(queue.change_priority(target, -10))
        await until(lambda: queue.jobs[target].status is not JobStatus.QUEUED)
        await asyncio.sleep(0.05)  # the job goes as far as it can while the change is saved
        gate.set()
        assert (await change)[0]
        await queue.wait_finished(target)
        job = queue.jobs[target]
        assert (job.status, job.ops[0].result, job.ops[0].priority) == (
            JobStatus.SUCCESS, "done", -10
        )

    run(scenario())
    assert moves.ops <= set(model.OP_TRANSITIONS)


# --- decoding ---------------------------------------------------------------------------


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The inputs the queue decodes, one entry per call."""
    calls: list[Any] = []

    def counting(data: dict[str, Any] | bytes) -> OpCode:
        calls.append(data)
        return decode_opcode(data)

    monkeypatch.setattr(queue_module, "decode_opcode", counting)
    return calls


def test_each_opcode_is_decoded_once(tmp_path: Path, decoded: list[Any]) -> None:
    async def scenario() -> None:
        queue, _ = make_queue(tmp_path)
        results = await queue.submit_many(
            [[delay(0.01)], [dummy(depends=[[-1, ["success"]]]), dummy()]]
        )
        first, second = (job_id for _, job_id in results)
        await queue.wait_finished(second)
        assert len(decoded) == 3
        job = queue.jobs[second]
        assert job.status is JobStatus.SUCCESS
        assert job.ops[0].input["depends"] == [[first, ["success"]]]
        opcode = job.ops[0].opcode
        assert opcode is not None
        assert opcode.depends == [(first, ["success"])]

    run(scenario())


def test_after_a_restart_each_pending_opcode_is_decoded_once(
    tmp_path: Path, decoded: list[Any]
) -> None:
    async def crash() -> int:
        queue, _ = make_queue(tmp_path, max_running=1)
        running = await queue.submit([delay(5)])
        queued = await queue.submit([dummy(), dummy(result="later")])
        await until(lambda: queue.jobs[running].status is JobStatus.RUNNING)
        await queue.shutdown()
        return queued

    queued = run(crash())
    decoded.clear()

    async def restart() -> None:
        queue, _ = make_queue(tmp_path)
        await queue.recover()
        await queue.wait_finished(queued)
        assert queue.jobs[queued].ops[1].result == "later"
        assert len(decoded) == 2  # the interrupted job is failed, not decoded

    run(restart())
