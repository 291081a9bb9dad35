"""Mobility opcodes: migrate, fail over, move and regroup instances; empty nodes and groups.

Field names, types and defaults are Ganeti 3.0's. ``mode`` (``live``/``non-live``) wins
over the legacy ``live`` flag; giving both is an error, as in Ganeti.
"""

from __future__ import annotations

from typing import ClassVar, Final, Literal

import msgspec

from corral.opcodes.base import OpCode
from corral.opcodes.params import (
    DEFAULT_SHUTDOWN_TIMEOUT,
    DiskIndex,
    GroupName,
    InstanceName,
    InstanceShutdownTimeout,
    NodeName,
    OptionalName,
    OptionalUuid,
)

MigrationMode = Literal["live", "non-live"]
EvacuationMode = Literal["primary-only", "secondary-only", "all"]
"""Which instances ``OpNodeEvacuate`` moves off the node (Ganeti's NODE_EVAC_*)."""
CompressionTool = Literal["none", "gzip", "gzip-fast", "gzip-slow", "lzop"]


def _check_mode(mode: str | None, live: bool | None) -> None:
    if mode is not None and live is not None:
        raise ValueError("live: give either 'mode' or the legacy 'live' flag, not both")


class _InstanceMobilityOp(OpCode, kw_only=True, frozen=True):
    """Base of the instance opcodes of this module (not an opcode itself)."""

    OP_DSC_FIELD: ClassVar[str | None] = "instance_name"
    instance_name: InstanceName
    instance_uuid: OptionalUuid = None


class OpInstanceMigrate(_InstanceMobilityOp, kw_only=True, frozen=True):
    """Move a running instance to another node without stopping it.

    With node-local disks (``file``, ``plain``) and a target node, the disks are
    copied to the target while the guest runs (live storage migration).
    """

    mode: MigrationMode | None = None
    live: bool | None = None
    target_node: OptionalName = None
    target_node_uuid: OptionalUuid = None
    allow_runtime_changes: bool = True
    ignore_ipolicy: bool = False
    cleanup: bool = False
    iallocator: OptionalName = None
    allow_failover: bool = False
    ignore_hvversions: bool = False

    def __post_init__(self) -> None:
        _check_mode(self.mode, self.live)


class OpInstanceFailover(_InstanceMobilityOp, kw_only=True, frozen=True):
    """Stop the instance on its node (unless that node is dead) and start it on another."""

    shutdown_timeout: InstanceShutdownTimeout = DEFAULT_SHUTDOWN_TIMEOUT
    ignore_consistency: bool = False
    target_node: OptionalName = None
    target_node_uuid: OptionalUuid = None
    ignore_ipolicy: bool = False
    cleanup: bool = False
    iallocator: OptionalName = None


class OpInstanceMove(_InstanceMobilityOp, kw_only=True, frozen=True):
    """Shut the instance down, copy its disks to ``target_node`` and start it there."""

    shutdown_timeout: InstanceShutdownTimeout = DEFAULT_SHUTDOWN_TIMEOUT
    ignore_ipolicy: bool = False
    target_node: NodeName
    target_node_uuid: OptionalUuid = None
    compress: CompressionTool = "none"
    ignore_consistency: bool = False


class OpInstanceChangeGroup(_InstanceMobilityOp, kw_only=True, frozen=True):
    """Move an instance to another node group; yields the jobs that do it."""

    early_release: bool = False
    iallocator: OptionalName = None
    target_groups: list[GroupName] | None = None


class OpNodeMigrate(OpCode, kw_only=True, frozen=True):
    """Migrate every primary instance off a node; yields one job per instance."""

    OP_DSC_FIELD: ClassVar[str | None] = "node_name"
    node_name: NodeName
    node_uuid: OptionalUuid = None
    mode: MigrationMode | None = None
    live: bool | None = None
    target_node: OptionalName = None
    target_node_uuid: OptionalUuid = None
    allow_runtime_changes: bool = True
    ignore_ipolicy: bool = False
    iallocator: OptionalName = None

    def __post_init__(self) -> None:
        _check_mode(self.mode, self.live)


class OpNodeEvacuate(OpCode, kw_only=True, frozen=True):
    """Move instances off a node (``mode`` says which); yields one job per instance."""

    OP_DSC_FIELD: ClassVar[str | None] = "node_name"
    early_release: bool = False
    node_name: NodeName
    node_uuid: OptionalUuid = None
    remote_node: OptionalName = None
    remote_node_uuid: OptionalUuid = None
    iallocator: OptionalName = None
    mode: EvacuationMode
    ignore_soft_errors: bool = False

    def __post_init__(self) -> None:
        if self.remote_node is not None and self.iallocator is not None:
            raise ValueError("remote_node: give either a remote node or an iallocator,"
                             " not both")


class OpGroupEvacuate(OpCode, kw_only=True, frozen=True):
    """Move every instance out of a node group; yields one job per instance."""

    OP_DSC_FIELD: ClassVar[str | None] = "group_name"
    group_name: GroupName
    early_release: bool = False
    iallocator: OptionalName = None
    target_groups: list[GroupName] | None = None
    sequential: bool = False
    force_failover: bool = False


REPLACE_ON_PRIMARY: Final = "replace_on_primary"
REPLACE_ON_SECONDARY: Final = "replace_on_secondary"
REPLACE_NEW_SECONDARY: Final = "replace_new_secondary"
REPLACE_AUTO: Final = "replace_auto"
ReplaceDisksMode = Literal["replace_on_primary", "replace_on_secondary",
                           "replace_new_secondary", "replace_auto"]
"""Ganeti's REPLACE_DISK_PRI, _SEC, _CHG and _AUTO."""


class OpInstanceReplaceDisks(_InstanceMobilityOp, kw_only=True, frozen=True):
    """Replace the local storage of a mirrored instance's disks on its primary or its
    secondary node, or move the secondary half to a new node (given, or chosen by
    ``iallocator``); ``replace_auto`` repairs the side whose disks are faulty."""

    early_release: bool = False
    ignore_ipolicy: bool = False
    mode: ReplaceDisksMode
    disks: list[DiskIndex] = msgspec.field(default_factory=list)
    remote_node: OptionalName = None
    remote_node_uuid: OptionalUuid = None
    iallocator: OptionalName = None
