"""Node opcodes."""

from __future__ import annotations

from typing import Any, ClassVar

from corral.opcodes.base import OpCode
from corral.opcodes.params import NodeName, NodeNames, OptionalUuid, OutputFields, ParamDict


class OpNodeAdd(OpCode, kw_only=True, frozen=True):
    """Add (or re-add) a node. ``join_token`` authenticates the new node's daemon."""

    OP_DSC_FIELD: ClassVar[str | None] = "node_name"
    node_name: NodeName
    primary_ip: str | None = None
    secondary_ip: str | None = None
    readd: bool = False
    group: str | None = None
    master_capable: bool | None = None
    vm_capable: bool | None = None
    ndparams: ParamDict | None = None
    hv_state: Any = None
    disk_state: Any = None
    node_setup: bool = False
    join_token: str | None = None
    rpc_port: int | None = None


class OpNodeRemove(OpCode, kw_only=True, frozen=True):
    """Remove a node from the cluster."""

    OP_DSC_FIELD: ClassVar[str | None] = "node_name"
    node_name: NodeName
    node_uuid: OptionalUuid = None


class OpNodeSetParams(OpCode, kw_only=True, frozen=True):
    """Change a node's flags and role."""

    OP_DSC_FIELD: ClassVar[str | None] = "node_name"
    node_name: NodeName
    node_uuid: OptionalUuid = None
    force: bool = False
    master_candidate: bool | None = None
    offline: bool | None = None
    drained: bool | None = None
    auto_promote: bool = False
    master_capable: bool | None = None
    vm_capable: bool | None = None
    secondary_ip: str | None = None
    ndparams: ParamDict | None = None
    powered: bool | None = None
    hv_state: Any = None
    disk_state: Any = None


class OpNodeQueryvols(OpCode, kw_only=True, frozen=True):
    """List the logical volumes of nodes (``gnt-node volumes``); one row per LV.

    Fields: node, phys, vg, name, size, instance.
    """

    output_fields: OutputFields
    nodes: NodeNames = []


class OpNodeQueryStorage(OpCode, kw_only=True, frozen=True):
    """List storage units of one type on nodes (``gnt-node list-storage``).

    ``storage_type`` null: the first type of the cluster's enabled disk templates.
    Fields: node, type, name, size, used, free, allocatable (and vg for lvm-pv).
    """

    output_fields: OutputFields
    storage_type: str | None = None
    nodes: NodeNames = []
    name: str | None = None
