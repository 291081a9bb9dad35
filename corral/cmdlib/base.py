"""The logical unit base class, its life cycle and the opcode → LU registry.

Phases, in Ganeti's order: ``check_arguments`` → ``expand_names`` →
``declare_locks`` (a :class:`LockPlan`) → locks acquired → ``check_prereq`` →
pre hooks → ``exec`` → post hooks.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

from corral.cmdlib.context import MasterContext
from corral.errors import ErrorCode, OpPrereqError
from corral.locking.levels import Level
from corral.locking.plan import LockPlan
from corral.objects.config_data import ConfigData
from corral.objects.node import Node, NodeGroup
from corral.opcodes.base import OpCode

OpT = TypeVar("OpT", bound=OpCode)

LU_REGISTRY: dict[type[OpCode], type[LogicalUnit[Any]]] = {}


class HookObjectType(enum.StrEnum):
    CLUSTER = "CLUSTER"
    NODE = "NODE"
    INSTANCE = "INSTANCE"
    GROUP = "GROUP"
    NETWORK = "NETWORK"


def implements(
    op_class: type[OpCode],
) -> Callable[[type[LogicalUnit[Any]]], type[LogicalUnit[Any]]]:
    """Bind a logical unit class to the opcode it executes."""

    def register(lu_class: type[LogicalUnit[Any]]) -> type[LogicalUnit[Any]]:
        if op_class in LU_REGISTRY:
            raise ValueError(f"{op_class.__name__} already has a logical unit")
        LU_REGISTRY[op_class] = lu_class
        lu_class.OP_CLASS = op_class
        return lu_class

    return register


class LogicalUnit(abc.ABC, Generic[OpT]):
    """Executes one opcode. Subclasses override the phases they need."""

    OP_CLASS: ClassVar[type[OpCode]]
    HPATH: ClassVar[str | None] = None
    HTYPE: ClassVar[HookObjectType | None] = None
    REQ_BGL: ClassVar[bool] = True
    """True: take the cluster lock exclusively (nothing else runs meanwhile)."""

    def __init__(self, ctx: MasterContext, op: OpT, feedback: Callable[[str], None]) -> None:
        self.ctx = ctx
        self.op = op
        self.feedback = feedback
        self.config_changed = False
        self.lock_owner = ""
        """Set by the processor: the owner name under which this unit's locks are held."""

    # --- helpers ----------------------------------------------------
    @property
    def cfg(self) -> ConfigData:
        return self.ctx.config.data

    def release_level(self, level: Level) -> None:
        """Give up this unit's locks at ``level`` early (Ganeti's ReleaseLocks)."""
        if self.lock_owner:
            self.ctx.locks.release(self.lock_owner, level)

    def log_info(self, message: str) -> None:
        self.feedback(message)

    def log_warning(self, message: str) -> None:
        self.feedback(f"WARNING: {message}")

    def now(self) -> float:
        return self.ctx.clock.now()

    async def commit(self, *objects: Any, removed: Any = ()) -> None:
        """Commit configuration changes (see ConfigWriter.commit)."""
        await self.ctx.config.commit(*objects, removed=removed)
        self.config_changed = True

    def expand_node(self, name: str) -> Node:
        node = self.cfg.node_by_name(name)
        if node is None:
            raise OpPrereqError(f"Node '{name}' not known", ErrorCode.NOENT)
        return node

    def expand_group(self, name: str) -> NodeGroup:
        group = self.cfg.group_by_name(name)
        if group is None:
            raise OpPrereqError(f"Node group '{name}' not found", ErrorCode.NOENT)
        return group

    # --- life cycle -------------------------------------------------
    def check_arguments(self) -> None:
        """Validate opcode arguments that need no configuration."""

    def expand_names(self) -> None:
        """Resolve names to objects/UUIDs (before locking; re-checked in check_prereq)."""

    def declare_locks(self) -> LockPlan:
        """The locks this unit needs; by default only the cluster lock."""
        return LockPlan.of(exclusive_bgl=self.REQ_BGL)

    async def check_prereq(self) -> None:
        """Check prerequisites with the locks held; raise OpPrereqError when unmet."""

    @abc.abstractmethod
    async def exec(self) -> Any:
        """Do the work; the return value is the opcode's result."""

    def hooks_env(self) -> dict[str, Any]:
        """LU-specific hook variables (without the GANETI_ prefix)."""
        return {}

    def hooks_nodes(self) -> tuple[list[Node], list[Node]]:
        """Nodes to run the pre and post hooks on."""
        return [], []

    def dry_run_result(self) -> Any:
        return None


def master_only(cfg: ConfigData) -> tuple[list[Node], list[Node]]:
    """Hook nodes for cluster-level units: the master, pre and post."""
    master = cfg.master_node
    return [master], [master]

