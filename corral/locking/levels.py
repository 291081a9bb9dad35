"""Lock levels, lock names as ``gnt-debug locks`` shows them, and ``ALL_SET``.

A job takes locks level by level in increasing :class:`Level` order and, within
one level, names in sorted order.  Because every job follows the same global
order, no cycle of waiting jobs (a deadlock) can form.
"""

from __future__ import annotations

import enum
from typing import Final


class Level(enum.IntEnum):
    """Lock levels in acquisition order (Ganeti 3.0's ``locking.LEVELS``)."""

    CLUSTER = 0
    INSTANCE = 1
    NODEGROUP = 2
    NODE = 3
    NODE_RES = 4
    NETWORK = 5

    @property
    def label(self) -> str:
        """Ganeti's level name, the prefix of its lock names (``node-res``)."""
        return _LABELS[self]


_LABELS: Final[dict[Level, str]] = {
    Level.CLUSTER: "cluster",
    Level.INSTANCE: "instance",
    Level.NODEGROUP: "nodegroup",
    Level.NODE: "node",
    Level.NODE_RES: "node-res",
    Level.NETWORK: "network",
}
_BY_LABEL: Final[dict[str, Level]] = {label: level for level, label in _LABELS.items()}

BGL: Final = "BGL"
"""The only lock of the cluster level, Ganeti's Big Ganeti Lock."""

SET_LOCK: Final = "[lockset]"
"""Name of a level's set lock, held by whoever holds the whole level."""


class AllSet(enum.Enum):
    """Type of the :data:`ALL_SET` sentinel (a one-member enum, so mypy can narrow it)."""

    ALL_SET = "ALL_SET"

    def __repr__(self) -> str:
        return "ALL_SET"


ALL_SET: Final = AllSet.ALL_SET
"""Every lock of a level, including names added while it is held (Ganeti's ALL_SET)."""


def lock_name(level: Level, name: str) -> str:
    """The name ``gnt-debug locks`` shows, e.g. ``node/node1.example.com``."""
    return f"{level.label}/{name}"


def set_lock_name(level: Level) -> str:
    """The name of the level's set lock, e.g. ``instance/[lockset]``."""
    return f"{level.label}/{SET_LOCK}"


def parse_lock_name(full: str) -> tuple[Level, str]:
    """Split ``node/node1`` into ``(Level.NODE, "node1")``.

    Raises:
        ValueError: the prefix names no level or the name part is empty.
    """
    label, sep, name = full.partition("/")
    level = _BY_LABEL.get(label)
    if level is None or not sep or not name:
        raise ValueError(f"not a lock name: {full!r}")
    return level, name
