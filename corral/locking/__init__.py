"""Locks of the master daemon: levels, lock plans and the lock manager (Ganeti's semantics)."""

from corral.locking.levels import (
    ALL_SET,
    BGL,
    SET_LOCK,
    AllSet,
    Level,
    lock_name,
    parse_lock_name,
    set_lock_name,
)
from corral.locking.manager import LockInfo, LockManager, LockTimeout
from corral.locking.plan import (
    Acquired,
    LevelGrant,
    LevelRequest,
    LockNames,
    LockPlan,
    exclusive,
    opportunistic,
    shared,
)

__all__ = [
    "ALL_SET",
    "BGL",
    "SET_LOCK",
    "Acquired",
    "AllSet",
    "Level",
    "LevelGrant",
    "LevelRequest",
    "LockInfo",
    "LockManager",
    "LockNames",
    "LockPlan",
    "LockTimeout",
    "exclusive",
    "lock_name",
    "opportunistic",
    "parse_lock_name",
    "set_lock_name",
    "shared",
]
