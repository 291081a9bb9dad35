"""Node roles as ``gnt-node modify`` changes them: one of candidate, drained, offline, regular.

The three flags ``master_candidate``, ``drained`` and ``offline`` are exclusive;
a role names which one (if any) is set, as Ganeti's LUNodeSetParams models it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from corral.objects.node import Node

FLAGS = ("master_candidate", "drained", "offline")
"""The exclusive role flags, in the order changes are reported."""


class Role(enum.Enum):
    CANDIDATE = "candidate"
    DRAINED = "drained"
    OFFLINE = "offline"
    REGULAR = "regular"


_ROLE_FLAGS: dict[Role, tuple[bool, bool, bool]] = {
    Role.CANDIDATE: (True, False, False),
    Role.DRAINED: (False, True, False),
    Role.OFFLINE: (False, False, True),
    Role.REGULAR: (False, False, False),
}


def role_of(node: Node) -> Role:
    """The node's role; with inconsistent flags, candidate wins, then drained, then offline."""
    if node.master_candidate:
        return Role.CANDIDATE
    if node.drained:
        return Role.DRAINED
    if node.offline:
        return Role.OFFLINE
    return Role.REGULAR


def role_flags(role: Role) -> dict[str, bool]:
    """``{flag: value}`` for a role."""
    return dict(zip(FLAGS, _ROLE_FLAGS[role], strict=True))


@dataclass(slots=True)
class FlagRequest:
    """The requested values of the role flags (``None``: unchanged)."""

    master_candidate: bool | None = None
    drained: bool | None = None
    offline: bool | None = None

    def values(self) -> list[bool | None]:
        return [self.master_candidate, self.drained, self.offline]

    def drop_ineffective(self, node: Node) -> list[str]:
        """Forget requests to clear a flag that is already clear; returns their names."""
        dropped = []
        for flag in FLAGS:
            if getattr(self, flag) is False and getattr(node, flag) is False:
                setattr(self, flag, None)
                dropped.append(flag)
        return dropped

    def new_role(self, old: Role) -> Role:
        """The role after the change (clearing the only set flag makes the node regular)."""
        if self.master_candidate:
            return Role.CANDIDATE
        if self.drained:
            return Role.DRAINED
        if self.offline:
            return Role.OFFLINE
        if False in self.values():
            return Role.REGULAR
        return old


def flag_changes(node: Node, role: Role) -> list[list[str]]:
    """``[[flag, "True"/"False"], ...]`` for the flags that ``role`` changes on ``node``."""
    return [
        [flag, str(value)]
        for flag, value in role_flags(role).items()
        if bool(getattr(node, flag)) != value
    ]


def promotion_problem(
    node: Node, master_capable: bool, offline: bool | None, drained: bool | None
) -> str | None:
    """Why ``node`` cannot be made a candidate by this change, or None.

    ``master_capable`` is the flag's value after the change; ``offline`` and
    ``drained`` are the requested values (False clears the flag in the same change).
    """
    if not master_capable:
        return "is not master capable"
    if node.offline and offline is not False:
        return "is offline"
    if node.drained and drained is not False:
        return "is drained"
    return None
