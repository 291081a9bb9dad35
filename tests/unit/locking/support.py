"""Helpers shared by the lock manager tests."""

import asyncio

from corral.locking import Level, LevelRequest, LockInfo, LockManager, LockPlan

NODE = Level.NODE
INSTANCE = Level.INSTANCE


def nodes(request: LevelRequest) -> LockPlan:
    """A bare plan asking for ``request`` at the node level."""
    return LockPlan.bare({NODE: request})


async def settle() -> None:
    """Let every ready task run a few steps."""
    for _ in range(5):
        await asyncio.sleep(0)


def by_name(manager: LockManager) -> dict[str, LockInfo]:
    return {line.name: line for line in manager.info()}
