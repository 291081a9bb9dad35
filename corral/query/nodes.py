"""The ``node`` resource (``gnt-node list``)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from corral.objects import Node
from corral.query.context import QueryContext, Resource
from corral.query.fields import (
    NODATA,
    OFFLINE,
    UNAVAIL,
    FieldDef,
    FieldFlag,
    FieldKind,
    Getter,
    attr,
    common_fields,
    field_table,
    fill,
)
from corral.query.names import nice_sorted, nice_sorted_by, resolve_named
from corral.query.paramfields import ND_PARAMS, dict_lookup, param_fields

K = FieldKind
LVM_PV = "lvm-pv"
"""Storage type reported for spindles (exclusive storage), not for disk space."""


class NodeShared:
    """Per-query data for node rows; instance maps are built once, on demand."""

    def __init__(self, ctx: QueryContext) -> None:
        self.config = ctx.config
        self.master_uuid = ctx.config.cluster.master_node
        self.live = ctx.live_nodes
        self.failed = ctx.offline_or_failed

    @cached_property
    def instances_by_node(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """Node UUID → names of its primary instances, and of its secondary ones."""
        primary: dict[str, list[str]] = {}
        secondary: dict[str, list[str]] = {}
        for inst in self.config.instances.values():
            primary.setdefault(inst.primary_node, []).append(inst.name)
            for node_uuid in self.config.instance_secondary_nodes(inst):
                secondary.setdefault(node_uuid, []).append(inst.name)
        return primary, secondary

    def ndparams(self, node: Node) -> dict[str, Any] | None:
        group = self.config.nodegroups.get(node.group)
        if group is None:
            return None
        return fill(fill(self.config.cluster.ndparams, group.ndparams), node.ndparams)


def _group_name(sh: NodeShared, node: Node) -> Any:
    group = sh.config.nodegroups.get(node.group)
    return NODATA if group is None else group.name


def _powered(sh: NodeShared, node: Node) -> Any:
    params = sh.ndparams(node)
    if params is None:
        return NODATA
    return node.powered if params.get("oob_program") else UNAVAIL


def _inst_count(secondary: bool) -> Getter:
    return lambda sh, node: len(sh.instances_by_node[secondary].get(node.uuid, ()))


def _inst_list(secondary: bool) -> Getter:
    return lambda sh, node: nice_sorted(sh.instances_by_node[secondary].get(node.uuid, ()))


def _live_data(sh: NodeShared, node: Node) -> Any:
    if node.offline:
        return OFFLINE
    data = sh.live.get(node.uuid) if node.uuid not in sh.failed else None
    if data:
        return data
    return NODATA if node.vm_capable else UNAVAIL


def _storage(data: dict[str, Any], spindles: bool) -> dict[str, Any] | None:
    for unit in data.get("storage") or ():
        if (unit.get("type") == LVM_PV) == spindles:
            return unit  # type: ignore[no-any-return]
    return None


def _as_number(value: Any, kind: FieldKind) -> Any:
    if value is None:
        return NODATA
    if kind is K.TEXT:
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return UNAVAIL


def _live_field(key: str, kind: FieldKind) -> Getter:
    def get(sh: NodeShared, node: Node) -> Any:
        data = _live_data(sh, node)
        return _as_number(data.get(key), kind) if isinstance(data, dict) else data

    return get


def _storage_field(key: str, spindles: bool) -> Getter:
    def get(sh: NodeShared, node: Node) -> Any:
        data = _live_data(sh, node)
        if not isinstance(data, dict):
            return data
        unit = _storage(data, spindles)
        return NODATA if unit is None else _as_number(unit.get(key), K.NUMBER)

    return get


_ROLE_DOC = (
    'Node role; "M" for master, "C" for master candidate, "R" for regular,'
    ' "D" for drained, "O" for offline'
)

_CONFIG_FIELDS = [
    FieldDef("name", "Node", K.TEXT, "Node name", attr("name"), flags=FieldFlag.HOSTNAME),
    FieldDef("pip", "PrimaryIP", K.TEXT, "Primary IP address", attr("primary_ip")),
    FieldDef("sip", "SecondaryIP", K.TEXT, "Secondary IP address",
             attr("effective_secondary_ip")),
    FieldDef("master", "IsMaster", K.BOOL, "Whether node is master",
             lambda sh, n: n.uuid == sh.master_uuid),
    FieldDef("group", "Group", K.TEXT, "Node group", _group_name),
    FieldDef("group.uuid", "GroupUUID", K.TEXT, "UUID of node group", attr("group")),
    FieldDef("master_candidate", "MasterC", K.BOOL, "Whether node is a master candidate",
             attr("master_candidate")),
    FieldDef("master_capable", "MasterCapable", K.BOOL,
             "Whether node can become a master candidate", attr("master_capable")),
    FieldDef("vm_capable", "VMCapable", K.BOOL, "Whether node can host instances",
             attr("vm_capable")),
    FieldDef("offline", "Offline", K.BOOL, "Whether node is marked offline", attr("offline")),
    FieldDef("drained", "Drained", K.BOOL, "Whether node is drained", attr("drained")),
    FieldDef("role", "Role", K.TEXT, _ROLE_DOC,
             lambda sh, n: n.role(sh.master_uuid).value),
    FieldDef("powered", "Powered", K.BOOL, "Whether node is thought to be powered on",
             _powered),
    FieldDef("ndparams", "NodeParameters", K.OTHER, "Merged node parameters",
             lambda sh, n: NODATA if (p := sh.ndparams(n)) is None else p),
    FieldDef("custom_ndparams", "CustomNodeParameters", K.OTHER, "Custom node parameters",
             lambda _s, n: dict(n.ndparams)),
    FieldDef("pinst_cnt", "Pinst", K.NUMBER, "Number of instances with this node as primary",
             _inst_count(False)),
    FieldDef("sinst_cnt", "Sinst", K.NUMBER,
             "Number of instances with this node as secondary", _inst_count(True)),
    FieldDef("pinst_list", "PriInstances", K.OTHER,
             "List of instances with this node as primary", _inst_list(False)),
    FieldDef("sinst_list", "SecInstances", K.OTHER,
             "List of instances with this node as secondary", _inst_list(True)),
    FieldDef("hv_state", "HypervisorState", K.OTHER, "Hypervisor state",
             lambda _s, _n: UNAVAIL),
    FieldDef("disk_state", "DiskState", K.OTHER, "Disk state", lambda _s, _n: UNAVAIL),
]

_LIVE_FIELDS = [
    ("bootid", "BootID", K.TEXT, "bootid",
     "Random UUID renewed for each system reboot, can be used for detecting reboots by"
     " tracking changes"),
    ("cnodes", "CNodes", K.NUMBER, "cpu_nodes",
     "Number of NUMA domains on node (if exported by hypervisor)"),
    ("cnos", "CNOs", K.NUMBER, "cpu_dom0",
     "Number of logical processors used by the node OS (dom0 for Xen)"),
    ("csockets", "CSockets", K.NUMBER, "cpu_sockets",
     "Number of physical CPU sockets (if exported by hypervisor)"),
    ("ctotal", "CTotal", K.NUMBER, "cpu_total", "Number of logical processors"),
    ("mfree", "MFree", K.UNIT, "memory_free", "Memory available for instance allocations"),
    ("mnode", "MNode", K.UNIT, "memory_dom0", "Amount of memory used by node (dom0 for Xen)"),
    ("mtotal", "MTotal", K.UNIT, "memory_total", "Total amount of memory of physical machine"),
]

_STORAGE_FIELDS = [
    ("dfree", "DFree", K.UNIT, "storage_free", False,
     "Available storage space on storage unit"),
    ("dtotal", "DTotal", K.UNIT, "storage_size", False,
     "Total storage space on storage unit for instance disk allocation"),
    ("spfree", "SpFree", K.NUMBER, "storage_free", True,
     "Available spindles in volume group (exclusive storage only)"),
    ("sptotal", "SpTotal", K.NUMBER, "storage_size", True,
     "Total spindles in volume group (exclusive storage only)"),
]

NODE_FIELDS = field_table(
    [
        *_CONFIG_FIELDS,
        *(FieldDef(n, t, k, d, _live_field(key, k), live=True) for n, t, k, key, d in _LIVE_FIELDS),
        *(
            FieldDef(n, t, k, d, _storage_field(key, sp), live=True)
            for n, t, k, key, sp, d in _STORAGE_FIELDS
        ),
        *param_fields("ndp", "node", ND_PARAMS, dict_lookup(lambda sh, n: sh.ndparams(n), NODATA)),
        *common_fields("Node"),
    ]
)


def select_nodes(ctx: QueryContext, wanted: list[Any] | None) -> list[Node]:
    if wanted is not None:
        return resolve_named(ctx.config.nodes, wanted, "Node")
    return nice_sorted_by(ctx.config.nodes.values(), lambda n: n.name)


RESOURCE = Resource("node", NODE_FIELDS, "name", NodeShared, select_nodes)
