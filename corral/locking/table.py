"""The lock table under :class:`~corral.locking.manager.LockManager` (package-internal).

Split from ``manager.py`` to keep both modules small: this one holds the
records (a lock, its wait queue, one owner's holdings at a level, one level)
and the read-only rendering used by ``gnt-debug locks``; the manager holds
every rule about who gets what.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from corral.locking.levels import Level, lock_name, set_lock_name

# Lock modes, as bits: intention-shared, intention-exclusive, shared, exclusive.
IS, IX, S, X = 1, 2, 4, 8
CONFLICTS = {IS: X, IX: S | X, S: IX | X, X: IS | IX | S | X}
_SHOWN = {IS: "shared", S: "shared", IX: "exclusive", X: "exclusive"}


@dataclass(frozen=True, slots=True)
class LockInfo:
    """One line of ``gnt-debug locks`` / the ``lock`` query resource.

    ``mode`` is None, ``"shared"`` or ``"exclusive"``; ``owners`` is sorted;
    ``pending`` lists the waiters in the order they will be served as
    ``(mode, owners)``, consecutive shared waiters grouped as Ganeti does.
    A level's ``[lockset]`` line appears while someone holds or awaits the
    whole level; it also lists, as pending, requests for single names of that
    level that wait behind such a holder.
    """

    name: str
    mode: str | None
    owners: tuple[str, ...]
    pending: tuple[tuple[str, tuple[str, ...]], ...]


class Waiter:
    """A queued request for one lock; ``granted`` is set when it is served."""

    __slots__ = ("future", "granted", "mode", "owner", "priority", "seq")

    def __init__(self, priority: int, seq: int, owner: str, mode: int) -> None:
        self.priority, self.seq, self.owner, self.mode = priority, seq, owner, mode
        self.future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.granted = False


def queue_key(waiter: Waiter) -> tuple[int, int]:
    """Waiters are served by priority (lower first), then by arrival."""
    return (waiter.priority, waiter.seq)


class Lock:
    """One lock: its holders (owner → mode), a bitmask of held modes, its queue."""

    __slots__ = ("counts", "holders", "is_set", "level", "mask", "name", "queue")

    def __init__(self, level: Level, name: str, is_set: bool = False) -> None:
        self.level, self.name, self.is_set = level, name, is_set
        self.holders: dict[str, int] = {}
        self.counts = {IS: 0, IX: 0, S: 0, X: 0}
        self.mask = 0
        self.queue: list[Waiter] = []

    def compatible(self, mode: int) -> bool:
        """Whether ``mode`` is compatible with every current holder."""
        return not self.mask & CONFLICTS[mode]

    def free_for(self, mode: int, priority: int) -> bool:
        """Grantable now without overtaking a queued waiter."""
        if self.mask & CONFLICTS[mode]:
            return False
        return not self.queue or self.queue[0].priority > priority

    def hold(self, owner: str, mode: int) -> None:
        self.holders[owner] = mode
        self.counts[mode] += 1
        self.mask |= mode

    def unhold(self, owner: str) -> None:
        mode = self.holders.pop(owner)
        self.counts[mode] -= 1
        if not self.counts[mode]:
            self.mask &= ~mode

    @property
    def idle(self) -> bool:
        return not self.holders and not self.queue


class Held:
    """What one owner holds at one level: its set-lock mode and its named locks."""

    __slots__ = ("names", "set_mode")

    def __init__(self) -> None:
        self.set_mode = 0
        self.names: dict[str, int] = {}

    @property
    def whole(self) -> bool:
        """Held as ALL_SET (the set lock in S or X mode)."""
        return self.set_mode in (S, X)


class LevelState:
    """One level: its set lock, its named locks, its registered names."""

    __slots__ = ("known", "level", "locks", "set_lock", "watchers")

    def __init__(self, level: Level) -> None:
        self.level = level
        self.set_lock = Lock(level, "", is_set=True)
        self.locks: dict[str, Lock] = {}
        self.known: set[str] = set()
        self.watchers: list[asyncio.Future[None]] = []

    def lock(self, name: str) -> Lock:
        found = self.locks.get(name)
        if found is None:
            found = self.locks[name] = Lock(self.level, name)
        return found

    def free_names(self, names: list[str], mode: int, priority: int) -> list[str]:
        """Which of ``names`` could be granted in ``mode`` (S or X) right now."""
        if not self.set_lock.free_for(IS if mode == S else IX, priority):
            return []
        locks = self.locks
        return [n for n in names if (lock := locks.get(n)) is None or lock.free_for(mode, priority)]

    def remove_blockers(self, name: str, owner: str | None) -> list[str]:
        """Who keeps ``name`` from being removed by ``owner`` (anyone but its X holder)."""
        holders = {o: m for o, m in self.set_lock.holders.items() if m in (S, X)}
        lock = self.locks.get(name)
        holders.update(lock.holders if lock is not None else {})
        return sorted(o for o, m in holders.items() if o != owner or m != X)

    def notify(self) -> None:
        """Wake the opportunistic requests waiting for a change at this level."""
        watchers, self.watchers = self.watchers, []
        for future in watchers:
            if not future.done():
                future.set_result(None)

    def describe(self) -> list[LockInfo]:
        """This level's lines of ``gnt-debug locks``."""
        whole = {o: m for o, m in self.set_lock.holders.items() if m in (S, X)}
        lines = []
        if whole or self.set_lock.queue:
            lines.append(_describe(set_lock_name(self.level), whole, self.set_lock.queue))
        busy = {name for name, lock in self.locks.items() if not lock.idle}
        for name in sorted(self.known | busy):
            lock = self.locks.get(name)
            owners = {**whole, **(lock.holders if lock is not None else {})}
            queue = lock.queue if lock is not None else []
            lines.append(_describe(lock_name(self.level, name), owners, queue))
        return lines


class LockTable:
    """Every lock and who holds what, with the primitive grant and release steps."""

    def __init__(self) -> None:
        self.levels = {level: LevelState(level) for level in Level}
        self.owned: dict[str, dict[Level, Held]] = {}

    def held(self, owner: str, level: Level) -> Held | None:
        """What ``owner`` holds at ``level``, if anything."""
        levels = self.owned.get(owner)
        return None if levels is None else levels.get(level)

    def grant(self, lock: Lock, owner: str, mode: int) -> None:
        """Record ``owner`` as holder of ``lock`` in ``mode`` (no checks)."""
        lock.hold(owner, mode)
        levels = self.owned.get(owner)
        if levels is None:
            levels = self.owned[owner] = {}
        held = levels.get(lock.level)
        if held is None:
            held = levels[lock.level] = Held()
        if lock.is_set:
            held.set_mode = mode
        else:
            held.names[lock.name] = mode

    def change(self, lock: Lock, owner: str, mode: int) -> None:
        """Weaken ``owner``'s hold on ``lock`` to ``mode`` and serve the queue."""
        lock.unhold(owner)
        self.grant(lock, owner, mode)
        self.serve(lock)

    def release(self, lock: Lock, owner: str) -> None:
        """End ``owner``'s hold on ``lock`` and serve its queue."""
        lock.unhold(owner)
        levels = self.owned[owner]
        held = levels[lock.level]
        if lock.is_set:
            held.set_mode = 0
        else:
            del held.names[lock.name]
        if not held.set_mode and not held.names:
            del levels[lock.level]
            if not levels:
                del self.owned[owner]
        self.serve(lock)
        self.tidy(lock)

    def serve(self, lock: Lock) -> None:
        """Grant queued waiters from the head while they are compatible."""
        queue = lock.queue
        while queue:
            waiter = queue[0]
            if waiter.future.cancelled():
                del queue[0]
                continue
            if not lock.compatible(waiter.mode):
                return
            del queue[0]
            waiter.granted = True
            self.grant(lock, waiter.owner, waiter.mode)
            waiter.future.set_result(None)

    def drop_waiter(self, lock: Lock, waiter: Waiter) -> None:
        """Remove a waiter that gave up; those behind it may now be served."""
        if waiter in lock.queue:
            lock.queue.remove(waiter)
        self.serve(lock)
        self.tidy(lock)

    def tidy(self, lock: Lock) -> None:
        """Wake opportunistic watchers; forget idle locks of unregistered names."""
        state = self.levels[lock.level]
        if state.watchers:
            state.notify()
        if lock.idle and not lock.is_set and lock.name not in state.known:
            state.locks.pop(lock.name, None)


class Call:
    """Book-keeping of one acquire call, for rolling it back."""

    __slots__ = ("deadline", "owner", "priority", "taken")

    def __init__(self, owner: str, priority: int, deadline: float | None) -> None:
        self.owner, self.priority, self.deadline = owner, priority, deadline
        self.taken: list[Lock] = []


def as_set(names: Iterable[str] | str) -> frozenset[str]:
    """One name or several, as a frozenset."""
    return frozenset((names,)) if isinstance(names, str) else frozenset(names)


async def wait(future: asyncio.Future[None], deadline: float | None) -> None:
    """Await ``future`` until the loop-time ``deadline`` (TimeoutError after it)."""
    if deadline is None:
        await future
        return
    async with asyncio.timeout_at(deadline):
        await future


def _describe(name: str, owners: dict[str, int], queue: list[Waiter]) -> LockInfo:
    mode = None
    if owners:
        mode = "exclusive" if any(m in (X, IX) for m in owners.values()) else "shared"
    pending: list[tuple[str, list[str]]] = []
    for waiter in queue:
        if waiter.future.cancelled():
            continue
        shown = _SHOWN[waiter.mode]
        if pending and shown == "shared" and pending[-1][0] == "shared":
            pending[-1][1].append(waiter.owner)
        else:
            pending.append((shown, [waiter.owner]))
    owned = tuple(sorted(owners))
    return LockInfo(name, mode, owned, tuple((m, tuple(o)) for m, o in pending))
