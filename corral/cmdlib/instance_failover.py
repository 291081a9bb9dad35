"""``gnt-instance failover``: stop the instance on its node (unless that node is dead)
and start it on another node that sees the same (shared) disks, or (DRBD) on the
secondary node, which becomes the primary.

Node-local disks have no copy elsewhere: such instances are refused (``gnt-instance
move`` copies them). See ``common/instances/failover.py`` for the steps.
"""

from __future__ import annotations

from typing import Any

from corral.cmdlib.base import implements
from corral.cmdlib.common.allocation import check_free_memory
from corral.cmdlib.common.instances.failover import FailoverPlan, fail_over
from corral.cmdlib.common.instances.mirror_mobility import choose_target
from corral.cmdlib.common.instances.mobility import CAN_FAIL_OVER, MobilityLU
from corral.cmdlib.instance_migrate import failover_refusal
from corral.errors import ErrorCode, OpPrereqError
from corral.objects.instance import AdminState
from corral.opcodes.mobility import OpInstanceFailover


@implements(OpInstanceFailover)
class LUInstanceFailover(MobilityLU):
    """Failover to ``target_node`` or to the node an allocator picks."""

    HPATH = "instance-failover"
    op: OpInstanceFailover
    VERB = "fail over"

    async def check_prereq(self) -> None:
        await super().check_prereq()
        inst = self.inst
        if inst.disk_template not in CAN_FAIL_OVER:
            raise failover_refusal(inst.disk_template.value)
        if self.op.cleanup:
            raise OpPrereqError("Failover has nothing to clean up; use 'gnt-instance migrate"
                                " --cleanup' after an interrupted migration",
                                ErrorCode.INVAL)
        self.target = await choose_target(self)
        self.check_target_node(self.target)
        self.keep_node_locks(self.primary(), self.target)
        if inst.admin_state is AdminState.UP:
            await check_free_memory(self, self.target, f"migrating instance {inst.name}",
                                    self.minmem(), inst.hypervisor)
        else:
            self.log_info("Not checking memory on the secondary node as instance will not"
                          " be started")

    def hooks_env(self) -> dict[str, Any]:
        return {**super().hooks_env(), "IGNORE_CONSISTENCY": self.op.ignore_consistency,
                "SHUTDOWN_TIMEOUT": self.op.shutdown_timeout,
                "FAILOVER_CLEANUP": self.op.cleanup, **self.move_env()}

    async def exec(self) -> Any:
        assert self.target is not None
        await fail_over(self, FailoverPlan(
            instance=self.inst, source=self.source or self.primary(), target=self.target,
            shutdown_timeout=self.op.shutdown_timeout,
            ignore_consistency=self.op.ignore_consistency, reason=self.op.reason))
        return None
