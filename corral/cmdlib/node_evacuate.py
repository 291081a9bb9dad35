"""``gnt-node evacuate``: the follow-up jobs that move instances off a node.

``mode`` picks the instances: those with the node as primary (``primary-only``), as
secondary (``secondary-only``), or both (``all``). Each instance with the node as its
secondary gets a replace-disks job to a new secondary: ``remote_node``, or the one an
allocator picks when the job runs. The primary instances' targets come from ``remote_node``, or
from an allocator's ``node-evacuate`` answer (the one given, else the cluster's default,
else Corral's own), whose jobs are submitted as they are (Ganeti's LoadNodeEvacResult).
With ``remote_node`` (which Ganeti allows only for secondaries), each primary instance is
migrated, failed over or moved there by Corral's rule (:mod:`corral.iallocator.moves`).

The unit only computes the jobs, under shared locks, so that the jobs can run in parallel.
"""

from __future__ import annotations

from typing import Any

from corral.cmdlib.base import HookObjectType, LogicalUnit, implements
from corral.cmdlib.common.evacuation import (
    Jobs,
    choose_move,
    load_evacuation,
    log_jobs,
    result_with_jobs,
    run_evacuation,
)
from corral.cmdlib.common.iallocation import allocator_name
from corral.cmdlib.common.instances.drbd_mobility import secondary_node
from corral.cmdlib.instance_replace_disks import REPLACEABLE
from corral.cmdlib.node_migrate import check_usable_target
from corral.errors import ErrorCode, OpPrereqError
from corral.iallocator import moves
from corral.iallocator import protocol as proto
from corral.locking.levels import Level
from corral.locking.plan import LockPlan, shared
from corral.objects.instance import Instance
from corral.objects.node import Node
from corral.opcodes.base import OpCode
from corral.opcodes.mobility import REPLACE_NEW_SECONDARY, OpInstanceReplaceDisks, OpNodeEvacuate


@implements(OpNodeEvacuate)
class LUNodeEvacuate(LogicalUnit[OpNodeEvacuate]):
    """Yields one job per instance to move off the node."""

    HPATH = "node-evacuate"
    HTYPE = HookObjectType.NODE
    REQ_BGL = False

    node: Node | None = None
    remote: Node | None = None
    instances: tuple[Instance, ...] = ()

    @property
    def the_node(self) -> Node:
        assert self.node is not None, "node not resolved yet"
        return self.node

    def expand_names(self) -> None:
        self.node = self.expand_node(self.op.node_uuid or self.op.node_name)
        name = self.op.remote_node_uuid or self.op.remote_node
        self.remote = self.expand_node(name) if name else None
        if self.remote is not None and self.remote.uuid == self.node.uuid:
            raise OpPrereqError(f"Can not use evacuated node {self.node.name} as the remote"
                                " node", ErrorCode.INVAL)
        self.instances = self._affected()

    def _affected(self) -> tuple[Instance, ...]:
        primary, secondary = self.cfg.node_instances(self.the_node.uuid)
        chosen = {"primary-only": primary, "secondary-only": secondary,
                  "all": primary + secondary}[self.op.mode]
        return tuple(sorted({i.uuid: i for i in chosen}.values(), key=lambda i: i.name))

    def _lock_nodes(self) -> list[Node]:
        if self.remote is not None:
            return [self.the_node, self.remote]
        return [self.the_node, *self.cfg.group_nodes(self.the_node.group)]

    def declare_locks(self) -> LockPlan:
        nodes = self._lock_nodes()
        return LockPlan.of({
            Level.INSTANCE: shared(i.name for i in self.instances),
            Level.NODEGROUP: shared({n.group for n in nodes if n.group}),
            Level.NODE: shared({n.name for n in nodes}),
        })

    async def check_prereq(self) -> None:
        node = self.node = self.expand_node(self.the_node.uuid)
        before = {i.name for i in self.instances}
        self.instances = self._affected()
        now = {i.name for i in self.instances}
        if now != before:
            raise OpPrereqError(
                f"Instances on node '{node.name}' changed since locks were acquired, current"
                f" instances are '{', '.join(sorted(now))}', used to be"
                f" '{', '.join(sorted(before))}'; retry the operation", ErrorCode.STATE)
        if self.remote is not None:
            self.remote = self.expand_node(self.remote.uuid)
            check_usable_target(self.remote)
            self._check_remote(self.remote)
        if now:
            self.log_info(f"Evacuating instances from node '{node.name}':"
                          f" {', '.join(sorted(now))}")
        else:
            self.log_info(f"No instances to evacuate from node '{node.name}'")

    def _check_remote(self, remote: Node) -> None:
        for inst in self.instances:
            if inst.primary_node != self.the_node.uuid:
                self._check_new_secondary(inst, remote)
                continue
            secondary = secondary_node(self.cfg, inst)
            if secondary is not None and secondary.uuid != remote.uuid:
                raise OpPrereqError(
                    f"Instance {inst.name} has {inst.disk_template.value} disks: it can only"
                    f" leave node {self.the_node.name} for its secondary node"
                    f" {secondary.name}, not {remote.name}; evacuate it with an iallocator",
                    ErrorCode.INVAL)
            if inst.disk_template.value in moves.NODE_LOCAL and self.the_node.offline:
                raise OpPrereqError(
                    f"Instance {inst.name} has its {inst.disk_template.value} disks on offline"
                    f" node {self.the_node.name}: they cannot be copied to {remote.name}",
                    ErrorCode.STATE)

    def _check_new_secondary(self, inst: Instance, remote: Node) -> None:
        """``remote`` can take the secondary half of ``inst`` (Ganeti's checks)."""
        if inst.disk_template not in REPLACEABLE:
            raise OpPrereqError(
                f"Instance {inst.name} has node {self.the_node.name} as secondary: changing"
                f" the secondary of '{inst.disk_template.value}' instances is not supported"
                " yet", ErrorCode.INVAL)
        if inst.primary_node == remote.uuid:
            raise OpPrereqError(f"Node {remote.name} is the primary node of instance"
                                f" {inst.name}, cannot use it as secondary", ErrorCode.INVAL)

    def _is_secondary(self, inst: Instance) -> bool:
        return inst.primary_node != self.the_node.uuid

    def _new_secondary_job(self, inst: Instance, remote: str | None,
                           allocator: str | None) -> list[OpCode]:
        """The secondary half of ``inst`` moves with replace-disks (Ganeti's job)."""
        return [OpInstanceReplaceDisks(instance_name=inst.name, mode=REPLACE_NEW_SECONDARY,
                                       remote_node=remote, iallocator=allocator,
                                       early_release=self.op.early_release)]

    def hooks_env(self) -> dict[str, Any]:
        node = self.the_node.name
        return {"OP_TARGET": node, "NODE_NAME": node, "MODE": self.op.mode,
                "REMOTE_NODE": self.remote.name if self.remote else ""}

    def hooks_nodes(self) -> tuple[list[Node], list[Node]]:
        nodes = [self.cfg.master_node]
        if self.the_node.uuid != self.cfg.master_node.uuid:
            nodes.append(self.the_node)
        return nodes, nodes

    async def exec(self) -> Any:
        if not self.instances:
            return result_with_jobs([])
        if self.remote is not None:
            return result_with_jobs(self._remote_jobs(self.remote))
        jobs = await self._allocator_jobs()
        log_jobs(self, jobs)
        return result_with_jobs(jobs)

    def _remote_jobs(self, remote: Node) -> Jobs:
        jobs: Jobs = []
        for inst in self.instances:
            if self._is_secondary(inst):
                jobs.append(self._new_secondary_job(inst, remote.name, None))
                self.log_info(f"Instance {inst.name}: replace the secondary with"
                              f" {remote.name}")
                continue
            choice = choose_move(self, inst)
            jobs.append([moves.move_opcode(choice.kind, inst.name, remote.name)])
            self.log_info(f"Instance {inst.name}: {moves.describe(choice.kind, remote.name)}"
                          f" ({choice.reason})")
        return jobs

    async def _allocator_jobs(self) -> Jobs:
        """Primary instances as the allocator's ``node-evacuate`` answer says; each
        secondary one gets a replace-disks job whose allocator picks the new secondary
        (a ``relocate`` request, as Ganeti's ``-I`` replace-disks)."""
        name = allocator_name(self, self.op.iallocator)
        moved = [i for i in self.instances if not self._is_secondary(i)]
        jobs: Jobs = [self._new_secondary_job(i, None, name)
                      for i in self.instances if self._is_secondary(i)]
        if not moved:
            return jobs
        request = proto.node_evacuate_request([i.name for i in moved], self.op.mode)
        evac = await run_evacuation(self, name, request, moved,
                                    "Can't compute node evacuation",
                                    ignore_soft_errors=self.op.ignore_soft_errors)
        return load_evacuation(self, evac, early_release=self.op.early_release,
                               use_nodes=True) + jobs
