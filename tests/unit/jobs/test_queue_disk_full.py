"""A full or failing disk under the job queue: the real cause reaches the submitter, queries
show what is on disk, and everything catches up once space returns, without a restart.

Twice: with a fault injected into the store's write transactions (runs everywhere), and with
a real full tmpfs (root only; skipped otherwise)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from corral.clock import SystemClock
from corral.errors import JobQueueError
from corral.job_wire import JobStatus
from corral.jobs.model import Job, QueuedOp
from corral.jobs.persist import Backoff, JobSaver
from corral.jobs.queue import JobQueue
from corral.jobs.store import JobStore
from corral.luxi.client import Client, LuxiRemoteError
from corral.luxi.server import LuxiServer
from corral.master.luxi_methods import LuxiMethods
from corral.opcodes.base import OpCode
from corral.rapi.httperror import from_exception
from corral.sqlite import WriteFault
from tests.support.config import standard_cluster
from tests.support.disk import (
    DISK_FULL,
    WriteFaults,
    disk_full,
    fill,
    io_error,
    small_tmpfs,
    until,
)
from tests.support.lu_harness import LuHarness

FAST = Backoff(first=0.001, limit=0.02)
CAUSE = f"Cannot write the job queue on node1: {DISK_FULL}"
DUMMY = {"OP_ID": "OP_TEST_DUMMY", "result": 42}


class HeldRunner:
    """Every opcode takes its locks, then waits for ``release`` and returns its ``result``."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def run_op(self, job: Job, opcode: OpCode, feedback: Callable[[str], None],
                     on_locked: Callable[[], Awaitable[None]]) -> Any:
        await on_locked()
        await self.release.wait()
        return getattr(opcode, "result", None)


class Master:
    """A queue over a store at ``path``, served by the LUXI methods of a test master."""

    def __init__(self, root: Path, path: Path, fault: WriteFault | None = None) -> None:
        self.harness = LuHarness(root / "master", standard_cluster().data)
        self.runner = HeldRunner()
        self.store = JobStore(path, node="node1", fault=fault)
        self.queue = JobQueue(JobSaver(self.store, retry=FAST), self.runner, SystemClock())
        self.harness.ctx.queue = self.queue
        self.methods = LuxiMethods(self.harness.ctx, self.queue)

    async def status(self, job_id: int) -> str:
        """The job's status as QueryJobs answers it."""
        rows = await self.methods.dispatch("QueryJobs", [[job_id], ["status"]])
        return str(rows[0][0])

    def status_on_disk(self, job_id: int) -> str:
        reopened = JobStore(self.store._file.path)
        try:
            found = reopened.load(job_id)
        finally:
            reopened.close()
        assert found is not None
        return str(Job.from_dict(found[0]).status)

    async def running(self, job_id: int) -> None:
        """Wait until the job's running state is committed."""
        while self.queue.jobs[job_id].status is not JobStatus.RUNNING:
            await self.queue.change_event(job_id).wait()

    async def close(self) -> None:
        self.runner.release.set()
        await self.queue.shutdown()
        self.store.close()
        self.harness.close()


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 60))


def cause_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR and CAUSE in r.getMessage()]


# --- an injected fault ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("error", "auto_rollback", "cause"),
    [
        pytest.param(disk_full, True, DISK_FULL, id="full-rolled-back-by-sqlite"),
        pytest.param(disk_full, False, DISK_FULL, id="full-transaction-open"),
        pytest.param(io_error, True, "Input/output error", id="eio"),
    ],
)
def test_submission_gets_the_cause(
    tmp_path: Path, error: Callable[[], BaseException], auto_rollback: bool, cause: str
) -> None:
    faults = WriteFaults()

    async def scenario() -> None:
        master = Master(tmp_path, tmp_path / "queue.db", faults)
        faults.fail_from(1, error, auto_rollback)
        with pytest.raises(JobQueueError, match=f"^Cannot write the job queue on node1: .*{cause}"):
            await master.queue.submit([DUMMY])
        with pytest.raises(JobQueueError, match=cause):
            await master.queue.submit_many([[DUMMY], [DUMMY]])
        assert master.queue.jobs == {}
        faults.clear()
        job_id = await master.queue.submit([DUMMY])
        assert [doc["id"] for doc in master.store.load_active()] == [job_id]
        await master.close()

    run(scenario)


def test_luxi_and_rapi_carry_the_cause(tmp_path: Path) -> None:
    faults = WriteFaults()

    async def scenario() -> None:
        master = Master(tmp_path, tmp_path / "queue.db", faults)
        server = LuxiServer(tmp_path / "luxi.sock", master.methods.dispatch)
        await server.start()
        faults.fail_from(1)
        try:
            answer = await asyncio.to_thread(_submit_over_luxi, tmp_path / "luxi.sock")
        finally:
            await server.close()
        assert (answer.error_class, answer.error_args) == ("JobQueueError", [CAUSE])
        with pytest.raises(JobQueueError) as raised:
            await master.methods.dispatch("SubmitJob", [[DUMMY]])
        http = from_exception(raised.value)
        assert (http.code, http.message) == (503, CAUSE)
        await master.close()

    run(scenario)


def _submit_over_luxi(path: Path) -> LuxiRemoteError:
    client = Client(str(path), timeout=30)
    try:
        client.call("SubmitJob", [DUMMY])
    except LuxiRemoteError as err:
        return err
    finally:
        client.close()
    raise AssertionError("SubmitJob succeeded on a full disk")


def test_final_state_is_shown_once_on_disk(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    faults = WriteFaults()

    async def scenario() -> None:
        master = Master(tmp_path, tmp_path / "queue.db", faults)
        job_id = await master.queue.submit([DUMMY])
        await master.running(job_id)
        faults.fail_from(1)
        master.runner.release.set()
        await until(lambda: faults.failures >= 4)
        assert await master.status(job_id) == "running"
        assert master.status_on_disk(job_id) == "running"
        assert master.queue.saver.failing
        waiter = asyncio.create_task(master.queue.wait_finished(job_id))
        faults.clear()
        await waiter
        assert await master.status(job_id) == "success"
        assert master.status_on_disk(job_id) == "success"
        assert master.queue.jobs[job_id].ops[0].result == 42
        assert not master.queue.saver.failing
        await master.close()

    run(scenario)
    assert len(cause_logs(caplog)) == 1, "one log line per failure episode"
    assert any("succeed again" in r.getMessage() for r in caplog.records)


def test_updates_are_retried_but_submissions_fail_fast(tmp_path: Path) -> None:
    faults = WriteFaults()

    async def scenario() -> None:
        store = JobStore(tmp_path / "queue.db", node="node1", fault=faults)
        saver = JobSaver(store, retry=FAST)
        known = Job(id=1, ops=[QueuedOp(input=dict(DUMMY))])
        await saver.save(known, replicated=True)
        faults.fail_from(1)
        known.ops[0].priority = -5
        update = asyncio.create_task(saver.save(known))
        with pytest.raises(JobQueueError, match=CAUSE):
            await saver.save(Job(id=2, ops=[QueuedOp(input=dict(DUMMY))]), replicated=True)
        await until(lambda: faults.failures >= 2)
        assert not update.done()
        faults.clear()
        await update
        assert [(d["id"], d["ops"][0]["priority"]) for d in store.load_active()] == [(1, -5)]
        store.close()

    run(scenario)


# --- a real full disk ---------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "disk") as mount:
        yield mount


def test_full_tmpfs(tmp_path: Path, small_disk: Path) -> None:
    async def scenario() -> None:
        master = Master(tmp_path, small_disk / "queue.db")
        job_id = await master.queue.submit([DUMMY])
        await master.running(job_id)
        filler = fill(small_disk)
        master.runner.release.set()
        await until(lambda: master.queue.saver.failing)
        with pytest.raises(JobQueueError, match=CAUSE):
            await master.queue.submit([DUMMY])
        assert await master.status(job_id) == "running"
        assert master.status_on_disk(job_id) == "running"
        filler.unlink()
        await master.queue.wait_finished(job_id)
        assert await master.status(job_id) == "success"
        assert master.status_on_disk(job_id) == "success"
        assert await master.queue.submit([DUMMY]) == job_id + 2
        await master.close()

    run(scenario)


class _Candidates:
    """A queue replicator that keeps the last content of each job file it was sent."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}
        self.updated = asyncio.Event()

    async def update(self, files: list[tuple[str, str]]) -> None:
        self.files.update(files)
        self.updated.set()

    async def rename(self, renames: list[tuple[str, str]]) -> None:
        pass

    async def set_drain_flag(self, flag: bool) -> None:
        pass


def test_refused_submission_is_in_error_on_the_candidates(tmp_path: Path) -> None:
    """The candidates get a submission alongside its local write; if that write fails,
    their copy is replaced by the job in error, so that it can never run there."""
    faults = WriteFaults()

    async def scenario() -> None:
        candidates = _Candidates()
        store = JobStore(tmp_path / "queue.db", node="node1", fault=faults)
        queue = JobQueue(JobSaver(store, candidates, retry=FAST), HeldRunner(), SystemClock())
        faults.fail_from(1)
        with pytest.raises(JobQueueError, match=DISK_FULL):
            await queue.submit([DUMMY])
        while Job.from_dict(json.loads(candidates.files["job-1"])).status != JobStatus.ERROR:
            candidates.updated.clear()
            await candidates.updated.wait()
        assert queue.jobs == {}
        await queue.shutdown()
        store.close()

    run(scenario)
