"""LockManager: modes, ordering, fairness, priorities, release, downgrade, remove, info."""

import asyncio
import random

import pytest

from corral.errors import LockError
from corral.locking import (
    BGL,
    Level,
    LevelRequest,
    LockInfo,
    LockManager,
    LockPlan,
    LockTimeout,
    exclusive,
    shared,
)
from tests.unit.locking.support import INSTANCE, NODE, by_name, nodes, settle


def test_uncontended_acquire_reports_what_was_taken() -> None:
    async def main() -> None:
        manager = LockManager()
        manager.add(NODE, ["n1", "n2", "n3"])
        got = await manager.acquire("job/1", LockPlan.of({NODE: exclusive(["n2", "n1"])}))
        assert got.owner == "job/1"
        assert got.levels == (Level.CLUSTER, NODE)
        assert got.names(Level.CLUSTER) == {BGL}
        assert [grant.mode for _, grant in got.grants] == ["shared", "exclusive"]
        assert got.names(NODE) == {"n1", "n2"}
        assert manager.owned("job/1", NODE) == {"n1", "n2"}
        assert manager.is_owned("job/1", Level.CLUSTER, BGL, shared=True)
        assert manager.is_owned("job/1", NODE, ["n1", "n2"], shared=False)
        assert not manager.is_owned("job/1", NODE, "n3")
        assert not manager.is_owned("job/1", NODE, "n1", shared=True)
        manager.release("job/1")
        assert manager.owned("job/1", NODE) == frozenset()
        assert not manager.is_owned("job/1", Level.CLUSTER)

    asyncio.run(main())


def test_shared_holders_coexist_and_exclude_exclusive() -> None:
    async def main() -> None:
        manager = LockManager()
        await manager.acquire("a", nodes(shared("n1")), timeout=0)
        await manager.acquire("b", nodes(shared("n1")), timeout=0)
        with pytest.raises(LockTimeout):
            await manager.acquire("c", nodes(exclusive("n1")), timeout=0.01)
        manager.release("a")
        manager.release("b")
        await manager.acquire("c", nodes(exclusive("n1")), timeout=0)
        with pytest.raises(LockTimeout):
            await manager.acquire("d", nodes(shared("n1")), timeout=0.01)
        with pytest.raises(LockTimeout):
            await manager.acquire("d", nodes(exclusive("n1")), timeout=0)
        await manager.acquire("d", nodes(exclusive("n2")), timeout=0)

    asyncio.run(main())


def test_waiter_gets_the_lock_when_the_holder_releases() -> None:
    async def main() -> None:
        manager = LockManager()
        await manager.acquire("a", nodes(exclusive("n1")))
        task = asyncio.create_task(manager.acquire("b", nodes(exclusive("n1"))))
        await settle()
        assert not task.done()
        manager.release("a")
        got = await asyncio.wait_for(task, 1)
        assert got.names(NODE) == {"n1"}
        assert manager.owned("b", NODE) == {"n1"}

    asyncio.run(main())


def test_bgl_exclusive_waits_for_every_job_and_blocks_new_ones() -> None:
    async def main() -> None:
        manager = LockManager()
        await manager.acquire("job/1", LockPlan.of())
        admin = asyncio.create_task(manager.acquire("job/2", LockPlan.of(exclusive_bgl=True)))
        await settle()
        assert not admin.done()
        with pytest.raises(LockTimeout):
            await manager.acquire("job/3", LockPlan.of(), timeout=0.01)
        manager.release("job/1")
        await asyncio.wait_for(admin, 1)
        assert manager.is_owned("job/2", Level.CLUSTER, BGL, shared=False)

    asyncio.run(main())


def test_overlapping_sets_in_any_order_never_deadlock() -> None:
    async def worker(manager: LockManager, owner: str, plan: LockPlan, rounds: int) -> None:
        for _ in range(rounds):
            await manager.acquire(owner, plan)
            await asyncio.sleep(0)
            manager.release(owner)

    async def main() -> None:
        manager = LockManager()
        names = [f"n{i}" for i in range(6)]
        manager.add(NODE, names)
        rng = random.Random(7)
        plans = [
            LockPlan.of({NODE: exclusive(["n1", "n2", "n3"])}),
            LockPlan.of({NODE: exclusive(["n3", "n2", "n1"])}),
            LockPlan.of({INSTANCE: exclusive("i1"), NODE: exclusive(["n3", "n0"])}),
            LockPlan.of({INSTANCE: shared("i1"), NODE: exclusive(["n0", "n3"])}),
        ]
        plans.extend(LockPlan.of({NODE: exclusive(rng.sample(names, 3))}) for _ in range(8))
        workers = [worker(manager, f"job/{i}", plan, 25) for i, plan in enumerate(plans)]
        await asyncio.wait_for(asyncio.gather(*workers), 2)
        assert all(line.owners == () for line in manager.info())

    asyncio.run(main())


def test_an_owner_cannot_go_back_to_a_lower_or_held_level() -> None:
    async def main() -> None:
        manager = LockManager()
        await manager.acquire("job/1", LockPlan.bare({NODE: exclusive("n1")}))
        with pytest.raises(LockError, match="holds locks at"):
            await manager.acquire("job/1", LockPlan.bare({INSTANCE: exclusive("i1")}))
        with pytest.raises(LockError, match="holds locks at"):
            await manager.acquire("job/1", LockPlan.bare({NODE: exclusive("n2")}))
        await manager.acquire("job/1", LockPlan.bare({Level.NETWORK: shared("net")}))
        assert manager.owned("job/1", Level.NETWORK) == {"net"}

    asyncio.run(main())


def test_queued_exclusive_is_not_overtaken_by_later_shared() -> None:
    async def main() -> None:
        manager = LockManager()
        await manager.acquire("reader/0", nodes(shared("n1")))
        order = []
        done = asyncio.Event()

        async def job(owner: str, request: LevelRequest) -> None:
            await manager.acquire(owner, nodes(request))
            order.append(owner)
            if owner == "writer":
                manager.release(owner)
            else:
                await done.wait()

        writer = asyncio.create_task(job("writer", exclusive("n1")))
        await settle()
        readers = [asyncio.create_task(job(f"reader/{i}", shared("n1"))) for i in range(1, 4)]
        await settle()
        assert order == []
        manager.release("reader/0")
        await settle()
        assert order == ["writer", "reader/1", "reader/2", "reader/3"]
        assert by_name(manager)["node/n1"].owners == ("reader/1", "reader/2", "reader/3")
        done.set()
        await asyncio.wait_for(asyncio.gather(writer, *readers), 1)

    asyncio.run(main())


def test_exclusive_waiter_is_not_starved_by_a_stream_of_readers() -> None:
    async def reader(manager: LockManager, owner: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await manager.acquire(owner, nodes(shared("n1")))
            await asyncio.sleep(0.002)
            manager.release(owner)

    async def main() -> None:
        manager = LockManager()
        stop = asyncio.Event()
        readers = []
        for i in range(3):
            readers.append(asyncio.create_task(reader(manager, f"reader/{i}", stop)))
            await asyncio.sleep(0.001)
        got = await manager.acquire("writer", nodes(exclusive("n1")), timeout=0.5)
        assert got.names(NODE) == {"n1"}
        assert by_name(manager)["node/n1"].owners == ("writer",)
        stop.set()
        manager.release("writer")
        await asyncio.wait_for(asyncio.gather(*readers), 1)

    asyncio.run(main())


def test_waiters_are_served_by_priority_then_arrival() -> None:
    async def main() -> None:
        manager = LockManager()
        await manager.acquire("holder", nodes(exclusive("n1")))
        order = []

        async def job(owner: str, priority: int) -> None:
            await manager.acquire(owner, nodes(exclusive("n1")), priority=priority)
            order.append(owner)
            manager.release(owner)

        tasks = []
        arrivals = [("low1", 10), ("norm1", 0), ("high", -10), ("norm2", 0), ("low2", 10)]
        for owner, priority in arrivals:
            tasks.append(asyncio.create_task(job(owner, priority)))
            await settle()
        manager.release("holder")
        await asyncio.wait_for(asyncio.gather(*tasks), 1)
        assert order == ["high", "norm1", "norm2", "low1", "low2"]

    asyncio.run(main())


def test_more_urgent_shared_request_passes_a_less_urgent_queued_writer() -> None:
    async def main() -> None:
        manager = LockManager()
        await manager.acquire("reader", nodes(shared("n1")))
        writer = asyncio.create_task(manager.acquire("writer", nodes(exclusive("n1")), priority=10))
        await settle()
        await manager.acquire("urgent", nodes(shared("n1")), priority=-10, timeout=0)
        with pytest.raises(LockTimeout):
            await manager.acquire("same", nodes(shared("n1")), priority=10, timeout=0)
        manager.release("reader")
        manager.release("urgent")
        await asyncio.wait_for(writer, 1)

    asyncio.run(main())


def test_partial_release() -> None:
    async def main() -> None:
        manager = LockManager()
        await manager.acquire("a", nodes(exclusive(["n1", "n2"])))
        manager.release("a", NODE, "n1")
        assert manager.owned("a", NODE) == {"n2"}
        await manager.acquire("b", nodes(exclusive("n1")), timeout=0)
        with pytest.raises(LockError, match="does not hold"):
            manager.release("a", NODE, ["n1"])
        manager.release("a", NODE, ["n2"])
        assert manager.owned("a", NODE) == frozenset()
        await manager.acquire("a", nodes(exclusive("n2")), timeout=0)
        manager.release("a", INSTANCE)  # nothing held there: no-op
        assert manager.owned("a", NODE) == {"n2"}

    asyncio.run(main())


def test_downgrade_lets_shared_waiters_in() -> None:
    async def main() -> None:
        manager = LockManager()
        await manager.acquire("a", nodes(exclusive(["n1", "n2"])))
        waiter = asyncio.create_task(manager.acquire("b", nodes(shared("n1"))))
        await settle()
        assert not waiter.done()
        manager.downgrade("a", NODE, ["n1"])
        await asyncio.wait_for(waiter, 1)
        assert manager.is_owned("a", NODE, "n1", shared=True)
        assert manager.is_owned("a", NODE, "n2", shared=False)
        assert by_name(manager)["node/n1"] == LockInfo("node/n1", "shared", ("a", "b"), ())
        with pytest.raises(LockTimeout):
            await manager.acquire("c", nodes(shared("n2")), timeout=0.01)
        manager.downgrade("a", NODE)
        await manager.acquire("c", nodes(shared("n2")), timeout=0)
        with pytest.raises(LockError, match="does not hold"):
            manager.downgrade("a", NODE, ["n3"])

    asyncio.run(main())


def test_info_lists_modes_owners_and_pending_in_order() -> None:
    async def main() -> None:
        manager = LockManager()
        manager.add(INSTANCE, ["inst1"])
        manager.add(NODE, ["n1", "n2"])
        await manager.acquire("job/1", LockPlan.of({NODE: exclusive("n1")}))
        tasks = [
            asyncio.create_task(manager.acquire("job/2", LockPlan.of({NODE: shared("n1")}))),
            asyncio.create_task(manager.acquire("job/3", LockPlan.of({NODE: shared("n1")}))),
            asyncio.create_task(manager.acquire("job/4", LockPlan.of({NODE: exclusive("n1")}))),
            asyncio.create_task(manager.acquire("job/5", LockPlan.of({NODE: shared("n1")}))),
        ]
        await settle()
        assert manager.info() == [
            LockInfo("cluster/BGL", "shared", ("job/1", "job/2", "job/3", "job/4", "job/5"), ()),
            LockInfo("instance/inst1", None, (), ()),
            LockInfo(
                "node/n1",
                "exclusive",
                ("job/1",),
                (
                    ("shared", ("job/2", "job/3")),
                    ("exclusive", ("job/4",)),
                    ("shared", ("job/5",)),
                ),
            ),
            LockInfo("node/n2", None, (), ()),
        ]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert by_name(manager)["node/n1"].pending == ()
        assert by_name(manager)["cluster/BGL"].owners == ("job/1",)

    asyncio.run(main())


def test_remove_needs_a_free_lock_or_its_exclusive_owner() -> None:
    async def main() -> None:
        manager = LockManager()
        manager.add(INSTANCE, ["i1", "i2", "i3"])
        assert manager.remove(INSTANCE, ["i1", "unknown"]) == {"i1"}
        assert "instance/i1" not in by_name(manager)
        await manager.acquire("a", LockPlan.bare({INSTANCE: exclusive("i2")}))
        await manager.acquire("b", LockPlan.bare({INSTANCE: shared("i3")}))
        with pytest.raises(LockError, match=r"instance/i2: held by \['a'\]"):
            manager.remove(INSTANCE, ["i2", "i3"], owner="b")
        with pytest.raises(LockError, match="held by"):
            manager.remove(INSTANCE, "i3", owner="b")
        assert "instance/i2" in by_name(manager)
        plan = LockPlan.bare({INSTANCE: exclusive("i2")})
        waiter = asyncio.create_task(manager.acquire("c", plan))
        await settle()
        assert manager.remove(INSTANCE, "i2", owner="a") == {"i2"}
        assert manager.owned("a", INSTANCE) == frozenset()
        await asyncio.wait_for(waiter, 1)
        assert manager.owned("c", INSTANCE) == {"i2"}
        manager.release("c")
        assert "instance/i2" not in by_name(manager)

    asyncio.run(main())


def test_the_cluster_level_is_fixed() -> None:
    manager = LockManager()
    with pytest.raises(LockError):
        manager.add(Level.CLUSTER, "other")
    with pytest.raises(LockError):
        manager.remove(Level.CLUSTER, BGL)
    assert [line.name for line in manager.info()] == ["cluster/BGL"]


def test_one_acquire_call_at_a_time_per_owner():
    async def main() -> None:
        manager = LockManager()
        await manager.acquire("a", nodes(exclusive("n1")))
        task = asyncio.create_task(manager.acquire("b", nodes(exclusive("n1"))))
        await settle()
        with pytest.raises(LockError, match="in progress"):
            await manager.acquire("b", LockPlan.bare({Level.NETWORK: shared("net")}))
        manager.release("a")
        await asyncio.wait_for(task, 1)
        assert manager.owned("b", NODE) == {"n1"}

    asyncio.run(main())
