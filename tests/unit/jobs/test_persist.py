"""Group commit: batching, durability before acknowledgement, replication policy."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterable
from pathlib import Path

from corral.job_wire import OpStatus
from corral.jobs.model import Job, QueuedOp
from corral.jobs.persist import REPLICATION_DELAY, JobSaver
from corral.jobs.store import JobStore


class RecordingReplicator:
    def __init__(self) -> None:
        self.batches: list[list[tuple[str, str]]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def update(self, files: list[tuple[str, str]]) -> None:
        await self.gate.wait()
        self.batches.append(files)

    async def rename(self, renames: list[tuple[str, str]]) -> None:
        pass

    async def set_drain_flag(self, flag: bool) -> None:
        pass


def _job(job_id: int, status: OpStatus = OpStatus.QUEUED) -> Job:
    return Job(id=job_id, ops=[QueuedOp(input={"OP_ID": "OP_TEST_DUMMY"}, status=status)])


def test_burst_is_written_in_few_transactions(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = JobStore(tmp_path / "q.db")
        calls = 0
        original = store.save

        def counting(docs: Iterable[tuple[int, bytes]], serial: int) -> None:
            nonlocal calls
            calls += 1
            original(docs, serial)

        store.save = counting  # type: ignore[method-assign,assignment]
        saver = JobSaver(store)
        saver.serial = 200
        await asyncio.gather(*(saver.save(_job(i)) for i in range(1, 201)))
        assert store.last_id() == 200
        assert len(store.load_active()) == 200
        assert calls <= 3

    asyncio.run(scenario())


def test_replicated_save_waits_for_candidates(tmp_path: Path) -> None:
    async def scenario() -> None:
        replicator = RecordingReplicator()
        saver = JobSaver(JobStore(tmp_path / "q.db"), replicator)
        replicator.gate.clear()
        submitted = asyncio.create_task(saver.save(_job(1), replicated=True))
        await asyncio.sleep(0.05)
        assert not submitted.done(), "a submission is acknowledged only once replicated"
        replicator.gate.set()
        await submitted
        assert [name for name, _ in replicator.batches[-1]] == ["job-1"]
        assert json.loads(replicator.batches[-1][0][1])["id"] == 1

    asyncio.run(scenario())


def test_status_updates_reach_candidates_later(tmp_path: Path) -> None:
    async def scenario() -> None:
        replicator = RecordingReplicator()
        saver = JobSaver(JobStore(tmp_path / "q.db"), replicator)
        await saver.save(_job(1, OpStatus.RUNNING))
        assert replicator.batches == []  # local write done, replication deferred
        await asyncio.sleep(REPLICATION_DELAY * 3)
        assert [name for name, _ in replicator.batches[0]] == ["job-1"]

    asyncio.run(scenario())


def test_last_marked_state_wins(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = JobStore(tmp_path / "q.db")
        saver = JobSaver(store)
        job = _job(7)
        first = saver.mark(job)
        job.move_op(0, OpStatus.WAITING)
        await asyncio.gather(first, saver.save(job))
        loaded = store.load(7)
        assert loaded is not None
        assert loaded[0]["ops"][0]["status"] == "waiting"

    asyncio.run(scenario())


def test_submission_reaches_candidates_alongside_local_write(tmp_path: Path) -> None:
    """The candidates get a submission while its local transaction runs, and only once:
    the write after the transaction does not send the same document again."""
    async def scenario() -> None:
        replicator = RecordingReplicator()
        store = JobStore(tmp_path / "q.db")
        local_started = asyncio.Event()
        release_local = threading.Event()
        original = store.save
        loop = asyncio.get_running_loop()

        def held(docs: Iterable[tuple[int, bytes]], serial: int) -> None:
            loop.call_soon_threadsafe(local_started.set)
            release_local.wait(10)
            original(docs, serial)

        store.save = held  # type: ignore[method-assign,assignment]
        saver = JobSaver(store, replicator)
        submitted = asyncio.create_task(saver.save(_job(1), replicated=True))
        await local_started.wait()
        while not replicator.batches:
            await asyncio.sleep(0.001)
        assert not submitted.done(), "acknowledged only once on the local disk too"
        assert [name for name, _ in replicator.batches[0]] == ["job-1"]
        release_local.set()
        await submitted
        assert store.load(1) is not None
        await asyncio.sleep(REPLICATION_DELAY * 3)
        assert len(replicator.batches) == 1

    asyncio.run(scenario())


def test_lazy_mark_shares_the_next_durable_write(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = JobStore(tmp_path / "q.db")
        calls = 0
        original = store.save

        def counting(docs: Iterable[tuple[int, bytes]], serial: int) -> None:
            nonlocal calls
            calls += 1
            original(docs, serial)

        store.save = counting  # type: ignore[method-assign,assignment]
        saver = JobSaver(store)
        job = _job(3)
        job.move_op(0, OpStatus.WAITING)
        lazy = saver.mark(job, lazy=True)
        job.move_op(0, OpStatus.RUNNING)
        await asyncio.gather(lazy, saver.save(job))
        assert calls == 1
        loaded = store.load(3)
        assert loaded is not None
        assert loaded[0]["ops"][0]["status"] == "running"

    asyncio.run(scenario())
