"""The base of the units that move an instance to another node (migrate, failover).

Locks, as Ganeti: the instance exclusively; with a target node, the source and the
target (node and node-res levels); without one, every node of the instance's group,
and once the target is chosen the others are released.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from corral.cmdlib.common import hooks_env
from corral.cmdlib.common.iallocation import allocator_name
from corral.cmdlib.common.instances.base_lu import InstanceLU, instance_node_uuids
from corral.cmdlib.common.instances.bundle import filled_beparams
from corral.cmdlib.common.instances.drbd_mobility import (
    TO_SECONDARY,
    secondary_node,
    secondary_target,
)
from corral.cmdlib.common.instances.relocation import (
    allocate_target,
    check_target,
    group_node_names,
)
from corral.errors import ErrorCode, OpPrereqError
from corral.iallocator import runner
from corral.locking.levels import Level
from corral.objects.instance import DiskTemplate
from corral.objects.node import Node

SHARED_STORAGE = frozenset({DiskTemplate.DISKLESS, DiskTemplate.SHAREDFILE,
                            DiskTemplate.BLOCKDEV, DiskTemplate.RBD, DiskTemplate.EXT,
                            DiskTemplate.GLUSTER})
"""Templates whose disks every node of the group sees (Ganeti's DTS_EXT_MIRROR)."""
CAN_FAIL_OVER = SHARED_STORAGE | TO_SECONDARY
"""Templates whose instances fail over (shared disks, or a secondary holding a copy)."""


class _TargetOp(Protocol):
    target_node: str | None
    target_node_uuid: str | None
    iallocator: str | None
    cleanup: bool
    ignore_ipolicy: bool


class MobilityLU(InstanceLU[Any]):
    """Resolves and checks the target node; hooks run on master, source and target.

    Subclasses narrow ``op`` to their opcode (the mobility opcodes share the fields
    of :class:`_TargetOp` but not the base of the other instance opcodes).
    """

    VERB: ClassVar[str] = "migrate"
    """For messages: "Cannot <verb> instance X to its primary"."""

    source: Node | None = None
    target: Node | None = None
    given_target: Node | None = None

    @property
    def targeting(self) -> _TargetOp:
        found: _TargetOp = self.op
        return found

    def check_arguments(self) -> None:
        op = self.targeting
        if (op.target_node or op.target_node_uuid) and op.iallocator is not None:
            raise OpPrereqError("Do not specify both, iallocator and node", ErrorCode.INVAL)

    def expand_names(self) -> None:
        super().expand_names()
        op = self.targeting
        by_uuid = self.cfg.nodes.get(op.target_node_uuid) if op.target_node_uuid else None
        if by_uuid is not None:
            self.given_target = by_uuid
        elif op.target_node is not None:
            self.given_target = self.expand_node(op.target_node)
        elif op.target_node_uuid is not None:
            raise OpPrereqError(f"Node '{op.target_node_uuid}' not known", ErrorCode.NOENT)

    def lock_node_uuids(self) -> list[str]:
        """Source and target, or the whole group when the target is to be chosen (a DRBD
        instance's target is its secondary)."""
        uuids = instance_node_uuids(self.cfg, self.inst)
        if self.inst.disk_template in TO_SECONDARY and self.given_target is None:
            return uuids
        if self.given_target is not None:
            return [*uuids, self.given_target.uuid]
        names = set(group_node_names(self.cfg, self.inst))
        return [*uuids, *sorted(n.uuid for n in self.cfg.nodes.values() if n.name in names
                                and n.uuid not in uuids)]

    async def check_prereq(self) -> None:
        await super().check_prereq()
        self.source = self.primary()
        if self.lock_owner and not self.ctx.locks.is_owned(self.lock_owner, Level.NODE,
                                                           self.source.name):
            raise OpPrereqError(f"Instance {self.inst.name} moved to node {self.source.name}"
                                " while waiting for locks; please retry", ErrorCode.STATE)

    # --- target -----------------------------------------------------------------
    async def choose_target(self) -> Node:
        """The given target node, or the allocator's choice: the one given, else the
        cluster's default, else (shared storage only) Corral's built-in allocator; a DRBD
        instance's secondary."""
        if self.inst.disk_template in TO_SECONDARY:
            return secondary_target(self.cfg, self.inst, self.given_target,
                                    self.targeting.iallocator, failover=self.VERB != "migrate")
        if self.given_target is not None:
            return self.cfg.nodes.get(self.given_target.uuid, self.given_target)
        name = self.targeting.iallocator
        if self.inst.disk_template not in SHARED_STORAGE \
                and name in (None, "", runner.DEFAULT_SHORTCUT) \
                and not self.cfg.cluster.default_iallocator:
            raise OpPrereqError(
                f"Instance {self.inst.name} has node-local disks"
                f" ('{self.inst.disk_template.value}'): give a target node or an"
                " iallocator", ErrorCode.INVAL)
        return await allocate_target(self, self.inst, allocator_name(self, name))

    def check_target_node(self, target: Node) -> None:
        check_target(self, self.inst, target, verb=self.VERB,
                     ignore_ipolicy=self.targeting.ignore_ipolicy)

    def keep_node_locks(self, *keep: Node) -> None:
        """Release the node and node-res locks of every node but ``keep``."""
        if not self.lock_owner:
            return
        names = {n.name for n in keep}
        for level in (Level.NODE, Level.NODE_RES):
            unused = self.ctx.locks.owned(self.lock_owner, level) - names
            if unused:
                self.ctx.locks.release(self.lock_owner, level, unused)

    def minmem(self) -> int:
        return int(filled_beparams(self.cfg.cluster, self.inst.beparams)["minmem"])

    # --- hooks ------------------------------------------------------------------
    def move_env(self) -> dict[str, Any]:
        """OLD_/NEW_PRIMARY and OLD_/NEW_SECONDARY (empty: no mirrored disks)."""
        source = self.source.name if self.source is not None else ""
        target = self.target.name if self.target is not None else ""
        secondary = secondary_node(self.cfg, self.inst)
        old_secondary = secondary.name if secondary is not None else ""
        return {"OLD_PRIMARY": source, "NEW_PRIMARY": target,
                "OLD_SECONDARY": old_secondary,
                "NEW_SECONDARY": source if old_secondary else ""}

    def hooks_nodes(self) -> tuple[list[Node], list[Node]]:
        nodes = [n for n in (self.source, self.target) if n is not None]
        found = [self.cfg.nodes.get(n.uuid, n) for n in nodes]
        listed = hooks_env.master_and(self.cfg, *found)
        return listed, listed
