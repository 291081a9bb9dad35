"""The queue keeps no per-job state once a job is finished, followed and archived (what
masterd would otherwise accumulate over many jobs; see bench/bench_masterd_jobs.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from corral.clock import SystemClock
from corral.jobs.model import Job
from corral.jobs.persist import JobSaver
from corral.jobs.queue import JobQueue
from corral.jobs.store import JobStore
from corral.opcodes.base import OpCode

JOBS = 50


class NoOpRunner:
    async def run_op(self, job: Job, opcode: OpCode, feedback: Callable[[str], None],
                     on_locked: Callable[[], Awaitable[None]]) -> None:
        await on_locked()


def _per_job_state(queue: JobQueue) -> dict[str, int]:
    return {"jobs": len(queue.jobs), "changed": len(queue._changed),
            "tasks": len(queue._tasks), "commit_turns": len(queue._commit_turns)}


def test_followed_and_archived_jobs_leave_nothing_behind(tmp_path: Path) -> None:
    async def scenario() -> dict[str, int]:
        queue = JobQueue(JobSaver(JobStore(tmp_path / "queue.db")), NoOpRunner(),
                         SystemClock())
        op = {"OP_ID": "OP_TEST_DELAY", "duration": 0.001}
        ids = [job_id for _, job_id in await queue.submit_many([[dict(op)]] * JOBS)]
        for job_id in ids:
            await queue.wait_finished(job_id)
            # a client following a finished job (WaitForJobChange's last round) asks for
            # its change event, as it does for archived jobs
            queue.change_event(job_id)
        await queue.auto_archive(-1, 30)
        for job_id in ids:
            queue.change_event(job_id)
        await asyncio.sleep(0)
        return _per_job_state(queue)

    state = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert state == {"jobs": 0, "changed": 0, "tasks": 0, "commit_turns": 0}
