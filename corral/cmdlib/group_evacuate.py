"""``gnt-group evacuate``: the follow-up jobs that move every instance out of a node group.

The allocator (the one given, else the cluster's default, else Corral's own) answers a
``change-group`` request for the group's instances, into ``target_groups`` or any other
group. ``force_failover`` turns its migrations into failovers (moves for node-local
disks); ``sequential`` makes each job wait for the previous one (``depends`` on it, whatever
its outcome), as in Ganeti.
"""

from __future__ import annotations

from typing import Any

import msgspec

from corral.cmdlib.base import HookObjectType, LogicalUnit, implements
from corral.cmdlib.common import hooks_env
from corral.cmdlib.common.evacuation import (
    Jobs,
    load_evacuation,
    log_jobs,
    result_with_jobs,
    run_evacuation,
)
from corral.cmdlib.common.iallocation import allocator_name
from corral.errors import ErrorCode, OpPrereqError
from corral.iallocator import moves
from corral.iallocator import protocol as proto
from corral.locking.levels import ALL_SET, Level
from corral.locking.plan import LevelRequest, LockPlan, shared
from corral.objects.config_data import ConfigData
from corral.objects.instance import Instance
from corral.objects.node import Node, NodeGroup
from corral.opcodes.base import OpCode
from corral.opcodes.mobility import (
    OpGroupEvacuate,
    OpInstanceFailover,
    OpInstanceMigrate,
    OpInstanceMove,
)

FINISHED = ["error", "success"]
"""``depends`` statuses of a sequential evacuation: the previous job has ended."""


def instance_groups(cfg: ConfigData, inst: Instance) -> set[str]:
    """UUIDs of the groups of the instance's nodes."""
    nodes = [inst.primary_node, *cfg.instance_secondary_nodes(inst)]
    return {cfg.nodes[n].group for n in nodes if n in cfg.nodes}


def group_lock_plan(cfg: ConfigData, instances: list[Instance],
                    groups: set[str] | None) -> LockPlan:
    """Shared locks on ``instances``, on ``groups`` (``None``: all) and their nodes."""
    requests: dict[Level, LevelRequest] = {Level.INSTANCE: shared(i.name for i in instances)}
    if groups is None:
        requests[Level.NODEGROUP] = shared(ALL_SET)
        requests[Level.NODE] = shared(ALL_SET)
    else:
        requests[Level.NODEGROUP] = shared(groups)
        requests[Level.NODE] = shared(n.name for n in cfg.nodes.values() if n.group in groups)
    return LockPlan.of(requests)


def _without_migration(cfg: ConfigData, op: OpCode) -> OpCode:
    """A migration as a failover (``force_failover``); as a move for node-local disks,
    which a failover cannot take along."""
    if not isinstance(op, OpInstanceMigrate):
        return op
    inst = cfg.instance_by_name(op.instance_name)
    if inst is not None and op.target_node and inst.disk_template.value in moves.NODE_LOCAL:
        return OpInstanceMove(instance_name=op.instance_name, target_node=op.target_node,
                              ignore_ipolicy=op.ignore_ipolicy, depends=op.depends)
    return OpInstanceFailover(instance_name=op.instance_name, instance_uuid=op.instance_uuid,
                              target_node=op.target_node, ignore_ipolicy=op.ignore_ipolicy,
                              iallocator=op.iallocator, depends=op.depends)


@implements(OpGroupEvacuate)
class LUGroupEvacuate(LogicalUnit[OpGroupEvacuate]):
    """Yields one job per instance to move out of the group."""

    HPATH = "group-evacuate"
    HTYPE = HookObjectType.GROUP
    REQ_BGL = False

    group: NodeGroup | None = None
    wanted: tuple[NodeGroup, ...] = ()
    targets: tuple[NodeGroup, ...] = ()
    instances: tuple[Instance, ...] = ()

    @property
    def the_group(self) -> NodeGroup:
        assert self.group is not None, "group not resolved yet"
        return self.group

    def expand_names(self) -> None:
        self.group = self.expand_group(self.op.group_name)
        self.wanted = tuple(self.expand_group(g) for g in self.op.target_groups or [])
        if self.group.uuid in {g.uuid for g in self.wanted}:
            raise OpPrereqError(
                f"Group to be evacuated ({self.group.name}) can not be used as a target group"
                f" (targets are {', '.join(g.name for g in self.wanted)})", ErrorCode.INVAL)
        self.instances = self._affected()

    def _affected(self) -> tuple[Instance, ...]:
        found = [i for i in self.cfg.instances.values()
                 if self.the_group.uuid in instance_groups(self.cfg, i)]
        return tuple(sorted(found, key=lambda i: i.name))

    def declare_locks(self) -> LockPlan:
        if not self.wanted:
            return group_lock_plan(self.cfg, list(self.instances), None)
        groups = {self.the_group.uuid, *(g.uuid for g in self.wanted)}
        for inst in self.instances:
            groups |= instance_groups(self.cfg, inst)
        return group_lock_plan(self.cfg, list(self.instances), groups)

    async def check_prereq(self) -> None:
        group = self.group = self.expand_group(self.the_group.uuid)
        before = {i.name for i in self.instances}
        self.instances = self._affected()
        now = {i.name for i in self.instances}
        if now != before:
            raise OpPrereqError(
                f"Instances in node group '{group.name}' changed since locks were acquired,"
                f" current instances are '{', '.join(sorted(now))}', used to be"
                f" '{', '.join(sorted(before))}'; retry the operation", ErrorCode.STATE)
        if self.wanted:
            self.targets = tuple(self.expand_group(g.uuid) for g in self.wanted)
        else:
            self.targets = tuple(sorted((g for g in self.cfg.nodegroups.values()
                                         if g.uuid != group.uuid), key=lambda g: g.name))
        if not self.targets:
            raise OpPrereqError("There are no possible target groups", ErrorCode.INVAL)

    def hooks_env(self) -> dict[str, Any]:
        env = hooks_env.group_env(self.the_group.name)
        env["TARGET_GROUPS"] = " ".join(g.uuid for g in self.targets)
        return env

    def hooks_nodes(self) -> tuple[list[Node], list[Node]]:
        nodes = hooks_env.master_and(self.cfg, *hooks_env.sorted_nodes(
            self.cfg.group_nodes(self.the_group.uuid)))
        return nodes, nodes

    async def exec(self) -> Any:
        group = self.the_group
        if not self.instances:
            self.log_info(f"No instances to evacuate from node group {group.name}")
            return result_with_jobs([])
        name = allocator_name(self, self.op.iallocator)
        request = proto.change_group_request([i.name for i in self.instances],
                                             [g.uuid for g in self.targets])
        evac = await run_evacuation(self, name, request, self.instances,
                                    "Can't compute group evacuation")
        jobs = load_evacuation(self, evac, early_release=self.op.early_release,
                               use_nodes=False)
        self.log_info(f"Iallocator returned {len(jobs)} job(s) for evacuating node group"
                      f" {group.name}")
        return result_with_jobs(self._shape(jobs))

    def _shape(self, jobs: Jobs) -> Jobs:
        if self.op.force_failover:
            self.log_info("Will insist on failovers")
            jobs = [[_without_migration(self.cfg, op) for op in job] for job in jobs]
        log_jobs(self, jobs)
        if self.op.sequential:
            self.log_info("Jobs will be submitted to run sequentially")
            previous: list[tuple[int | str, list[str]]] = [(-1, FINISHED)]
            jobs = [job if index == 0 else
                    [msgspec.structs.replace(op, depends=previous) for op in job]
                    for index, job in enumerate(jobs)]
        return jobs

