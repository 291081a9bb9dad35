"""Node group units: add, remove, rename, assign nodes, set parameters.

Locks: add, remove, rename and assign-nodes take the cluster lock exclusively
(they check names or membership across all groups); set-params takes the
cluster lock shared and the group's lock exclusively.
"""

from __future__ import annotations

from typing import Any

from corral.cmdlib.base import HookObjectType, LogicalUnit, implements
from corral.cmdlib.common import hooks_env
from corral.cmdlib.common.parameters import checks as params
from corral.cmdlib.common.parameters import ipolicy
from corral.errors import ErrorCode, OpExecError, OpPrereqError
from corral.locking.levels import Level
from corral.locking.plan import LockPlan, exclusive
from corral.objects.base import new_uuid
from corral.objects.config_data import ConfigData, Kind
from corral.objects.instance import DiskTemplate
from corral.objects.names import InvalidName, check_name
from corral.objects.node import AllocPolicy, Node, NodeGroup
from corral.opcodes.group import (
    OpGroupAdd,
    OpGroupAssignNodes,
    OpGroupRemove,
    OpGroupRename,
    OpGroupSetParams,
)

_TEMPLATES = [t.value for t in DiskTemplate]


def alloc_policy(value: str) -> AllocPolicy:
    try:
        return AllocPolicy(value)
    except ValueError:
        choices = ", ".join(p.value for p in AllocPolicy)
        raise OpPrereqError(
            f"Invalid allocation policy '{value}', must be one of: {choices}", ErrorCode.INVAL
        ) from None


def check_group_name(name: str) -> None:
    """Refuse a new group name outside the name syntax ("Invalid group name 'a\\nb'")."""
    try:
        check_name(name, "group name")
    except InvalidName as err:
        raise OpPrereqError(str(err), ErrorCode.INVAL) from None


def check_group_options(op: OpGroupAdd | OpGroupSetParams) -> None:
    """Syntax checks shared by group add and group modify."""
    params.refuse_unsupported({"hv_state": op.hv_state, "disk_state": op.disk_state})
    if op.alloc_policy is not None:
        alloc_policy(op.alloc_policy)
    if op.ndparams:
        params.check_types(params.merge_params({}, op.ndparams), params.ND_TYPES, "node")


def split_instances(cfg: ConfigData, moves: dict[str, str]) -> tuple[list[str], list[str]]:
    """Mirrored instances that ``moves`` (node → group) would split, and those already split.

    Returns sorted instance names: (newly split, split before and after).
    """
    def group_of(node_uuid: str, after: bool) -> str:
        node = cfg.nodes.get(node_uuid)
        current = node.group if node else ""
        return moves.get(node_uuid, current) if after else current

    new, previous = [], []
    for inst in cfg.instances.values():
        secondaries = cfg.instance_secondary_nodes(inst)
        if not secondaries:
            continue
        nodes = [inst.primary_node, *secondaries]
        before = len({group_of(n, False) for n in nodes}) > 1
        after = len({group_of(n, True) for n in nodes}) > 1
        if after and not before:
            new.append(inst.name)
        elif after:
            previous.append(inst.name)
    return sorted(new), sorted(previous)


class _MasterHooks(LogicalUnit[Any]):
    """Group units whose hooks run on the master only and see ``GROUP_NAME``."""

    HTYPE = HookObjectType.GROUP

    def hooks_env(self) -> dict[str, Any]:
        return hooks_env.group_env(self.op.group_name)

    def hooks_nodes(self) -> tuple[list[Node], list[Node]]:
        master = [self.cfg.master_node]
        return master, master


@implements(OpGroupAdd)
class LUGroupAdd(_MasterHooks):
    """Create a node group."""

    HPATH = "group-add"
    op: OpGroupAdd

    def check_arguments(self) -> None:
        check_group_name(self.op.group_name)
        check_group_options(self.op)

    async def check_prereq(self) -> None:
        existing = self.cfg.group_by_name(self.op.group_name)
        if existing is not None:
            raise OpPrereqError(
                f"Desired group name '{self.op.group_name}' already exists as a node group"
                f" (UUID: {existing.uuid})", ErrorCode.EXISTS,
            )

    async def exec(self) -> Any:
        op, now = self.op, self.now()
        group = NodeGroup(
            uuid=new_uuid(), name=op.group_name, ctime=now, mtime=now,
            alloc_policy=alloc_policy(op.alloc_policy or AllocPolicy.PREFERRED.value),
            ndparams=params.merge_params({}, op.ndparams or {}),
            diskparams=params.merge_nested({}, op.diskparams or {}, _TEMPLATES, "disk template"),
            ipolicy=ipolicy.updated_policy({}, op.ipolicy or {}, group=True),
        )
        await self.commit(group)
        return None


@implements(OpGroupRemove)
class LUGroupRemove(_MasterHooks):
    """Delete an empty node group that is not the last one."""

    HPATH = "group-remove"
    op: OpGroupRemove

    async def check_prereq(self) -> None:
        group = self.expand_group(self.op.group_name)
        members = sorted(n.name for n in self.cfg.group_nodes(group.uuid))
        if members:
            raise OpPrereqError(
                f"Group '{group.name}' not empty, has the following node(s): "
                + ", ".join(members), ErrorCode.STATE,
            )
        if len(self.cfg.nodegroups) == 1:
            raise OpPrereqError(
                f"Group '{group.name}' is the only group, cannot be removed", ErrorCode.STATE
            )
        self.group = group

    async def exec(self) -> Any:
        await self.commit(removed=[(Kind.NODEGROUP, self.group.uuid)])
        return None


@implements(OpGroupRename)
class LUGroupRename(LogicalUnit[OpGroupRename]):
    """Rename a node group; returns the new name."""

    HPATH = "group-rename"
    HTYPE = HookObjectType.GROUP

    group: NodeGroup | None = None

    def check_arguments(self) -> None:
        check_group_name(self.op.new_name)

    async def check_prereq(self) -> None:
        self.group = self.expand_group(self.op.group_name)
        clash = self.cfg.group_by_name(self.op.new_name)
        if clash is not None:
            raise OpPrereqError(
                f"Desired new name '{self.op.new_name}' clashes with existing node group"
                f" {clash.name} (UUID: {clash.uuid})", ErrorCode.EXISTS,
            )

    def hooks_env(self) -> dict[str, Any]:
        return {"OLD_NAME": self.op.group_name, "NEW_NAME": self.op.new_name}

    def hooks_nodes(self) -> tuple[list[Node], list[Node]]:
        members = self.cfg.group_nodes(self.group.uuid) if self.group else []
        nodes = hooks_env.master_and(self.cfg, *hooks_env.sorted_nodes(members))
        return nodes, nodes

    async def exec(self) -> Any:
        assert self.group is not None
        await self.commit(self.group.evolve(self.now(), name=self.op.new_name))
        return self.op.new_name


@implements(OpGroupAssignNodes)
class LUGroupAssignNodes(LogicalUnit[OpGroupAssignNodes]):
    """Move nodes into a group; refuses to split mirrored instances unless forced."""

    group: NodeGroup | None = None

    async def check_prereq(self) -> None:
        group = self.expand_group(self.op.group_name)
        names = self.op.node_uuids or self.op.nodes
        self.nodes = [self.expand_node(name) for name in names]
        moves = {n.uuid: group.uuid for n in self.nodes}
        new, previous = split_instances(self.cfg, moves)
        if new and not self.op.force:
            raise OpExecError(
                "The following instances get split by this change and --force was not"
                f" given: {', '.join(new)}"
            )
        if new:
            self.log_warning(f"This operation will split the following instances: {', '.join(new)}")
            if previous:
                self.log_warning("In addition, these already-split instances continue to be"
                                 f" split across groups: {', '.join(previous)}")
        self.group = group

    async def exec(self) -> Any:
        assert self.group is not None
        now, uuid = self.now(), self.group.uuid
        moved = [n.evolve(now, group=uuid) for n in self.nodes if n.group != uuid]
        if moved:
            await self.commit(*moved)
        return None


@implements(OpGroupSetParams)
class LUGroupSetParams(_MasterHooks):
    """Change a group's allocation policy and parameters; returns the changes."""

    HPATH = "group-modify"
    REQ_BGL = False
    op: OpGroupSetParams
    new_ipolicy: dict[str, Any] | None = None

    def check_arguments(self) -> None:
        op = self.op
        if all(v is None for v in (op.alloc_policy, op.ndparams, op.diskparams, op.ipolicy,
                                   op.hv_state, op.disk_state)):
            raise OpPrereqError("Please pass at least one modification", ErrorCode.INVAL)
        check_group_options(op)

    def expand_names(self) -> None:
        self.group = self.expand_group(self.op.group_name)

    def declare_locks(self) -> LockPlan:
        return LockPlan.of({Level.NODEGROUP: exclusive(self.group.uuid)})

    async def check_prereq(self) -> None:
        self.group = self.expand_group(self.group.uuid)
        self.new_ipolicy = self._new_policy(self.op.ipolicy) if self.op.ipolicy else None

    def _new_policy(self, changes: dict[str, Any]) -> dict[str, Any]:
        """The group's new own policy; warns about instances it makes violate the policy."""
        cfg, group = self.cfg, self.group
        own = ipolicy.updated_policy(group.ipolicy, changes, group=True)
        members = {n.uuid for n in cfg.group_nodes(group.uuid)}
        instances = [i for i in cfg.instances.values() if i.primary_node in members]
        new = ipolicy.group_policy(cfg, group, own)
        old = ipolicy.group_policy(cfg, group)
        names = (ipolicy.violating_instances(cfg, instances, lambda _i: new)
                 - ipolicy.violating_instances(cfg, instances, lambda _i: old))
        if names:
            self.log_warning(ipolicy.new_violations_message(names))
        return own

    def hooks_env(self) -> dict[str, Any]:
        return {**super().hooks_env(), "NEW_ALLOC_POLICY": self.op.alloc_policy}

    async def exec(self) -> Any:
        op, group = self.op, self.group
        changes: dict[str, Any] = {}
        if op.ndparams:
            changes["ndparams"] = params.merge_params(group.ndparams, op.ndparams)
        if op.diskparams:
            changes["diskparams"] = params.merge_nested(
                group.diskparams, op.diskparams, _TEMPLATES, "disk template"
            )
        if op.alloc_policy is not None:
            changes["alloc_policy"] = alloc_policy(op.alloc_policy)
        if self.new_ipolicy is not None:
            changes["ipolicy"] = self.new_ipolicy
        if changes:
            await self.commit(group.evolve(self.now(), **changes))
        return [[key, str(value)] for key, value in changes.items()]
