"""An acquire call is all-or-nothing: timeouts and cancellation leave nothing held."""

import asyncio

import pytest

from corral.errors import LockError
from corral.locking import ALL_SET, Level, LockManager, LockPlan, LockTimeout, exclusive, shared

NODE = Level.NODE
INSTANCE = Level.INSTANCE
LEVELS = list(Level)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def holdings(manager: LockManager, owner: str) -> dict[Level, frozenset[str]]:
    return {level: manager.owned(owner, level) for level in LEVELS if manager.owned(owner, level)}


def blocked_plan() -> LockPlan:
    """Instance i1, then nodes n1 (free) and n2 (held by "holder")."""
    return LockPlan.of({INSTANCE: exclusive("i1"), NODE: exclusive(["n1", "n2"])})


async def manager_with_holder() -> LockManager:
    manager = LockManager()
    await manager.acquire("holder", LockPlan.bare({NODE: exclusive("n2")}))
    return manager


async def assert_rolled_back(manager: LockManager, owner: str) -> None:
    assert holdings(manager, owner) == {}
    assert all(owner not in line.owners for line in manager.info())
    assert all(owner not in owners for line in manager.info() for _, owners in line.pending)
    # The instance and the free node are really free again:
    plan = LockPlan.bare({INSTANCE: exclusive("i1"), NODE: exclusive("n1")})
    await manager.acquire("other", plan, timeout=0)
    manager.release("other")


def test_timeout_raises_lock_error_and_rolls_back_every_level() -> None:
    async def main() -> None:
        manager = await manager_with_holder()
        with pytest.raises(LockTimeout) as caught:
            await manager.acquire("job/1", blocked_plan(), timeout=0.05)
        assert isinstance(caught.value, LockError)
        assert "job/1" in str(caught.value)
        await assert_rolled_back(manager, "job/1")
        assert manager.owned("holder", NODE) == {"n2"}

    asyncio.run(main())


def test_zero_timeout_fails_at_once_when_it_would_wait() -> None:
    async def main() -> None:
        manager = await manager_with_holder()
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(LockTimeout):
            await manager.acquire("job/1", blocked_plan(), timeout=0)
        assert loop.time() - start < 0.05
        await assert_rolled_back(manager, "job/1")

    asyncio.run(main())


def test_cancellation_rolls_back_what_was_taken() -> None:
    async def main() -> None:
        manager = await manager_with_holder()
        task = asyncio.create_task(manager.acquire("job/1", blocked_plan()))
        await settle()
        # While waiting for n2 the call holds the BGL, i1 and n1:
        assert holdings(manager, "job/1") == {
            Level.CLUSTER: {"BGL"},
            INSTANCE: {"i1"},
            NODE: {"n1"},
        }
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await assert_rolled_back(manager, "job/1")

    asyncio.run(main())


def test_cancellation_after_the_grant_still_rolls_back() -> None:
    async def main() -> None:
        manager = await manager_with_holder()
        task = asyncio.create_task(manager.acquire("job/1", blocked_plan()))
        await settle()
        manager.release("holder")  # grants n2 to job/1 synchronously ...
        assert manager.owned("job/1", NODE) == {"n1", "n2"}
        task.cancel()  # ... but the task is cancelled before it resumes
        with pytest.raises(asyncio.CancelledError):
            await task
        await assert_rolled_back(manager, "job/1")
        await manager.acquire("other", LockPlan.bare({NODE: exclusive("n2")}), timeout=0)

    asyncio.run(main())


def test_timeout_while_waiting_for_all_set_rolls_back() -> None:
    async def main() -> None:
        manager = await manager_with_holder()
        manager.add(NODE, ["n1", "n2"])
        plan = LockPlan.of({INSTANCE: exclusive("i1"), NODE: exclusive(ALL_SET)})
        with pytest.raises(LockTimeout):
            await manager.acquire("job/1", plan, timeout=0.02)
        await assert_rolled_back(manager, "job/1")
        assert "node/[lockset]" not in {line.name for line in manager.info()}

    asyncio.run(main())


def test_cancelled_head_writer_lets_readers_behind_it_in() -> None:
    async def main() -> None:
        manager = LockManager()
        await manager.acquire("reader/0", LockPlan.bare({NODE: shared("n1")}))
        writer_plan = LockPlan.bare({NODE: exclusive("n1")})
        writer = asyncio.create_task(manager.acquire("writer", writer_plan))
        await settle()
        reader_plan = LockPlan.bare({NODE: shared("n1")})
        reader = asyncio.create_task(manager.acquire("reader/1", reader_plan))
        await settle()
        assert not reader.done()
        writer.cancel()
        await asyncio.wait_for(reader, 1)
        assert manager.owned("reader/1", NODE) == {"n1"}
        assert holdings(manager, "writer") == {}

    asyncio.run(main())
