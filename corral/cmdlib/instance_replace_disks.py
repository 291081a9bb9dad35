"""``gnt-instance replace-disks``: replace the storage of a mirrored instance's disks on
its primary (``-p``) or secondary (``-s``), move the secondary half to a new node (``-n
NODE``, or ``-I ALLOCATOR``: Ganeti's ``relocate`` request), or repair the side whose
disks are faulty (``-a``). Ganeti's LUInstanceReplaceDisks.

Disks of a stopped instance are activated for the replacement and shut down after it.
Locks: the instance, its nodes and the new node (with an allocator: every node of the
instance's group, the unused ones released once the new node is chosen), exclusively;
the node locks go once the configuration is updated, before the resync.
The node sequences are in ``common/instances/replace_drbd.py`` and, for ``mirror``
disks (whose secondary halves only: ``-s``, ``-n``, ``-I``), ``replace_mirror.py``.
"""

from __future__ import annotations

from typing import Any

from corral.cmdlib.base import implements
from corral.cmdlib.common.allocation import check_free_disk, disk_space_needs
from corral.cmdlib.common.iallocation import allocator_name, cluster_document, run_allocator
from corral.cmdlib.common.instances.base_lu import InstanceLU, instance_node_uuids
from corral.cmdlib.common.instances.disk_sync import faulty_disks
from corral.cmdlib.common.instances.disks import assemble_disks, shutdown_disks
from corral.cmdlib.common.instances.node_disks import node_disk
from corral.cmdlib.common.instances.relocation import check_target, group_node_names
from corral.cmdlib.common.instances.replace_drbd import (
    ReplacePlan,
    change_secondary,
    replace_local,
)
from corral.cmdlib.common.instances.replace_mirror import move_secondary, rebuild_secondary
from corral.cmdlib.common.instances.status import check_node_online
from corral.errors import ErrorCode, OpExecError, OpPrereqError
from corral.iallocator import protocol as proto
from corral.locking.levels import Level
from corral.objects.instance import AdminState, Disk, DiskTemplate
from corral.objects.node import Node
from corral.opcodes.mobility import (
    REPLACE_AUTO,
    REPLACE_NEW_SECONDARY,
    REPLACE_ON_PRIMARY,
    REPLACE_ON_SECONDARY,
    OpInstanceReplaceDisks,
)

REPLACEABLE = frozenset({DiskTemplate.DRBD, DiskTemplate.MIRROR})
"""Templates whose disks replace-disks can replace."""
MIRROR_MODES = frozenset({REPLACE_ON_SECONDARY, REPLACE_NEW_SECONDARY, REPLACE_AUTO})
"""The modes of ``mirror`` disks: only the secondary's halves are replaced."""


@implements(OpInstanceReplaceDisks)
class LUInstanceReplaceDisks(InstanceLU[Any]):
    """Replace disks on one side, or change the secondary node."""

    HPATH = "mirrors-replace"
    op: OpInstanceReplaceDisks

    given: Node | None = None
    plan: ReplacePlan | None = None
    old_secondary: Node | None = None

    def check_arguments(self) -> None:
        op = self.op
        if op.mode == REPLACE_NEW_SECONDARY:
            if op.remote_node is None and op.remote_node_uuid is None \
                    and op.iallocator is None:
                raise OpPrereqError("When changing the secondary either an iallocator script"
                                    " must be used or the new node given", ErrorCode.INVAL)
            if op.iallocator is not None and (op.remote_node or op.remote_node_uuid):
                raise OpPrereqError("Give either the iallocator or the new node, not both",
                                    ErrorCode.INVAL)
        elif op.remote_node is not None or op.iallocator is not None:
            raise OpPrereqError("The iallocator and new node options can only be used when"
                                " changing the secondary node", ErrorCode.INVAL)
        if op.disks and op.mode in (REPLACE_AUTO, REPLACE_NEW_SECONDARY):
            raise OpPrereqError("Cannot specify disks to be replaced", ErrorCode.INVAL)

    def expand_names(self) -> None:
        super().expand_names()
        op = self.op
        found = self.cfg.nodes.get(op.remote_node_uuid) if op.remote_node_uuid else None
        if found is None and op.remote_node is not None:
            found = self.expand_node(op.remote_node)
        elif found is None and op.remote_node_uuid is not None:
            raise OpPrereqError(f"Node '{op.remote_node_uuid}' not known", ErrorCode.NOENT)
        self.given = found

    def lock_node_uuids(self) -> list[str]:
        uuids = instance_node_uuids(self.cfg, self.inst)
        if self.given is not None:
            return [*uuids, self.given.uuid]
        if self.op.mode == REPLACE_NEW_SECONDARY:
            names = set(group_node_names(self.cfg, self.inst))
            uuids += sorted(n.uuid for n in self.cfg.nodes.values()
                            if n.name in names and n.uuid not in uuids)
        return uuids

    # --- checks -----------------------------------------------------------------------
    async def check_prereq(self) -> None:
        await super().check_prereq()
        inst = self.inst
        if inst.disk_template not in REPLACEABLE or not self.disks():
            raise OpPrereqError(f"Can only run replace disks for DRBD8-based (and mirror)"
                                f" instances; instance {inst.name} has"
                                f" '{inst.disk_template.value}' disks", ErrorCode.INVAL)
        if inst.disk_template is DiskTemplate.MIRROR and self.op.mode not in MIRROR_MODES:
            raise OpPrereqError(f"Instance {inst.name} has mirror disks: only their"
                                " secondary halves can be replaced (-s, -n, -I or -a); to"
                                " replace the primary's, migrate or fail over to the"
                                " secondary first", ErrorCode.INVAL)
        secondaries = self.cfg.instance_secondary_nodes(inst)
        if len(secondaries) != 1:
            raise OpPrereqError(f"The instance has a strange layout, expected one secondary"
                                f" but found {len(secondaries)}", ErrorCode.FAULT)
        self.old_secondary = self.cfg.nodes[secondaries[0]]
        self._check_locked(self.primary(), self.old_secondary)
        if self.op.mode == REPLACE_NEW_SECONDARY:
            self.plan = await self._plan_new_secondary(self.old_secondary)
        elif self.op.mode == REPLACE_AUTO:
            self.plan = await self._plan_auto(self.old_secondary)
        else:
            self.plan = self._plan_local(self.old_secondary, self._indices(self.op.disks))
        self._keep_locks(self.plan)

    def _check_locked(self, *nodes: Node) -> None:
        """The instance's nodes are the ones locked (it may have moved meanwhile)."""
        if not self.lock_owner:
            return
        owned = self.ctx.locks.owned(self.lock_owner, Level.NODE)
        missing = [n.name for n in nodes if n.name not in owned]
        if missing:
            raise OpPrereqError(f"Instance {self.inst.name} moved to node(s)"
                                f" {', '.join(missing)} while waiting for locks; please"
                                " retry", ErrorCode.STATE)

    def _indices(self, wanted: list[int]) -> tuple[int, ...]:
        count = len(self.disks())
        for index in wanted:
            if index >= count:
                raise OpPrereqError(f"Invalid disk index {index}: instance {self.inst.name}"
                                    f" has {count} disk(s)", ErrorCode.INVAL)
        return tuple(sorted(set(wanted))) if wanted else tuple(range(count))

    def _plan_local(self, secondary: Node, disks: tuple[int, ...]) -> ReplacePlan:
        primary = self.primary()
        target, other = (primary, secondary) if self.op.mode == REPLACE_ON_PRIMARY \
            else (secondary, primary)
        for node in (target, other):
            check_node_online(node)
        return ReplacePlan(self.inst, disks, target, other,
                           early_release=self.op.early_release)

    async def _plan_auto_mirror(self, secondary: Node) -> ReplacePlan:
        """The degraded mirror disks, as the running primary's QEMU reports them."""
        inst, primary = self.inst, self.primary()
        if inst.admin_state is not AdminState.UP or primary.offline:
            raise OpPrereqError(f"Instance {inst.name} is not running: only its running"
                                " primary knows which mirror disks are degraded; use -s"
                                " or -n", ErrorCode.STATE)
        result = await self.ctx.rpc.instance_mirror_status(primary, self.bundle())
        if not result.ok:
            raise OpPrereqError(f"Failed to get disk status from node {primary.name}:"
                                f" {result.fail_msg}", ErrorCode.ENVIRON)
        degraded = tuple(s.index for s in result.payload or [] if s.state == "degraded")
        return self._plan_for(secondary, primary, degraded)

    async def _plan_auto(self, secondary: Node) -> ReplacePlan:
        if self.inst.disk_template is DiskTemplate.MIRROR:
            return await self._plan_auto_mirror(secondary)
        await self._check_activated()
        disks, primary = self.disks(), self.primary()
        on_primary = await faulty_disks(self, self.inst, disks, primary)
        on_secondary = await faulty_disks(self, self.inst, disks, secondary)
        if on_primary and on_secondary:
            raise OpPrereqError(f"Instance {self.inst.name} has faulty disks on more than one"
                                " node and can not be repaired automatically",
                                ErrorCode.STATE)
        if on_primary:
            return self._plan_for(primary, secondary, tuple(on_primary))
        return self._plan_for(secondary, primary, tuple(on_secondary))

    def _plan_for(self, target: Node, other: Node, disks: tuple[int, ...]) -> ReplacePlan:
        if disks:
            for node in (target, other):
                check_node_online(node)
        return ReplacePlan(self.inst, disks, target, other,
                           early_release=self.op.early_release)

    async def _check_activated(self) -> None:
        """Every disk is assembled on every online node (``-a`` reads their state)."""
        for disk in self.disks():
            for uuid in instance_node_uuids(self.cfg, self.inst):
                node = self.cfg.nodes[uuid]
                self.log_info(f" - INFO: Checking {disk.iv_name} on {node.name}")
                result = await self.ctx.rpc.blockdev_find(node, node_disk(self.cfg, disk, uuid))
                if result.offline:
                    continue
                if not result.ok or result.payload is None:
                    raise OpPrereqError(f"Please run activate-disks on instance"
                                        f" {self.inst.name} first", ErrorCode.STATE)

    async def _plan_new_secondary(self, secondary: Node) -> ReplacePlan:
        inst, primary = self.inst, self.primary()
        new = self.given or await self._allocate(secondary)
        new = self.cfg.nodes.get(new.uuid, new)
        if new.uuid == inst.primary_node:
            raise OpPrereqError("The specified node is the primary node of the instance",
                                ErrorCode.INVAL)
        if new.uuid == secondary.uuid:
            raise OpPrereqError("The specified node is already the secondary node of the"
                                " instance", ErrorCode.INVAL)
        check_target(self, inst, new, verb="replace the disks of",
                     ignore_ipolicy=self.op.ignore_ipolicy)
        check_node_online(primary)
        early = self.op.early_release
        if secondary.offline and not early:
            early = True
            self.log_info(f" - INFO: Old secondary {secondary.name} is offline, automatically"
                          " enabling early-release mode")
        await check_free_disk(self, [new], disk_space_needs(self.cfg.cluster, self._lvs()))
        return ReplacePlan(inst, tuple(range(len(self.disks()))), secondary, primary,
                           new_node=new, early_release=early)

    def _lvs(self) -> list[Disk]:
        """What takes space on the new secondary: the LVs of drbd disks, mirror disks."""
        if self.inst.disk_template is DiskTemplate.MIRROR:
            return self.disks()
        return [self.cfg.disks[u] for d in self.disks() for u in d.children
                if u in self.cfg.disks]

    async def _allocate(self, secondary: Node) -> Node:
        """The new secondary an allocator picks (Ganeti's ``relocate`` request)."""
        inst = self.inst
        name = allocator_name(self, self.op.iallocator)
        document = await cluster_document(self, inst.disk_template.value, inst.hypervisor)
        document["request"] = {
            "type": proto.RELOCATE, "name": inst.name, "required_nodes": 1,
            "disk_space_total": proto.disk_space(inst.disk_template.value,
                                                 [d.size for d in self.disks()]),
            "relocate_from": [secondary.name],
        }
        answer = await run_allocator(self, name, document)
        if not answer["success"]:
            raise OpPrereqError(f"Can't compute nodes using iallocator '{name}':"
                                f" {answer['info']}", ErrorCode.NORES)
        chosen = [str(n) for n in answer["result"]]
        node = self.cfg.node_by_name(chosen[0]) if chosen else None
        if node is None:
            raise OpPrereqError(f"Node {chosen[0] if chosen else ''} not found in"
                                " configuration", ErrorCode.NOENT)
        self.log_info(f" - INFO: Selected new secondary for instance '{inst.name}':"
                      f" {node.name}")
        return node

    def _keep_locks(self, plan: ReplacePlan) -> None:
        if not self.lock_owner:
            return
        keep = {n.name for n in (plan.target, plan.other, plan.new_node) if n is not None}
        for level in (Level.NODE, Level.NODE_RES):
            unused = self.ctx.locks.owned(self.lock_owner, level) - keep
            if unused:
                self.ctx.locks.release(self.lock_owner, level, unused)

    # --- hooks ------------------------------------------------------------------------
    def hooks_env(self) -> dict[str, Any]:
        new = self.plan.new_node if self.plan is not None else None
        old = self.old_secondary.name if self.old_secondary is not None else ""
        return {**super().hooks_env(), "MODE": self.op.mode,
                "NEW_SECONDARY": new.name if new is not None else "", "OLD_SECONDARY": old}

    def hooks_nodes(self) -> tuple[list[Node], list[Node]]:
        nodes = [self.cfg.master_node, self.primary()]
        if self.plan is not None and self.plan.new_node is not None:
            nodes.append(self.plan.new_node)
        unique = list({n.uuid: n for n in nodes}.values())
        return unique, unique

    # --- execution --------------------------------------------------------------------
    async def exec(self) -> Any:
        plan = self.plan
        assert plan is not None
        assert self.old_secondary is not None
        inst = self.inst
        if not plan.disks:
            self.log_info(f"No disks need replacement for instance '{inst.name}'")
            return None
        self.log_info(f"Replacing disk(s) {', '.join(map(str, plan.disks))} for instance"
                      f" '{inst.name}'")
        self.log_info(f"Current primary node: {self.primary().name}")
        self.log_info(f"Current secondary node: {self.old_secondary.name}")
        if inst.disk_template is DiskTemplate.MIRROR:
            await (move_secondary if plan.new_node is not None else rebuild_secondary)(
                self, plan)
            return None
        activate = not inst.disks_active
        if activate:
            await self._activate(plan)
        try:
            if plan.new_node is not None:
                await change_secondary(self, plan)
            else:
                await replace_local(self, plan)
        finally:
            if activate:
                await shutdown_disks(self, self.current(), self.disks())
        return None

    async def _activate(self, plan: ReplacePlan) -> None:
        """Assemble the disks of a stopped instance (with a new secondary coming, only on
        the primary: the old secondary may be dead)."""
        inst = self.inst
        if plan.new_node is None:
            await assemble_disks(self, inst, self.disks())
            return
        node = self.primary()
        for index, disk in enumerate(self.disks()):
            result = await self.ctx.rpc.blockdev_assemble(
                node, node_disk(self.cfg, disk, node.uuid), inst.name, True, index)
            if not result.ok:
                await shutdown_disks(self, inst, self.disks(), ignore_primary=False)
                raise OpExecError(f"Cannot activate block device {disk.iv_name} on node"
                                  f" {node.name}: {result.fail_msg}")
