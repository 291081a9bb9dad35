"""Generic query logical units (OP_QUERY, OP_QUERY_FIELDS)."""

from __future__ import annotations

from typing import Any

from corral.cmdlib.base import LogicalUnit, implements
from corral.cmdlib.query_runner import run_query
from corral.locking.plan import LockPlan
from corral.opcodes.query import OpQuery, OpQueryFields
from corral.query import query_fields


@implements(OpQuery)
class LUQuery(LogicalUnit[OpQuery]):
    """Answers a query on a resource; live node data is fetched when asked for."""

    REQ_BGL = False

    def declare_locks(self) -> LockPlan:
        return LockPlan.of()

    async def exec(self) -> Any:
        return await run_query(self.ctx, self.op.what, self.op.fields, self.op.qfilter)


@implements(OpQueryFields)
class LUQueryFields(LogicalUnit[OpQueryFields]):
    """Describes the fields of a resource."""

    REQ_BGL = False

    def declare_locks(self) -> LockPlan:
        return LockPlan.bare()

    async def exec(self) -> Any:
        return query_fields(self.op.what, self.op.fields)
