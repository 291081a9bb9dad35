"""Failing an instance over (Ganeti's TLMigrateInstance, failover part): stop it on its
node, move it to another node whose view of the (shared) disks is the same, start it
there if it should run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.instances.bundle import build_bundle, instance_disks
from corral.cmdlib.common.instances.disks import assemble_disks, shutdown_disks
from corral.cmdlib.common.instances.drbd_mobility import check_failover_consistency
from corral.cmdlib.common.instances.relocation import moved_to
from corral.errors import OpExecError
from corral.objects.instance import AdminState, Instance
from corral.objects.node import Node


@dataclass(frozen=True)
class FailoverPlan:
    instance: Instance
    source: Node
    target: Node
    shutdown_timeout: int
    ignore_consistency: bool
    reason: list[Any]


async def fail_over(lu: LogicalUnit[Any], plan: FailoverPlan) -> None:
    """Fail ``plan.instance`` over to ``plan.target``.

    Raises:
        OpExecError: the instance could not be stopped on its node (nothing changed), its
            disks could not be released, or it could not be started on the target
            (it is then on the target, stopped).
    """
    inst = plan.instance
    lu.log_info(f"Failover instance {inst.name}")
    await check_failover_consistency(lu, inst, plan.source, plan.target,
                                     plan.ignore_consistency)
    if inst.admin_state is AdminState.UP:
        await _stop_on_source(lu, plan)
    if inst.admin_state is AdminState.UP or inst.disks_active:
        lu.log_info("* deactivating the instance's disks on source node")
        if not await shutdown_disks(lu, inst, instance_disks(lu.cfg, inst),
                                    ignore_primary=True):
            raise OpExecError("Can't shut down the instance's disks")
    moved, disks = moved_to(lu.cfg, lu.cfg.instances.get(inst.uuid, inst), plan.source.uuid,
                            plan.target.uuid, lu.now())
    moved = moved.evolve(lu.now(), disks_active=False)
    await lu.commit(moved, *disks)
    if moved.admin_state is AdminState.UP:
        await _start_on_target(lu, plan, moved)


async def _stop_on_source(lu: LogicalUnit[Any], plan: FailoverPlan) -> None:
    inst, source = plan.instance, plan.source
    if source.offline:
        lu.log_warning(f"Node {source.name} is offline: not shutting down instance"
                       f" {inst.name} there; please make sure node {source.name} is down")
        return
    lu.log_info("* shutting down instance on source node")
    result = await lu.ctx.rpc.instance_shutdown(source, build_bundle(lu.cfg, inst),
                                                float(plan.shutdown_timeout), plan.reason)
    if result.ok:
        return
    if not plan.ignore_consistency:
        raise OpExecError(f"Could not shutdown instance {inst.name} on node {source.name}:"
                          f" {result.fail_msg}")
    lu.log_warning(f"Could not shutdown instance {inst.name} on node {source.name},"
                   f" proceeding anyway; please make sure node {source.name} is down;"
                   f" error details: {result.fail_msg}")


async def _start_on_target(lu: LogicalUnit[Any], plan: FailoverPlan, inst: Instance) -> None:
    target = plan.target
    disks = instance_disks(lu.cfg, inst)
    lu.log_info(f"* activating the instance's disks on target node {target.name}")
    await assemble_disks(lu, inst, disks, error="Can't activate the instance's disks",
                         ignore_secondaries=True)
    lu.log_info(f"* starting the instance on the target node {target.name}")
    result = await lu.ctx.rpc.instance_start(target, build_bundle(lu.cfg, inst), False,
                                             plan.reason)
    if not result.ok:
        await shutdown_disks(lu, inst, disks)
        raise OpExecError(f"Could not start instance {inst.name} on node {target.name}:"
                          f" {result.fail_msg}; it is now on node {target.name}, stopped")
    current = lu.cfg.instances.get(inst.uuid, inst)
    await lu.commit(current.evolve(lu.now(), disks_active=True))
