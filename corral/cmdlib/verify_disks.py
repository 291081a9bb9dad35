"""Disk verification: which instances need their disks activated (used by the watcher);
degraded mirrors are reported as job log warnings (``Instance X has degraded disks``)."""

from __future__ import annotations

from typing import Any

from corral.cmdlib.base import LogicalUnit, implements
from corral.cmdlib.common.instances.disk_health import check_mirrors, report_degraded
from corral.cmdlib.common.instances.volume_check import missing_volumes
from corral.locking.plan import LockPlan
from corral.objects.instance import AdminState
from corral.opcodes.cluster import OpClusterVerifyDisks
from corral.opcodes.group import OpGroupVerifyDisks


@implements(OpClusterVerifyDisks)
class LUClusterVerifyDisks(LogicalUnit[OpClusterVerifyDisks]):
    """Fans out one OP_GROUP_VERIFY_DISKS job per node group (Ganeti's ResultWithJobs)."""

    REQ_BGL = False

    def declare_locks(self) -> LockPlan:
        return LockPlan.of()

    async def exec(self) -> Any:
        groups = list(self.cfg.nodegroups.values())
        if self.op.group_name is not None:
            groups = [self.expand_group(self.op.group_name)]
        jobs = [
            [
                {
                    "OP_ID": "OP_GROUP_VERIFY_DISKS",
                    "group_name": g.uuid,
                    "is_strict": self.op.is_strict,
                }
            ]
            for g in sorted(groups, key=lambda g: g.name)
        ]
        return {"jobs": jobs}


@implements(OpGroupVerifyDisks)
class LUGroupVerifyDisks(LogicalUnit[OpGroupVerifyDisks]):
    """Ganeti's answer: (node errors by node name, instances whose disks need activating,
    missing volumes)."""

    REQ_BGL = False

    def declare_locks(self) -> LockPlan:
        return LockPlan.of()

    async def exec(self) -> Any:
        group = self.expand_group(self.op.group_name)
        nodes = {n.uuid for n in self.cfg.group_nodes(group.uuid)}
        instances = [i for i in self.cfg.instances.values() if i.primary_node in nodes]
        inactive = {
            inst.name for inst in instances
            if inst.admin_state is AdminState.UP and inst.disks and not inst.disks_active
        }
        health = await check_mirrors(self, instances)
        report_degraded(self, health)
        missing = await missing_volumes(self, instances, health.node_errors)
        return [health.node_errors, sorted(inactive | health.needs_activation), missing]
