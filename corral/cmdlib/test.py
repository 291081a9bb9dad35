"""Testing logical units (``gnt-debug delay``)."""

from __future__ import annotations

import asyncio
from typing import Any

from corral.cmdlib.base import LogicalUnit, implements
from corral.errors import ErrorCode, OpExecError, OpPrereqError
from corral.locking.levels import Level
from corral.locking.plan import LockPlan, exclusive
from corral.objects.node import Node
from corral.opcodes.test import OpTestDelay, OpTestJqueue


@implements(OpTestDelay)
class LUTestDelay(LogicalUnit[OpTestDelay]):
    """Sleeps on the master and/or on nodes, optionally holding their node locks."""

    REQ_BGL = False

    def check_arguments(self) -> None:
        if self.op.duration <= 0:
            raise OpPrereqError("Duration must be greater than zero", ErrorCode.INVAL)

    def expand_names(self) -> None:
        self.nodes: list[Node] = [self.expand_node(name) for name in self.op.on_nodes]

    def declare_locks(self) -> LockPlan:
        if self.op.no_locks:
            return LockPlan.of()
        names = {n.name for n in self.nodes}
        if self.op.on_master:
            names.add(self.cfg.master_node.name)
        return LockPlan.of().with_level(Level.NODE, exclusive(names))

    async def exec(self) -> Any:
        for _ in range(max(self.op.repeat, 1)):
            await self._delay_once()
        return None

    async def _delay_once(self) -> None:
        waits = []
        if self.op.on_master:
            waits.append(self.ctx.clock.sleep(self.op.duration))
        if self.nodes:
            waits.append(self._delay_on_nodes())
        await asyncio.gather(*waits)

    async def _delay_on_nodes(self) -> None:
        results = await self.ctx.rpc.test_delay(
            self.nodes, self.op.duration, rpc_timeout=self.op.duration + 60
        )
        for result in results.values():
            if not result.ok:
                raise OpExecError(f"Failure during rpc call to {result.node}: {result.fail_msg}")


@implements(OpTestJqueue)
class LUTestJqueue(LogicalUnit[OpTestJqueue]):
    """Writes the given messages to the job log, and fails when asked to."""

    REQ_BGL = False

    def declare_locks(self) -> LockPlan:
        return LockPlan.bare()

    async def exec(self) -> Any:
        for message in self.op.log_messages:
            self.log_info(message)
        if self.op.fail:
            raise OpExecError("Opcode failure was requested")
        return True
