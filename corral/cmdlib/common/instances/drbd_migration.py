"""Live migration of DRBD instances and its cleanup: the shared migration
(:mod:`migration`, :mod:`migration_cleanup`) with the DRBD steps of
:mod:`drbd_mobility` around it. No disk is copied: the target holds the data."""

from __future__ import annotations

from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.instances.drbd_mobility import DrbdSteps, check_migration_consistency
from corral.cmdlib.common.instances.migration import Migration, MigrationAborted, MigrationPlan
from corral.cmdlib.common.instances.migration_cleanup import clean_up
from corral.errors import OpExecError
from corral.objects.instance import Instance
from corral.objects.node import Node


class DrbdMigration(Migration):
    """A migration whose disks go dual-primary for the transfer, single-primary after."""

    def __init__(self, lu: LogicalUnit[Any], plan: MigrationPlan) -> None:
        super().__init__(lu, plan)
        self.steps = DrbdSteps(lu, plan.instance, (plan.source, plan.target))
        self.touched = False  # the disks left single-primary: an abort brings them back

    async def _fit_memory(self) -> None:
        await check_migration_consistency(self.lu, self.inst, self.plan.target)
        await super()._fit_memory()

    async def _prepare_disks(self) -> None:
        """Dual-primary on both nodes (after the source answered ``migration_info``)."""
        plan, steps = self.plan, self.steps
        self.touched = True
        try:
            await steps.close(plan.target)
            await steps.standalone()
            await steps.reconnect(multimaster=True)
            await steps.wait_sync()
            await steps.open(plan.source, exclusive=False)
            await steps.open(plan.target, exclusive=False)
        except OpExecError as err:
            raise MigrationAborted(str(err)) from None

    async def abort(self) -> None:
        await super().abort()
        if self.touched:
            await self.steps.revert(self.plan.target)

    async def _switch(self) -> None:
        await super()._switch()
        await self.steps.close(self.plan.source)
        await self.steps.single_master()


async def drbd_clean_up(lu: LogicalUnit[Any], inst: Instance, source: Node,
                        target: Node) -> None:
    """``migrate --cleanup`` of a DRBD instance: settle where it runs (the configuration
    follows), then make the other node secondary and reconnect single-primary.

    Raises:
        OpExecError: as :func:`clean_up`, or a DRBD step failed.
    """
    await clean_up(lu, inst, source, [target])
    current = lu.cfg.instances.get(inst.uuid, inst)
    demoted = target if current.primary_node == source.uuid else source
    steps = DrbdSteps(lu, current, (source, target))
    await steps.close(demoted)
    try:
        await steps.wait_sync()
    except OpExecError:
        pass  # a StandAlone device cannot sync: reconnecting is what follows
    await steps.standalone()
    await steps.reconnect(multimaster=False)
    await steps.wait_sync()
