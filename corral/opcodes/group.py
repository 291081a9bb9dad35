"""Node group opcodes."""

from __future__ import annotations

from typing import Any, ClassVar

from corral.opcodes.base import OpCode
from corral.opcodes.params import GroupName, ParamDict


class _GroupParams(OpCode, kw_only=True, frozen=True):
    """Parameters shared by group creation and modification (not an opcode itself)."""

    OP_DSC_FIELD: ClassVar[str | None] = "group_name"
    group_name: GroupName
    alloc_policy: str | None = None
    ndparams: ParamDict | None = None
    diskparams: dict[str, ParamDict] | None = None
    ipolicy: ParamDict | None = None
    hv_state: Any = None
    disk_state: Any = None


class OpGroupAdd(_GroupParams, kw_only=True, frozen=True):
    """Create a node group."""


class OpGroupAssignNodes(OpCode, kw_only=True, frozen=True):
    """Move nodes into a group."""

    OP_DSC_FIELD: ClassVar[str | None] = "group_name"
    group_name: GroupName
    force: bool = False
    nodes: list[str]
    node_uuids: list[str] | None = None


class OpGroupSetParams(_GroupParams, kw_only=True, frozen=True):
    """Modify a node group."""


class OpGroupRemove(OpCode, kw_only=True, frozen=True):
    """Delete an empty node group."""

    OP_DSC_FIELD: ClassVar[str | None] = "group_name"
    group_name: GroupName


class OpGroupRename(OpCode, kw_only=True, frozen=True):
    """Rename a node group."""

    OP_DSC_FIELD: ClassVar[str | None] = "group_name"
    group_name: GroupName
    new_name: GroupName


class OpGroupVerifyDisks(OpCode, kw_only=True, frozen=True):
    """Per-group disk check."""

    OP_DSC_FIELD: ClassVar[str | None] = "group_name"
    group_name: GroupName
    is_strict: bool = True
