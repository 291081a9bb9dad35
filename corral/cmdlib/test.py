"""Testing logical units (``gnt-debug delay``, ``gnt-debug iallocator``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from corral.cmdlib.base import LogicalUnit, implements
from corral.cmdlib.common import iallocation
from corral.errors import ErrorCode, OpExecError, OpPrereqError
from corral.iallocator import protocol as proto
from corral.locking.levels import Level
from corral.locking.plan import LockPlan, exclusive
from corral.objects.node import Node
from corral.opcodes.test import OpTestAllocator, OpTestDelay, OpTestJqueue


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


DIRECTIONS = ("in", "out")


@implements(OpTestAllocator)
class LUTestAllocator(LogicalUnit[OpTestAllocator]):
    """Returns the request document (``in``) or the allocator's answer (``out``) as text."""

    REQ_BGL = False

    def check_arguments(self) -> None:
        op = self.op
        if op.direction not in DIRECTIONS:
            raise OpPrereqError(f"Invalid direction '{op.direction}'", ErrorCode.INVAL)
        if op.mode not in proto.MODES:
            raise OpPrereqError(f"Invalid allocator mode '{op.mode}'", ErrorCode.INVAL)
        if op.mode == proto.ALLOCATE:
            for name in ("memory", "disks", "disk_template", "os", "vcpus"):
                if getattr(op, name) is None:
                    raise OpPrereqError(f"Missing attribute '{name}' on opcode input",
                                        ErrorCode.INVAL)
        if op.direction == "out" and not op.iallocator:
            raise OpPrereqError("Missing allocator name", ErrorCode.INVAL)

    def _request(self) -> dict[str, Any]:
        op = self.op
        hypervisor = op.hypervisor or self.cfg.cluster.default_hypervisor
        if op.mode == proto.ALLOCATE:
            return proto.allocate_request(
                name=op.name, disk_template=op.disk_template or "diskless",
                memory=op.memory or 0, vcpus=op.vcpus or 1, spindle_use=op.spindle_use,
                disks=list(op.disks or []), nics=list(op.nics or []), os=op.os or "",
                hypervisor=hypervisor, tags=op.tags, group_name=op.group_name)
        if op.mode == proto.RELOCATE:
            inst = self.cfg.instance_by_name(op.name)
            if inst is None:
                raise OpPrereqError(f"Instance '{op.name}' not found", ErrorCode.NOENT)
            entry = proto.cluster_data(self.cfg, {})["instances"][inst.name]
            return {"type": op.mode, "name": inst.name, "required_nodes": 1,
                    "disk_space_total": entry["disk_space_total"],
                    "relocate_from": entry["nodes"][1:]}
        if op.mode == proto.MULTI_ALLOCATE:
            return {"type": op.mode, "instances": []}
        if op.mode in (proto.NODE_EVACUATE, proto.CHANGE_GROUP):
            request: dict[str, Any] = {"type": op.mode, "instances": list(op.instances or [])}
            if op.mode == proto.NODE_EVACUATE:
                request["evac_mode"] = op.evac_mode or "all"
            else:
                request["target_groups"] = list(op.target_groups or [])
            return request
        return {"type": op.mode, "name": op.name}

    async def exec(self) -> Any:
        request = self._request()
        template = str(request.get("disk_template") or "diskless")
        hypervisor = self.op.hypervisor or self.cfg.cluster.default_hypervisor
        document = await iallocation.cluster_document(self, template, hypervisor)
        document["request"] = request
        if self.op.direction == "in":
            return json.dumps(document, indent=2, sort_keys=True)
        name = iallocation.allocator_name(self, self.op.iallocator)
        answer = await iallocation.run_allocator(self, name, document)
        return json.dumps(answer, sort_keys=True)
