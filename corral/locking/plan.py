"""What a job asks the lock manager for (:class:`LockPlan`) and what it got (:class:`Acquired`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from corral.locking.levels import ALL_SET, BGL, AllSet, Level

LockNames = frozenset[str] | AllSet
"""Names requested at one level: a set of names, or :data:`ALL_SET`."""


@dataclass(frozen=True, slots=True)
class LevelRequest:
    """Locks wanted at one level.

    ``names`` is a frozenset of lock names or :data:`ALL_SET`.  ``shared`` picks
    the mode for all of them.  With ``opportunistic`` the manager takes only the
    names that are free at that moment and never waits for the others, unless
    fewer than ``opportunistic_count`` are free: then it waits until that many are
    (Ganeti's ``opportunistic_locks_count``).  The count is capped at the number
    of names asked for.
    """

    names: LockNames
    shared: bool = False
    opportunistic: bool = False
    opportunistic_count: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.names, frozenset | AllSet):
            raise TypeError(f"lock names must be a frozenset or ALL_SET, not {self.names!r}")
        if isinstance(self.names, frozenset) and not all(
            isinstance(n, str) and n for n in self.names
        ):
            raise TypeError(f"lock names must be non-empty strings: {sorted(self.names)!r}")
        if self.opportunistic_count < 0:
            raise ValueError("opportunistic_count must not be negative")
        if self.opportunistic_count and not self.opportunistic:
            raise ValueError("opportunistic_count needs opportunistic=True")

    @property
    def all_set(self) -> bool:
        """Whether the whole level is requested."""
        return self.names is ALL_SET


def _as_names(names: Iterable[str] | str | AllSet) -> LockNames:
    if isinstance(names, AllSet):
        return names
    if isinstance(names, str):
        return frozenset((names,))
    return frozenset(names)


def exclusive(names: Iterable[str] | str | AllSet) -> LevelRequest:
    """Exclusive locks on ``names`` (one name, an iterable of names or ALL_SET)."""
    return LevelRequest(_as_names(names))


def shared(names: Iterable[str] | str | AllSet) -> LevelRequest:
    """Shared locks on ``names`` (one name, an iterable of names or ALL_SET)."""
    return LevelRequest(_as_names(names), shared=True)


def opportunistic(
    names: Iterable[str] | str | AllSet, *, shared: bool = False, count: int = 0
) -> LevelRequest:
    """Whichever of ``names`` are free now; wait only until ``count`` of them are."""
    return LevelRequest(
        _as_names(names), shared=shared, opportunistic=True, opportunistic_count=count
    )


@dataclass(frozen=True, slots=True)
class LockPlan:
    """Level → :class:`LevelRequest`, kept sorted by level.

    Build it with :meth:`of`, which adds the BGL in shared mode unless the
    cluster level is given (every job holds the BGL, shared unless it asks
    for it exclusively), or with :meth:`bare`, which adds nothing.
    """

    requests: tuple[tuple[Level, LevelRequest], ...] = ()

    def __post_init__(self) -> None:
        levels = [Level(level) for level, _ in self.requests]
        if len(set(levels)) != len(levels):
            raise ValueError(f"a level appears twice in the lock plan: {levels}")
        pairs = zip(levels, (request for _, request in self.requests), strict=True)
        ordered = tuple(sorted(pairs, key=lambda pair: pair[0]))
        object.__setattr__(self, "requests", ordered)

    @classmethod
    def of(
        cls, requests: Mapping[Level, LevelRequest] | None = None, *, exclusive_bgl: bool = False
    ) -> LockPlan:
        """A job's plan: ``requests`` plus the BGL (shared unless ``exclusive_bgl``)."""
        merged = dict(requests or {})
        if Level.CLUSTER not in merged:
            merged[Level.CLUSTER] = exclusive(BGL) if exclusive_bgl else shared(BGL)
        return cls(tuple(merged.items()))

    @classmethod
    def bare(cls, requests: Mapping[Level, LevelRequest] | None = None) -> LockPlan:
        """Exactly ``requests``, without an implicit BGL."""
        return cls(tuple((requests or {}).items()))

    def get(self, level: Level) -> LevelRequest | None:
        """The request at ``level``, if any."""
        for lvl, request in self.requests:
            if lvl == level:
                return request
        return None

    @property
    def levels(self) -> tuple[Level, ...]:
        """The levels requested, in acquisition order."""
        return tuple(level for level, _ in self.requests)

    def with_level(self, level: Level, request: LevelRequest) -> LockPlan:
        """A copy with ``level`` set to ``request`` (replacing any earlier one)."""
        kept = tuple(item for item in self.requests if item[0] != level)
        return LockPlan((*kept, (level, request)))

    def without(self, level: Level) -> LockPlan:
        """A copy without ``level``."""
        return LockPlan(tuple(item for item in self.requests if item[0] != level))

    def only(self, level: Level) -> LockPlan:
        """A bare plan with just this plan's request at ``level`` (empty if none)."""
        request = self.get(level)
        return LockPlan(() if request is None else ((level, request),))

    def __iter__(self) -> Iterator[tuple[Level, LevelRequest]]:
        return iter(self.requests)

    def __bool__(self) -> bool:
        return bool(self.requests)


@dataclass(frozen=True, slots=True)
class LevelGrant:
    """What one acquire call took at one level.

    ``all_set`` means the owner holds the whole level: names added later are
    covered too, and ``names`` is the level's names when the call returned.
    """

    names: frozenset[str]
    shared: bool
    all_set: bool = False

    @property
    def mode(self) -> str:
        """``"shared"`` or ``"exclusive"``, as ``gnt-debug locks`` says it."""
        return "shared" if self.shared else "exclusive"


@dataclass(frozen=True, slots=True)
class Acquired:
    """The result of one ``LockManager.acquire`` call, per level in order."""

    owner: str
    grants: tuple[tuple[Level, LevelGrant], ...] = ()

    def get(self, level: Level) -> LevelGrant | None:
        """The grant at ``level``, if that level was requested."""
        for lvl, grant in self.grants:
            if lvl == level:
                return grant
        return None

    def names(self, level: Level) -> frozenset[str]:
        """Names taken at ``level`` (empty if none)."""
        grant = self.get(level)
        return frozenset() if grant is None else grant.names

    @property
    def levels(self) -> tuple[Level, ...]:
        """Levels at which something was requested."""
        return tuple(level for level, _ in self.grants)
