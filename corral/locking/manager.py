"""The master's lock manager: shared/exclusive locks for asyncio jobs, in Ganeti's manner.

Model.  Each level has one *set lock* (``node/[lockset]``) above its named locks.
Holding :data:`ALL_SET` means holding the set lock shared or exclusive; holding
named locks means holding the set lock in an intention mode (IS for shared
names, IX for exclusive ones) plus each name.  The usual compatibility of
IS/IX/S/X then gives ALL_SET its meaning without touching every name:

* an exclusive ALL_SET holder shuts out every other lock of the level, even of
  names that :meth:`LockManager.add` registers while it holds it;
* a shared ALL_SET holder lets others take names shared, never exclusive.

So ``add()`` never waits: a name added under an ALL_SET holder is covered by
it.  Names need not be registered to be locked (instance creation locks a name
the config lacks, as in Ganeti 3.0); registered names are what ALL_SET and
``info()`` enumerate.  ``remove()`` takes only locks that are free or held
exclusively by the remover, whose hold ends; waiters then get the name.

Order and fairness.  Within a call, levels are taken in :class:`Level` order,
the set lock before the names, names sorted; across calls an owner may only
go to higher levels than it holds.  This global order rules out deadlock.
Each lock's waiters queue by (priority, arrival): a request is granted at once
only if it is compatible with the holders and no waiter of equal or more
urgent priority is queued, so shared requests never overtake a queued
exclusive one.  Opportunistic waiting (for ``opportunistic_count`` free names)
stands outside the queues and only sees what they leave free.

Atomicity.  An acquire call is all-or-nothing: on timeout (:class:`LockTimeout`)
or cancellation, everything the call took is released before the exception
leaves it.  The manager belongs to one event loop and is not thread-safe.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
from collections.abc import Iterable

from corral.errors import LockError
from corral.locking.levels import ALL_SET, BGL, Level, lock_name
from corral.locking.plan import Acquired, LevelGrant, LevelRequest, LockPlan
from corral.locking.table import (
    IS,
    IX,
    Call,
    Held,
    LevelState,
    Lock,
    LockInfo,
    LockTable,
    S,
    Waiter,
    X,
    as_set,
    queue_key,
    wait,
)

__all__ = ["LockInfo", "LockManager", "LockTimeout"]


class LockTimeout(LockError):
    """An acquire call timed out; it holds nothing it took."""


class LockManager:
    """Ganeti-style lock manager for one master daemon (see the module docstring)."""

    def __init__(self) -> None:
        self._table = LockTable()
        self._levels = self._table.levels
        self._levels[Level.CLUSTER].known.add(BGL)
        self._owned = self._table.owned
        self._seq = itertools.count()
        self._acquiring: set[str] = set()

    # -- names appearing and disappearing ---------------------------------------------

    def add(self, level: Level, names: Iterable[str] | str) -> None:
        """Register lock names (new nodes, instances, …); never waits.

        A holder of the level's ALL_SET covers the new names at once.

        Raises:
            LockError: ``level`` is the cluster level, which has only the BGL.
        """
        if level == Level.CLUSTER:
            raise LockError("the cluster level has only the BGL")
        state = self._levels[level]
        state.known.update(as_set(names))
        state.notify()

    def remove(
        self, level: Level, names: Iterable[str] | str, *, owner: str | None = None
    ) -> frozenset[str]:
        """Unregister names; return those that were registered.

        Each lock must be free or held exclusively by ``owner`` (by name or
        through ALL_SET); the owner's hold on a removed name ends.  Nothing is
        removed if any name fails the check.

        Raises:
            LockError: a lock is held by someone else or only shared, or the BGL.
        """
        if level == Level.CLUSTER:
            raise LockError("the BGL cannot be removed")
        state = self._levels[level]
        gone = state.known & as_set(names)
        for name in sorted(gone):
            others = state.remove_blockers(name, owner)
            if others:
                raise LockError(f"cannot remove lock {lock_name(level, name)}: held by {others}")
        state.known -= gone
        for name in sorted(gone):
            lock = state.locks.get(name)
            if lock is not None and owner is not None and owner in lock.holders:
                self._table.release(lock, owner)
            elif lock is not None:
                self._table.tidy(lock)
        if owner is not None:
            self._drop_idle_intention(owner, state)
        state.notify()
        return frozenset(gone)

    # -- acquiring ----------------------------------------------------------------------

    async def acquire(
        self, owner: str, plan: LockPlan, *, timeout: float | None = None, priority: int = 0
    ) -> Acquired:
        """Take the plan's locks, level by level, all or nothing.

        ``priority`` follows Ganeti's job priorities (lower is served first);
        ``timeout`` is in seconds of the event loop's clock for the whole call
        (None waits for ever, 0 fails at once instead of waiting).  An owner
        runs one acquire call at a time.

        Raises:
            LockTimeout: the locks were not all obtained in time; none are held.
            LockError: ``owner`` already holds locks at a requested or higher
                level, or has another acquire call in progress.
            asyncio.CancelledError: the task was cancelled; none are held.
        """
        self._check_order(owner, plan)
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        call = Call(owner, priority, deadline)
        self._acquiring.add(owner)
        try:
            grants = await self._take_plan(call, plan)
        except TimeoutError:
            self._rollback(call)
            raise LockTimeout(f"{owner}: locks not acquired within {timeout} s") from None
        except BaseException:
            self._rollback(call)
            raise
        finally:
            self._acquiring.discard(owner)
        return Acquired(owner, grants)

    async def _take_plan(self, call: Call, plan: LockPlan) -> tuple[tuple[Level, LevelGrant], ...]:
        grants: list[tuple[Level, LevelGrant]] = []
        for level, request in plan.requests:
            grant = await self._take_level(call, self._levels[level], request)
            if grant is not None:
                grants.append((level, grant))
        return tuple(grants)

    def _check_order(self, owner: str, plan: LockPlan) -> None:
        if owner in self._acquiring:
            raise LockError(f"{owner} already has an acquire call in progress")
        held = self._owned.get(owner)
        if held and plan.requests:
            lowest = plan.requests[0][0]
            above = sorted(level.label for level in held if level >= lowest)
            if above:
                raise LockError(
                    f"{owner} holds locks at {above}; it cannot acquire at {lowest.label}"
                )

    async def _take_level(
        self, call: Call, state: LevelState, request: LevelRequest
    ) -> LevelGrant | None:
        if request.opportunistic:
            return await self._take_opportunistic(call, state, request)
        if request.names is ALL_SET:
            await self._take(call, state.set_lock, S if request.shared else X)
            return LevelGrant(frozenset(state.known), request.shared, all_set=True)
        if not request.names:
            return None
        await self._take(call, state.set_lock, IS if request.shared else IX)
        mode = S if request.shared else X
        for name in sorted(request.names):
            await self._take(call, state.lock(name), mode)
        return LevelGrant(request.names, request.shared)

    async def _take(self, call: Call, lock: Lock, mode: int) -> None:
        if lock.free_for(mode, call.priority):
            self._table.grant(lock, call.owner, mode)
            call.taken.append(lock)
            return
        if call.deadline is not None and call.deadline <= asyncio.get_running_loop().time():
            raise TimeoutError
        waiter = Waiter(call.priority, next(self._seq), call.owner, mode)
        bisect.insort(lock.queue, waiter, key=queue_key)
        try:
            await wait(waiter.future, call.deadline)
        finally:
            if waiter.granted:
                call.taken.append(lock)
            else:
                self._table.drop_waiter(lock, waiter)

    async def _take_opportunistic(
        self, call: Call, state: LevelState, request: LevelRequest
    ) -> LevelGrant:
        shared = request.shared
        mode = S if shared else X
        while True:
            wanted = state.known if request.names is ALL_SET else request.names
            free = state.free_names(sorted(wanted), mode, call.priority)
            if len(free) >= min(request.opportunistic_count, len(wanted)):
                break
            await self._wait_for_change(call, state)
        if free:
            for lock in [state.set_lock, *(state.lock(name) for name in free)]:
                self._table.grant(lock, call.owner, (IS if shared else IX) if lock.is_set else mode)
                call.taken.append(lock)
        return LevelGrant(frozenset(free), shared)

    async def _wait_for_change(self, call: Call, state: LevelState) -> None:
        loop = asyncio.get_running_loop()
        if call.deadline is not None and call.deadline <= loop.time():
            raise TimeoutError
        future: asyncio.Future[None] = loop.create_future()
        state.watchers.append(future)
        try:
            await wait(future, call.deadline)
        finally:
            if future in state.watchers:
                state.watchers.remove(future)

    def _rollback(self, call: Call) -> None:
        for lock in reversed(call.taken):
            if call.owner in lock.holders:
                self._table.release(lock, call.owner)

    # -- releasing and downgrading -----------------------------------------------------

    def release(
        self, owner: str, level: Level | None = None, names: Iterable[str] | str | None = None
    ) -> None:
        """Release everything, one whole level, or some names of a level.

        Releasing some names of an ALL_SET hold turns it into holds on the
        remaining registered names; names added later are then not covered.

        Raises:
            LockError: ``names`` includes a lock ``owner`` does not hold.
        """
        if level is None:
            if names is not None:
                raise ValueError("names need a level")
            for held_level in sorted(self._owned.get(owner, {}), reverse=True):
                self._release_level(owner, held_level)
        elif names is None:
            self._release_level(owner, level)
        else:
            self._release_names(owner, level, as_set(names))

    def _release_level(self, owner: str, level: Level) -> None:
        held = self._table.held(owner, level)
        if held is None:
            return
        state = self._levels[level]
        for name in sorted(held.names, reverse=True):
            self._table.release(state.locks[name], owner)
        if held.set_mode:
            self._table.release(state.set_lock, owner)

    def _release_names(self, owner: str, level: Level, names: frozenset[str]) -> None:
        held = self._held(owner, level, names)
        if held is None or not names:
            return
        state = self._levels[level]
        if held.whole:
            self._split(owner, state, held)
        for name in sorted(names, reverse=True):
            self._table.release(state.locks[name], owner)
        self._drop_idle_intention(owner, state)

    def downgrade(self, owner: str, level: Level, names: Iterable[str] | str | None = None) -> None:
        """Turn exclusive holds at ``level`` (all, or just ``names``) into shared ones.

        Raises:
            LockError: ``names`` includes a lock ``owner`` does not hold.
        """
        wanted = None if names is None else as_set(names)
        held = self._held(owner, level, wanted or frozenset())
        if held is None:
            return
        state = self._levels[level]
        if held.set_mode == X and wanted is None:
            self._table.change(state.set_lock, owner, S)
        elif held.set_mode == X:
            self._split(owner, state, held)
        for name in sorted(held.names if wanted is None else wanted):
            if held.names.get(name) == X:
                self._table.change(state.locks[name], owner, S)
        if held.set_mode == IX and X not in held.names.values():
            self._table.change(state.set_lock, owner, IS)
        state.notify()

    def _held(self, owner: str, level: Level, names: frozenset[str]) -> Held | None:
        """The owner's holding at ``level``, after checking it covers ``names``."""
        missing = sorted(names - self.owned(owner, level))
        if missing:
            raise LockError(f"{owner} does not hold {[lock_name(level, n) for n in missing]}")
        return self._table.held(owner, level)

    def _split(self, owner: str, state: LevelState, held: Held) -> None:
        """Turn an ALL_SET hold into an intention hold plus each registered name.

        The names are free of other holders and waiters in any conflicting mode,
        since the set lock in S or X mode already excluded those.
        """
        mode = held.set_mode
        for name in sorted(state.known):
            self._table.grant(state.lock(name), owner, mode)
        self._table.change(state.set_lock, owner, IS if mode == S else IX)

    def _drop_idle_intention(self, owner: str, state: LevelState) -> None:
        held = self._table.held(owner, state.level)
        if held is not None and held.set_mode in (IS, IX) and not held.names:
            self._table.release(state.set_lock, owner)

    # -- introspection ------------------------------------------------------------------

    def owned(self, owner: str, level: Level) -> frozenset[str]:
        """Names ``owner`` holds at ``level`` (all registered ones under ALL_SET)."""
        held = self._table.held(owner, level)
        if held is None:
            return frozenset()
        if held.whole:
            return frozenset(self._levels[level].known)
        return frozenset(held.names)

    def is_owned(
        self,
        owner: str,
        level: Level,
        names: Iterable[str] | str | None = None,
        *,
        shared: bool | None = None,
    ) -> bool:
        """Whether ``owner`` holds ``names`` (or anything, if None) at ``level``.

        With ``shared`` set, every hold checked must also be in that mode.
        """
        held = self._table.held(owner, level)
        if held is None:
            return False
        modes = self._modes(held, level, names)
        if modes is None:
            return False
        return shared is None or all((m == S) == shared for m in modes)

    def _modes(
        self, held: Held, level: Level, names: Iterable[str] | str | None
    ) -> list[int] | None:
        if held.whole:
            known = self._levels[level].known
            wanted = known if names is None else as_set(names)
            return [held.set_mode] * len(wanted) if wanted <= known else None
        if names is None:
            return list(held.names.values())
        modes = [held.names.get(name, 0) for name in as_set(names)]
        return None if 0 in modes else modes

    def holds_all(self, owner: str, level: Level) -> bool:
        """Whether ``owner`` holds ``level`` as ALL_SET."""
        held = self._table.held(owner, level)
        return held is not None and held.whole

    def info(self) -> list[LockInfo]:
        """Every registered lock plus any held or awaited one, in acquisition order."""
        return [line for state in self._levels.values() for line in state.describe()]
