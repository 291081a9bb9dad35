"""Big queries through the LUXI methods: many job ids, limits, and a loop that keeps serving."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from corral.clock import SystemClock
from corral.cmdlib import query_runner
from corral.errors import ErrorCode, OpPrereqError
from corral.jobs.model import Job
from corral.jobs.persist import JobSaver
from corral.jobs.queue import JobQueue
from corral.jobs.store import JobStore
from corral.master.luxi_methods import LuxiMethods
from corral.opcodes.base import OpCode
from corral.query import engine as query_engine
from corral.query import filter as qfilter_module
from corral.query import query_prereq
from corral.query.filter import make_simple_filter
from corral.rapi.httperror import from_exception
from tests.support.config import standard_cluster
from tests.support.lu_harness import MakeHarness

JOBS = 60
ARCHIVED = range(1, 11)
NOOP = {"OP_ID": "OP_TEST_DELAY", "duration": 0.0}


class NoopRunner:
    """Every opcode succeeds at once."""

    async def run_op(self, job: Job, opcode: OpCode, feedback: Callable[[str], None],
                     on_locked: Callable[[], Awaitable[None]]) -> Any:
        await on_locked()
        return None


async def _methods(make_harness: MakeHarness, tmp_path: Path) -> LuxiMethods:
    """A master with JOBS finished no-op jobs, those in ARCHIVED archived."""
    h = make_harness(standard_cluster())
    queue = JobQueue(JobSaver(JobStore(tmp_path / "queue.db")), NoopRunner(), SystemClock(),
                     max_running=lambda: 20)
    h.ctx.queue = queue
    submitted = await queue.submit_many([[dict(NOOP)] for _ in range(JOBS)])
    for _, job_id in submitted:
        await queue.wait_finished(int(job_id))
    assert await queue.archive(list(ARCHIVED)) == list(ARCHIVED)
    return LuxiMethods(h.ctx, queue)


def _run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 120))


def test_query_jobs_with_two_hundred_thousand_ids(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    wanted = list(range(200_000, 0, -1))

    async def scenario() -> list[Any]:
        methods = await _methods(make_harness, tmp_path)
        return list(await methods.dispatch("QueryJobs", [wanted, ["id", "status"]]))

    rows = _run(scenario())
    assert len(rows) == len(wanted)
    by_id = dict(zip(wanted, rows, strict=True))
    assert all(by_id[i] == [i, "success"] for i in range(1, JOBS + 1))  # archived ones too
    assert all(by_id[i] is None for i in range(JOBS + 1, 200_001))


def test_too_many_ids_is_a_clear_error(
    make_harness: MakeHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(query_runner, "MAX_QUERY_NAMES", 10)

    async def scenario() -> None:
        methods = await _methods(make_harness, tmp_path)
        assert len(await methods.dispatch("QueryJobs", [list(range(1, 11)), ["id"]])) == 10
        await methods.dispatch("QueryJobs", [list(range(1, 12)), ["id"]])

    with pytest.raises(OpPrereqError, match="Too many names in one query: 11") as caught:
        _run(scenario())
    assert caught.value.code is ErrorCode.INVAL
    assert from_exception(caught.value).code == 400


@pytest.mark.parametrize("method", ["Query", "QueryJobs"])
def test_too_large_filter_is_wrong_input(
    make_harness: MakeHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    monkeypatch.setattr(qfilter_module, "MAX_FILTER_NODES", 100)
    ids = list(range(1, 101))
    args = (["job", ["id"], make_simple_filter("id", ids)] if method == "Query"
            else [ids, ["id"]])

    async def scenario() -> None:
        methods = await _methods(make_harness, tmp_path)
        await methods.dispatch(method, args)

    with pytest.raises(OpPrereqError, match="Filter too large") as caught:
        _run(scenario())
    assert caught.value.code is ErrorCode.INVAL
    assert from_exception(caught.value).code == 400


def test_wide_filter_query_finds_its_jobs(make_harness: MakeHarness, tmp_path: Path) -> None:
    wide = make_simple_filter("id", list(range(20_000, 0, -2)))

    async def scenario() -> dict[str, Any]:
        methods = await _methods(make_harness, tmp_path)
        return dict(await methods.dispatch("Query", ["job", ["id", "status"], wide]))

    data = _run(scenario())["data"]
    assert [row[0][1] for row in data] == list(range(2, 20_001, 2))  # a row per id asked
    found = [row[0][1] for row in data if row[1][0] == 0]
    assert found == list(range(12, JOBS + 1, 2))  # 2..10 are archived


def test_the_loop_answers_while_a_big_query_runs(
    make_harness: MakeHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The big query is held inside its evaluation until the ping has been answered:
    evaluated on the loop, it would hold the loop and the ping could not be answered."""
    entered, release = threading.Event(), threading.Event()
    real = query_prereq

    def held(*args: Any) -> dict[str, Any]:
        entered.set()
        release.wait(60)
        return real(*args)

    monkeypatch.setattr(query_runner, "query_prereq", held)
    wide = make_simple_filter("id", list(range(1, 20_001)))

    async def scenario() -> tuple[bool, list[Any], dict[str, Any]]:
        methods = await _methods(make_harness, tmp_path)
        big = asyncio.create_task(methods.dispatch("Query", ["job", ["id"], wide]))
        while not entered.is_set():
            await asyncio.sleep(0.01)
        ping = await methods.dispatch("QueryConfigValues", [["cluster_name"]])
        pending_after_ping = not big.done()
        release.set()
        return pending_after_ping, ping, await big

    pending_after_ping, ping, result = _run(scenario())
    assert pending_after_ping
    assert ping == ["cluster.example.com"]
    assert len(result["data"]) == 20_000


def test_small_queries_stay_on_the_loop(make_harness: MakeHarness, tmp_path: Path) -> None:
    async def scenario() -> set[str]:
        methods = await _methods(make_harness, tmp_path)
        seen: set[str] = set()
        real = query_prereq

        def spy(*args: Any) -> dict[str, Any]:
            seen.add(threading.current_thread().name)
            return real(*args)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(query_runner, "query_prereq", spy)
            await methods.dispatch("Query", ["job", ["id"], ["=", "id", 20]])
        return seen

    assert _run(scenario()) == {threading.main_thread().name}


@pytest.mark.parametrize("inline_work", [0, 1_000_000])
def test_streamed_rows_are_the_legacy_rows_in_blocks(
    make_harness: MakeHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    inline_work: int,
) -> None:
    """Threaded (work above INLINE_WORK) or inline, the blocks join into the legacy answer."""
    monkeypatch.setattr(query_runner, "INLINE_WORK", inline_work)
    monkeypatch.setattr(query_runner, "STREAM_ROWS", 7)
    monkeypatch.setattr(query_engine, "BLOCK_ITEMS", 5)
    fields = ["id", "status"]

    async def scenario() -> tuple[list[Any], list[list[Any]]]:
        methods = await _methods(make_harness, tmp_path)
        whole = await methods.dispatch("QueryJobs", [None, fields])
        blocks = [block async for block in methods.stream_rows("job", fields)]
        return whole, blocks

    whole, blocks = _run(scenario())
    assert [row for block in blocks for row in block] == whole
    assert len(blocks) > 1
    assert all(len(block) >= 7 for block in blocks[:-1])


def test_a_streamed_query_error_is_raised_by_the_first_block(
    make_harness: MakeHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(query_runner, "INLINE_WORK", 0)

    async def scenario() -> None:
        methods = await _methods(make_harness, tmp_path)
        await anext(methods.stream_rows("job", ["id", "no-such-field"]))

    with pytest.raises(OpPrereqError, match="Unknown output fields selected: no-such-field"):
        _run(scenario())


def test_closing_a_threaded_stream_early_stops_its_thread() -> None:
    produced: list[int] = []
    release = threading.Event()

    def items() -> Iterator[int]:
        for i in range(1_000):
            produced.append(i)
            yield i
            release.wait(5)

    async def scenario() -> int:
        stream = query_runner.from_thread(items)
        first = await anext(stream)
        release.set()
        await stream.aclose()  # returns once the thread has stopped
        return first

    assert _run(scenario()) == 0
    assert len(produced) < 1_000
