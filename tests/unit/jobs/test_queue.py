"""The job queue with a scripted opcode runner: statuses, order, cancel, recovery."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from corral.clock import SystemClock
from corral.errors import JobQueueDrainError, OpExecError, ParameterError
from corral.jobs.model import Job, JobStatus, OpStatus
from corral.jobs.persist import JobSaver
from corral.jobs.queue import JobQueue
from corral.jobs.store import JobStore
from corral.opcodes.base import OpCode
from corral.opcodes.test import OpTestDelay, OpTestDummy


class ScriptedRunner:
    """Runs OP_TEST_DUMMY (result/messages/fail) and OP_TEST_DELAY (sleeps)."""

    def __init__(self) -> None:
        self.order: list[int] = []

    async def run_op(
        self,
        job: Job,
        opcode: OpCode,
        feedback: Callable[[str], None],
        on_locked: Callable[[], Awaitable[None]],
    ) -> Any:
        await on_locked()
        self.order.append(job.id)
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
