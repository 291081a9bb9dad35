"""The base of logical units acting on one existing instance.

It resolves the instance (Ganeti's ``_ExpandAndLockInstance``), locks it with
its nodes (node and node-res levels, as each unit declares), re-reads it in
``check_prereq``, and
provides the instance hook environment on the master and the instance's nodes.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeVar

from corral.cmdlib.base import HookObjectType, LogicalUnit
from corral.cmdlib.common import hooks_env
from corral.cmdlib.common.instances.bundle import (
    build_bundle,
    filled_beparams,
    filled_hvparams,
    instance_disks,
    secondary_node_uuids,
)
from corral.errors import ErrorCode, OpPrereqError
from corral.locking.levels import Level
from corral.locking.plan import LevelRequest, LockPlan, exclusive, shared
from corral.objects.bundle import InstanceBundle
from corral.objects.config_data import ConfigData
from corral.objects.instance import Disk, Instance
from corral.objects.node import Node
from corral.opcodes.instance import _InstanceOp

InstOpT = TypeVar("InstOpT", bound=_InstanceOp)
NodeResLocks = Literal["all", "primary", "none"]


def find_instance(cfg: ConfigData, name: str, uuid: str | None = None) -> Instance:
    """The instance called ``name`` (or with ``uuid``).

    Raises:
        OpPrereqError: (NOENT) no such instance.
    """
    found = cfg.instances.get(uuid) if uuid else None
    found = found or cfg.instance_by_name(name)
    if found is None:
        raise OpPrereqError(f"Instance '{name}' not known", ErrorCode.NOENT)
    return found


def instance_node_uuids(cfg: ConfigData, inst: Instance) -> list[str]:
    """The primary node, then every other node holding one of its disks."""
    return [inst.primary_node, *secondary_node_uuids(inst, instance_disks(cfg, inst))]


def node_lock_names(cfg: ConfigData, uuids: list[str]) -> list[str]:
    return [cfg.nodes[u].name for u in uuids if u in cfg.nodes]


class InstanceLU(LogicalUnit[InstOpT]):
    """A logical unit on one instance; hooks run on the master and the instance's nodes."""

    HTYPE = HookObjectType.INSTANCE
    REQ_BGL = False
    SHARED: ClassVar[bool] = False
    """Lock the instance shared (read-only units)."""
    LOCK_NODES: ClassVar[bool] = True
    """Also lock the instance's nodes (exclusively)."""
    LOCK_NODE_RES: ClassVar[NodeResLocks] = "all"
    """Node resource locks (exclusive): of all the instance's nodes, the primary's, none."""

    instance: Instance | None = None

    def expand_names(self) -> None:
        self.instance = find_instance(self.cfg, self.op.instance_name, self.op.instance_uuid)

    def declare_locks(self) -> LockPlan:
        inst = self.inst
        mode = shared if self.SHARED else exclusive
        requests: dict[Level, LevelRequest] = {Level.INSTANCE: mode(inst.name)}
        uuids = self.lock_node_uuids()
        if self.LOCK_NODES:
            requests[Level.NODE] = exclusive(node_lock_names(self.cfg, uuids))
        if self.LOCK_NODE_RES != "none":
            res = uuids if self.LOCK_NODE_RES == "all" else [inst.primary_node]
            requests[Level.NODE_RES] = exclusive(node_lock_names(self.cfg, res))
        return LockPlan.of(requests)

    def lock_node_uuids(self) -> list[str]:
        """Nodes to lock; units that move an instance add the target nodes."""
        return instance_node_uuids(self.cfg, self.inst)

    async def check_prereq(self) -> None:
        """Re-read the instance now that it is locked."""
        self.instance = find_instance(self.cfg, self.op.instance_name, self.inst.uuid)

    # --- accessors ------------------------------------------------------------
    @property
    def inst(self) -> Instance:
        assert self.instance is not None, "instance not resolved yet"
        return self.instance

    def disks(self) -> list[Disk]:
        return instance_disks(self.cfg, self.inst)

    def primary(self) -> Node:
        return self.cfg.nodes[self.inst.primary_node]

    def bundle(self, **overrides: Any) -> InstanceBundle:
        return build_bundle(self.cfg, self.inst, **overrides)

    def current(self) -> Instance:
        """The instance as the configuration has it now (after commits)."""
        return self.cfg.instances.get(self.inst.uuid, self.inst)

    # --- hooks ----------------------------------------------------------------
    def hooks_env(self) -> dict[str, Any]:
        inst = self.current()
        cluster = self.cfg.cluster
        return hooks_env.instance_env(
            self.cfg, inst, instance_disks(self.cfg, inst),
            bep=filled_beparams(cluster, inst.beparams),
            hvp=filled_hvparams(cluster, inst.hypervisor, inst.os, inst.hvparams),
        )

    def hooks_nodes(self) -> tuple[list[Node], list[Node]]:
        nodes = [self.cfg.nodes[u] for u in instance_node_uuids(self.cfg, self.current())
                 if u in self.cfg.nodes]
        found = hooks_env.master_and(self.cfg, *nodes)
        return found, found
