"""How one instance leaves its node: migrate, fail over or move, and the opcode that does it.

Shared by the allocators (the jobs of ``node-evacuate`` and ``change-group`` answers) and the
node and group units that build those jobs themselves. The rule:

* a running instance whose hypervisor can migrate is migrated (with node-local disks and a
  target node, Corral copies the disks while the guest runs);
* otherwise an instance on shared storage (or without disks) is failed over: stopped on its
  node and started on the target;
* otherwise (disks on the node's own storage) it is moved: stopped, disks copied, started.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from typing import Any

from corral import serde
from corral.errors import CorralError
from corral.opcodes.base import OpCode
from corral.opcodes.mobility import (
    MigrationMode,
    OpInstanceFailover,
    OpInstanceMigrate,
    OpInstanceMove,
)

NODE_LOCAL = frozenset({"file", "plain"})
"""Templates whose disks live on the primary node's own storage (copied by a move)."""
INTERNALLY_MIRRORED = frozenset({"drbd", "mirror"})
"""Templates whose instances fail over or migrate to their secondary node only."""


class MoveKind(enum.StrEnum):
    MIGRATE = "migrate"
    FAILOVER = "failover"
    MOVE = "move"


@dataclass(frozen=True)
class MoveChoice:
    """What happens to one instance, and why (for the job log)."""

    kind: MoveKind
    reason: str


@dataclass(frozen=True)
class MigrateOptions:
    """The migration options a node unit passes on to each instance's migration."""

    mode: MigrationMode | None = None
    live: bool | None = None
    allow_runtime_changes: bool = True
    ignore_ipolicy: bool = False
    iallocator: str | None = None
    allow_failover: bool = False


@functools.cache
def can_migrate(hypervisor: str) -> bool:
    """Whether Corral's driver for ``hypervisor`` migrates running instances."""
    from corral.hypervisor import registry  # drivers load lazily, once

    try:
        return registry.driver_class(hypervisor).CAN_MIGRATE
    except (CorralError, KeyError):
        return False


def choose(*, running: bool, hypervisor: str, disk_template: str,
           always_failover: bool = False) -> MoveChoice:
    """The way an instance leaves its node under Corral's rule (module docstring)."""
    if running and not always_failover and can_migrate(hypervisor):
        return MoveChoice(MoveKind.MIGRATE, "running")
    if not running:
        why = "not running"
    elif always_failover:
        why = "always_failover is set"
    else:
        why = f"the {hypervisor} hypervisor cannot migrate"
    if disk_template in NODE_LOCAL:
        return MoveChoice(MoveKind.MOVE, f"{why}; its {disk_template} disks are copied")
    return MoveChoice(MoveKind.FAILOVER, why)


def move_opcode(kind: MoveKind, instance: str, target_node: str | None,
                options: MigrateOptions | None = None) -> OpCode:
    """The opcode moving ``instance`` to ``target_node`` (``None``: the unit's allocator).

    Raises:
        ValueError: a move without a target node.
    """
    opts = options or MigrateOptions()
    if kind is MoveKind.MIGRATE:
        return OpInstanceMigrate(
            instance_name=instance, target_node=target_node, mode=opts.mode, live=opts.live,
            allow_runtime_changes=opts.allow_runtime_changes,
            ignore_ipolicy=opts.ignore_ipolicy,
            iallocator=None if target_node else opts.iallocator,
            allow_failover=opts.allow_failover)
    if kind is MoveKind.FAILOVER:
        return OpInstanceFailover(
            instance_name=instance, target_node=target_node, ignore_ipolicy=opts.ignore_ipolicy,
            iallocator=None if target_node else opts.iallocator)
    if target_node is None:
        raise ValueError(f"moving instance {instance} needs a target node")
    return OpInstanceMove(instance_name=instance, target_node=target_node,
                          ignore_ipolicy=opts.ignore_ipolicy)


def describe(kind: MoveKind, target_node: str | None) -> str:
    """``"migrate to node3"``, ``"fail over (node chosen by the allocator)"``…"""
    verb = {MoveKind.MIGRATE: "migrate", MoveKind.FAILOVER: "fail over",
            MoveKind.MOVE: "move"}[kind]
    return f"{verb} to {target_node}" if target_node else f"{verb} (target chosen by its job)"


def wire(op: OpCode) -> dict[str, Any]:
    """``op`` as the plain JSON object a job carries (Ganeti's opcode shape)."""
    data: dict[str, Any] = serde.loads(serde.dumps(op))
    return data
