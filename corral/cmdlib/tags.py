"""Tags of the cluster, nodes, node groups, instances and networks.

Locks: changing cluster tags takes the cluster lock exclusively; changing
another object's tags takes the cluster lock shared and that object's lock
exclusively. Reading takes the object's lock shared only with ``use_locking``.
"""

from __future__ import annotations

import re
from typing import Any

from corral.cmdlib.base import LogicalUnit, implements
from corral.cmdlib.common.tags import added_tags
from corral.errors import ErrorCode, OpPrereqError
from corral.locking.levels import Level
from corral.locking.plan import LockPlan, exclusive, shared
from corral.objects.base import ConfigObject, NamedObject
from corral.objects.config_data import ConfigData, Kind
from corral.opcodes.tags import OpTagsDel, OpTagsGet, OpTagsSearch, OpTagsSet, TagKind

_KINDS: dict[TagKind, tuple[Kind, Level | None, str]] = {
    TagKind.CLUSTER: (Kind.CLUSTER, None, "Cluster"),
    TagKind.NODE: (Kind.NODE, Level.NODE, "Node"),
    TagKind.NODEGROUP: (Kind.NODEGROUP, Level.NODEGROUP, "Node group"),
    TagKind.INSTANCE: (Kind.INSTANCE, Level.INSTANCE, "Instance"),
    TagKind.NETWORK: (Kind.NETWORK, Level.NETWORK, "Network"),
}
_LOCK_BY_NAME = frozenset({TagKind.NODE, TagKind.INSTANCE})
"""Node and instance locks are named after the object; group and network locks by UUID."""


def find_target(cfg: ConfigData, kind: TagKind, name: str | None) -> ConfigObject:
    """The tagged object.

    Raises:
        OpPrereqError: (NOENT) no such object; (INVAL) a name is missing.
    """
    store_kind, _, label = _KINDS[kind]
    if kind is TagKind.CLUSTER:
        return cfg.cluster
    if not name:
        raise OpPrereqError(f"Missing the name of the {label.lower()}", ErrorCode.INVAL)
    found = cfg.find(store_kind, name)
    if found is None:
        raise OpPrereqError(f"{label} '{name}' not known", ErrorCode.NOENT)
    return found


def lock_plan(target: ConfigObject, kind: TagKind, *, write: bool) -> LockPlan:
    """The object's lock (exclusive to ``write``) under the shared cluster lock.

    Cluster tags live in the cluster object, so writing them takes the cluster lock exclusively.
    """
    level = _KINDS[kind][1]
    if level is None:
        return LockPlan.of(exclusive_bgl=write)
    lock = target.name if kind in _LOCK_BY_NAME and isinstance(target, NamedObject) \
        else target.uuid
    return LockPlan.of({level: exclusive(lock) if write else shared(lock)})


class _TagsUnit(LogicalUnit[Any]):
    """Finds the target before locking and again, current, with the locks held."""

    REQ_BGL = False
    target: ConfigObject | None = None

    def expand_names(self) -> None:
        self.target = find_target(self.cfg, self.op.kind, self.op.name)

    def _refresh(self) -> ConfigObject:
        assert self.target is not None
        name = self.target.uuid if self.op.kind is not TagKind.CLUSTER else None
        self.target = find_target(self.cfg, self.op.kind, name)
        return self.target


@implements(OpTagsGet)
class LUTagsGet(_TagsUnit):
    """The object's tags, sorted."""

    op: OpTagsGet

    def declare_locks(self) -> LockPlan:
        if not self.op.use_locking or self.target is None:
            return LockPlan.of()
        return lock_plan(self.target, self.op.kind, write=False)

    async def exec(self) -> Any:
        return sorted(self._refresh().tags)


@implements(OpTagsSet)
class LUTagsSet(_TagsUnit):
    """Add tags to an object."""

    op: OpTagsSet

    def declare_locks(self) -> LockPlan:
        assert self.target is not None
        return lock_plan(self.target, self.op.kind, write=True)

    async def check_prereq(self) -> None:
        self.new_tags = added_tags(self._refresh().tags, self.op.tags)

    async def exec(self) -> Any:
        target = self._refresh()
        if self.new_tags != frozenset(target.tags):
            await self.commit(target.with_tags(self.new_tags, self.now()))
        return None


@implements(OpTagsDel)
class LUTagsDel(_TagsUnit):
    """Remove tags from an object; all of them must be present."""

    op: OpTagsDel

    def declare_locks(self) -> LockPlan:
        assert self.target is not None
        return lock_plan(self.target, self.op.kind, write=True)

    async def check_prereq(self) -> None:
        missing = sorted(set(self.op.tags) - set(self._refresh().tags))
        if missing:
            names = ", ".join(f"'{tag}'" for tag in missing)
            raise OpPrereqError(f"Tag(s) {names} not found", ErrorCode.NOENT)

    async def exec(self) -> Any:
        target = self._refresh()
        await self.commit(target.with_tags(set(target.tags) - set(self.op.tags), self.now()))
        return None


def search_targets(cfg: ConfigData) -> list[tuple[str, ConfigObject]]:
    """``(path, object)`` for the cluster, instances, nodes and node groups (Ganeti's order)."""
    targets: list[tuple[str, ConfigObject]] = [("/cluster", cfg.cluster)]
    for prefix, table in (("/instances", cfg.instances), ("/nodes", cfg.nodes),
                          ("/nodegroup", cfg.nodegroups)):
        named = sorted(table.values(), key=lambda obj: obj.name)
        targets.extend((f"{prefix}/{obj.name}", obj) for obj in named)
    return targets


@implements(OpTagsSearch)
class LUTagsSearch(LogicalUnit[OpTagsSearch]):
    """``[[path, tag], ...]`` for every tag matching a regular expression."""

    REQ_BGL = False

    def check_arguments(self) -> None:
        try:
            self.pattern = re.compile(self.op.pattern)
        except re.error as err:
            raise OpPrereqError(
                f"Invalid search pattern '{self.op.pattern}': {err}", ErrorCode.INVAL
            ) from None

    async def exec(self) -> Any:
        return [
            [path, tag]
            for path, obj in search_targets(self.cfg)
            for tag in sorted(obj.tags)
            if self.pattern.search(tag)
        ]
