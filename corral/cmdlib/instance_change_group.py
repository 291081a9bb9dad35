"""``gnt-instance change-group``: the follow-up job that moves an instance to another group.

The allocator (the one given, else the cluster's default, else Corral's own) answers a
``change-group`` request: into ``target_groups``, or any group the instance does not use.
Its job migrates the instance when it runs and can be migrated, else fails it over or
moves it (see :mod:`corral.iallocator.moves`).
"""

from __future__ import annotations

from typing import Any

from corral.cmdlib.base import HookObjectType, LogicalUnit, implements
from corral.cmdlib.common import hooks_env
from corral.cmdlib.common.evacuation import (
    load_evacuation,
    log_jobs,
    result_with_jobs,
    run_evacuation,
)
from corral.cmdlib.common.iallocation import allocator_name
from corral.cmdlib.common.instances.base_lu import find_instance
from corral.cmdlib.common.instances.bundle import (
    filled_beparams,
    filled_hvparams,
    instance_disks,
)
from corral.cmdlib.group_evacuate import group_lock_plan, instance_groups
from corral.errors import ErrorCode, OpPrereqError
from corral.iallocator import protocol as proto
from corral.locking.plan import LockPlan
from corral.objects.instance import Instance
from corral.objects.node import Node, NodeGroup
from corral.opcodes.mobility import OpInstanceChangeGroup


@implements(OpInstanceChangeGroup)
class LUInstanceChangeGroup(LogicalUnit[OpInstanceChangeGroup]):
    """Yields the job that moves one instance into another node group."""

    HPATH = "instance-change-group"
    HTYPE = HookObjectType.INSTANCE
    REQ_BGL = False

    instance: Instance | None = None
    wanted: tuple[NodeGroup, ...] = ()
    targets: tuple[NodeGroup, ...] = ()

    @property
    def inst(self) -> Instance:
        assert self.instance is not None, "instance not resolved yet"
        return self.instance

    def expand_names(self) -> None:
        self.instance = find_instance(self.cfg, self.op.instance_name, self.op.instance_uuid)
        self.wanted = tuple(self.expand_group(g) for g in self.op.target_groups or [])

    def declare_locks(self) -> LockPlan:
        if not self.wanted:
            return group_lock_plan(self.cfg, [self.inst], None)
        groups = {g.uuid for g in self.wanted} | instance_groups(self.cfg, self.inst)
        return group_lock_plan(self.cfg, [self.inst], groups)

    async def check_prereq(self) -> None:
        inst = self.instance = find_instance(self.cfg, self.op.instance_name, self.inst.uuid)
        own = instance_groups(self.cfg, inst)
        if self.wanted:
            targets = [self.expand_group(g.uuid) for g in self.wanted]
        else:
            targets = [g for g in self.cfg.nodegroups.values() if g.uuid not in own]
        conflicting = sorted(g.name for g in targets if g.uuid in own)
        if conflicting:
            raise OpPrereqError(f"Can't use group(s) '{', '.join(conflicting)}' as targets,"
                                f" they are used by the instance '{inst.name}'",
                                ErrorCode.INVAL)
        if not targets:
            raise OpPrereqError("There are no possible target groups", ErrorCode.INVAL)
        self.targets = tuple(sorted(targets, key=lambda g: g.name))

    def hooks_env(self) -> dict[str, Any]:
        inst = self.cfg.instances.get(self.inst.uuid, self.inst)
        cluster = self.cfg.cluster
        env = hooks_env.instance_env(
            self.cfg, inst, instance_disks(self.cfg, inst),
            bep=filled_beparams(cluster, inst.beparams),
            hvp=filled_hvparams(cluster, inst.hypervisor, inst.os, inst.hvparams))
        env["TARGET_GROUPS"] = " ".join(g.uuid for g in self.targets)
        return env

    def hooks_nodes(self) -> tuple[list[Node], list[Node]]:
        master = [self.cfg.master_node]
        return master, master

    async def exec(self) -> Any:
        inst = self.inst
        name = allocator_name(self, self.op.iallocator)
        request = proto.change_group_request([inst.name], [g.uuid for g in self.targets])
        evac = await run_evacuation(
            self, name, request, [inst],
            f"Can't compute solution for changing group of instance '{inst.name}'")
        jobs = load_evacuation(self, evac, early_release=self.op.early_release,
                               use_nodes=False)
        self.log_info(f"Iallocator returned {len(jobs)} job(s) for changing group of"
                      f" instance '{inst.name}'")
        log_jobs(self, jobs)
        return result_with_jobs(jobs)
