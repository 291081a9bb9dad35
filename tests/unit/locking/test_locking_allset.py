"""ALL_SET, add() under it, unregistered names, and opportunistic acquisition."""

import asyncio

import pytest

from corral.locking import (
    ALL_SET,
    Level,
    LockInfo,
    LockManager,
    LockPlan,
    LockTimeout,
    exclusive,
    opportunistic,
    shared,
)
from tests.unit.locking.support import INSTANCE, NODE, by_name, nodes, settle


async def manager_with_nodes(*names: str) -> LockManager:
    manager = LockManager()
    manager.add(NODE, names)
    return manager


def test_all_set_exclusive_covers_names_added_while_held() -> None:
    async def main() -> None:
        manager = await manager_with_nodes("n1", "n2")
        got = await manager.acquire("x", nodes(exclusive(ALL_SET)))
        grant = got.get(NODE)
        assert grant is not None
        assert grant.names == {"n1", "n2"}
        assert grant.all_set
        assert not grant.shared
        assert manager.holds_all("x", NODE)
        manager.add(NODE, "n9")
        assert manager.owned("x", NODE) == {"n1", "n2", "n9"}
        assert manager.is_owned("x", NODE, "n9", shared=False)
        with pytest.raises(LockTimeout):
            await manager.acquire("y", nodes(shared("n9")), timeout=0.01)
        lines = by_name(manager)
        assert lines["node/[lockset]"] == LockInfo("node/[lockset]", "exclusive", ("x",), ())
        assert lines["node/n9"] == LockInfo("node/n9", "exclusive", ("x",), ())
        manager.release("x")
        await manager.acquire("y", nodes(exclusive("n9")), timeout=0)

    asyncio.run(main())


def test_all_set_shared_lets_others_share_new_names_but_not_take_them() -> None:
    async def main() -> None:
        manager = await manager_with_nodes("n1")
        await manager.acquire("x", nodes(shared(ALL_SET)))
        manager.add(NODE, "n2")
        assert manager.owned("x", NODE) == {"n1", "n2"}
        await manager.acquire("y", nodes(shared("n2")), timeout=0)
        with pytest.raises(LockTimeout):
            await manager.acquire("z", nodes(exclusive("n2")), timeout=0.01)
        assert by_name(manager)["node/n2"].owners == ("x", "y")

    asyncio.run(main())


def test_all_set_waits_for_named_holders_and_later_requests_queue_behind_it() -> None:
    async def main() -> None:
        manager = await manager_with_nodes("n1", "n2")
        await manager.acquire("h", nodes(exclusive("n1")))
        whole = asyncio.create_task(manager.acquire("x", nodes(exclusive(ALL_SET))))
        await settle()
        assert not whole.done()
        assert by_name(manager)["node/[lockset]"].pending == (("exclusive", ("x",)),)
        # n2 is free, but taking it would pass the queued ALL_SET request:
        with pytest.raises(LockTimeout):
            await manager.acquire("y", nodes(exclusive("n2")), timeout=0.01)
        manager.release("h")
        await asyncio.wait_for(whole, 1)
        assert manager.owned("x", NODE) == {"n1", "n2"}

    asyncio.run(main())


def test_releasing_part_of_all_set_keeps_the_rest_by_name() -> None:
    async def main() -> None:
        manager = await manager_with_nodes("n1", "n2", "n3")
        await manager.acquire("x", nodes(exclusive(ALL_SET)))
        manager.release("x", NODE, ["n1"])
        assert not manager.holds_all("x", NODE)
        assert manager.owned("x", NODE) == {"n2", "n3"}
        await manager.acquire("y", nodes(exclusive("n1")), timeout=0)
        with pytest.raises(LockTimeout):
            await manager.acquire("z", nodes(shared("n2")), timeout=0.01)
        manager.add(NODE, "n4")  # no longer covered by x
        assert manager.owned("x", NODE) == {"n2", "n3"}
        await manager.acquire("z", nodes(exclusive("n4")), timeout=0)

    asyncio.run(main())


def test_downgrading_all_set() -> None:
    async def main() -> None:
        manager = await manager_with_nodes("n1", "n2")
        await manager.acquire("x", nodes(exclusive(ALL_SET)))
        manager.downgrade("x", NODE, "n1")
        assert manager.is_owned("x", NODE, "n1", shared=True)
        assert manager.is_owned("x", NODE, "n2", shared=False)
        manager.release("x")
        await manager.acquire("x", nodes(exclusive(ALL_SET)))
        manager.downgrade("x", NODE)
        assert manager.holds_all("x", NODE)
        assert manager.is_owned("x", NODE, shared=True)
        await manager.acquire("y", nodes(shared("n2")), timeout=0)
        with pytest.raises(LockTimeout):
            await manager.acquire("z", nodes(exclusive("n1")), timeout=0.01)

    asyncio.run(main())


def test_unregistered_names_can_be_locked_and_vanish_when_free() -> None:
    async def main() -> None:
        manager = LockManager()
        plan = LockPlan.of({INSTANCE: exclusive("new.example.com")})
        await manager.acquire("create", plan)
        assert by_name(manager)["instance/new.example.com"].owners == ("create",)
        with pytest.raises(LockTimeout):
            await manager.acquire("other", plan, timeout=0.01)
        manager.release("create")
        assert "instance/new.example.com" not in by_name(manager)

    asyncio.run(main())


def test_opportunistic_takes_the_free_subset_without_waiting() -> None:
    async def main() -> None:
        manager = await manager_with_nodes("n1", "n2", "n3")
        await manager.acquire("h", nodes(exclusive("n1")))
        got = await manager.acquire("o", nodes(opportunistic(["n1", "n2", "n3"])), timeout=0)
        assert got.names(NODE) == {"n2", "n3"}
        assert manager.owned("o", NODE) == {"n2", "n3"}
        got = await manager.acquire("p", nodes(opportunistic(ALL_SET, shared=True)), timeout=0)
        assert got.names(NODE) == frozenset()
        grant = got.get(NODE)
        assert grant is not None
        assert not grant.all_set

    asyncio.run(main())


def test_opportunistic_count_waits_until_enough_are_free() -> None:
    async def main() -> None:
        manager = await manager_with_nodes("n1", "n2", "n3")
        await manager.acquire("h", nodes(exclusive(["n1", "n2"])))
        task = asyncio.create_task(manager.acquire("o", nodes(opportunistic(ALL_SET, count=2))))
        await settle()
        assert not task.done()
        assert manager.owned("o", NODE) == frozenset()
        manager.release("h", NODE, "n1")
        got = await asyncio.wait_for(task, 1)
        assert got.names(NODE) == {"n1", "n3"}

    asyncio.run(main())


def test_opportunistic_count_is_capped_and_times_out_cleanly() -> None:
    async def main() -> None:
        manager = await manager_with_nodes("n1", "n2")
        got = await manager.acquire("o", nodes(opportunistic("n1", count=5)), timeout=0)
        assert got.names(NODE) == {"n1"}
        plan = LockPlan.of({NODE: opportunistic(["n1", "n2"], count=2)})
        with pytest.raises(LockTimeout):
            await manager.acquire("p", plan, timeout=0.02)
        assert manager.owned("p", NODE) == frozenset()
        assert manager.owned("p", Level.CLUSTER) == frozenset()
        await manager.acquire("q", nodes(exclusive("n2")), timeout=0)

    asyncio.run(main())


def test_opportunistic_does_not_pass_queued_waiters() -> None:
    async def main() -> None:
        manager = await manager_with_nodes("n1", "n2")
        await manager.acquire("reader", nodes(shared("n1")))
        writer = asyncio.create_task(manager.acquire("writer", nodes(exclusive("n1"))))
        await settle()
        got = await manager.acquire("o", nodes(opportunistic(["n1", "n2"], shared=True)), timeout=0)
        assert got.names(NODE) == {"n2"}
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)

    asyncio.run(main())
