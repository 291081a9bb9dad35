"""``gnt-node migrate``: one follow-up job per primary instance of a node.

As Ganeti's LUNodeMigrate, each running instance gets an ``OP_INSTANCE_MIGRATE`` with the
node unit's target node, allocator and migration options. Beyond Ganeti, so that the node
really empties, an instance that cannot be migrated (stopped, or its hypervisor cannot) is
failed over (shared storage, no disks) or moved (node-local disks) instead; the job log says
what each instance gets. Instances with node-local disks need a target node: the one given,
else the allocator's choice (a ``node-evacuate`` request for them).

The unit only computes the jobs, under shared locks, so that the jobs can run in parallel.
"""

from __future__ import annotations

from typing import Any

from corral.cmdlib.base import HookObjectType, LogicalUnit, implements
from corral.cmdlib.common.evacuation import (
    Jobs,
    choose_move,
    result_with_jobs,
    run_evacuation,
)
from corral.cmdlib.common.iallocation import allocator_name
from corral.cmdlib.common.instances.drbd_mobility import secondary_node
from corral.errors import ErrorCode, OpPrereqError
from corral.iallocator import moves
from corral.iallocator import protocol as proto
from corral.locking.levels import Level
from corral.locking.plan import LockPlan, shared
from corral.objects.instance import Instance
from corral.objects.node import Node
from corral.opcodes.mobility import OpNodeMigrate


def check_usable_target(target: Node) -> None:
    """``target`` can receive instances: online, not drained, vm_capable.

    Raises:
        OpPrereqError: (STATE) naming the node and what is wrong with it.
    """
    for bad, what in ((target.offline, "offline"), (target.drained, "drained"),
                      (not target.vm_capable, "non-vm_capable")):
        if bad:
            raise OpPrereqError(f"Can't use {what} node {target.name}", ErrorCode.STATE)


@implements(OpNodeMigrate)
class LUNodeMigrate(LogicalUnit[OpNodeMigrate]):
    """Yields the jobs that migrate (or fail over, or move) a node's primary instances."""

    HPATH = "node-migrate"
    HTYPE = HookObjectType.NODE
    REQ_BGL = False

    node: Node | None = None
    target: Node | None = None
    instances: tuple[Instance, ...] = ()

    def check_arguments(self) -> None:
        if self.op.target_node is not None and self.op.iallocator is not None:
            raise OpPrereqError("Do not specify both, iallocator and node", ErrorCode.INVAL)

    def expand_names(self) -> None:
        self.node = self.expand_node(self.op.node_uuid or self.op.node_name)
        name = self.op.target_node_uuid or self.op.target_node
        self.target = self.expand_node(name) if name else None
        if self.target is not None and self.target.uuid == self.node.uuid:
            raise OpPrereqError(f"Can not migrate the instances of node {self.node.name} to"
                                " the node itself", ErrorCode.INVAL)

    def declare_locks(self) -> LockPlan:
        names = [n.name for n in (self.node, self.target) if n is not None]
        return LockPlan.of({Level.NODE: shared(names)})

    async def check_prereq(self) -> None:
        node = self.expand_node(self.the_node.uuid)
        if node.offline:
            raise OpPrereqError(
                f"Node {node.name} is offline: its instances cannot be migrated; fail them"
                f" over instead (gnt-node failover {node.name})", ErrorCode.STATE)
        if self.target is not None:
            self.target = self.expand_node(self.target.uuid)
            check_usable_target(self.target)
        self.node = node
        primaries, _ = self.cfg.node_instances(node.uuid)
        self.instances = tuple(sorted(primaries, key=lambda i: i.name))

    @property
    def the_node(self) -> Node:
        assert self.node is not None, "node not resolved yet"
        return self.node

    def hooks_env(self) -> dict[str, Any]:
        return {"NODE_NAME": self.the_node.name,
                "ALLOW_RUNTIME_CHANGES": self.op.allow_runtime_changes}

    def hooks_nodes(self) -> tuple[list[Node], list[Node]]:
        master = [self.cfg.master_node]
        return master, master

    async def exec(self) -> Any:
        node = self.the_node
        if not self.instances:
            self.log_info(f"No primary instances on node {node.name}, nothing to migrate")
            return result_with_jobs([])
        placed = await self._place_node_local()
        options = moves.MigrateOptions(
            mode=self.op.mode, live=self.op.live,
            allow_runtime_changes=self.op.allow_runtime_changes,
            ignore_ipolicy=self.op.ignore_ipolicy, iallocator=self.op.iallocator)
        jobs: Jobs = []
        for inst in self.instances:
            choice = choose_move(self, inst)
            target = self.target.name if self.target else placed.get(inst.name)
            secondary = secondary_node(self.cfg, inst)
            if target is None and secondary is not None:
                target = secondary.name  # drbd, mirror: to the secondary only
            jobs.append([moves.move_opcode(choice.kind, inst.name, target, options)])
            self.log_info(f"Instance {inst.name}: {moves.describe(choice.kind, target)}"
                          f" ({choice.reason})")
        return result_with_jobs(jobs)

    async def _place_node_local(self) -> dict[str, str]:
        """Target nodes for the instances with node-local disks, when none was given."""
        local = [i for i in self.instances if i.disk_template.value in moves.NODE_LOCAL]
        if self.target is not None or not local:
            return {}
        name = allocator_name(self, self.op.iallocator)
        request = proto.node_evacuate_request([i.name for i in local], "primary-only")
        evac = await run_evacuation(self, name, request, local,
                                    "Can't choose target nodes for the instances with"
                                    " node-local disks")
        if evac.failed:
            reasons = ", ".join(f"{inst} ({why})" for inst, why in evac.failed)
            raise OpPrereqError(f"Can't choose a target node using iallocator '{name}' for"
                                f" {reasons}; give a target node", ErrorCode.NORES)
        return {m.instance: m.nodes[0] for m in evac.moved if m.nodes}
