"""The ``instance`` resource (``gnt-instance list``)."""

from __future__ import annotations

from typing import Any

from corral.objects import AdminState, AdminStateSource, DiskTemplate, Instance
from corral.query.context import QueryContext, Resource
from corral.query.fields import (
    NODATA,
    FieldDef,
    FieldFlag,
    FieldKind,
    ItemGetter,
    attr,
    common_fields,
    field_table,
    maybe_attr,
)
from corral.query.instance_data import (
    InstanceShared,
    console_info,
    instance_status,
    live_value,
    oper_state,
)
from corral.query.instance_devices import (
    CUSTOM_NICPARAMS,
    DEVICE_ALIASES,
    disk_fields,
    nic_fields,
)
from corral.query.names import nice_sorted_by, resolve_named
from corral.query.paramfields import BE_PARAMS, HV_PARAMS, param_fields

K = FieldKind

_STATUS_DOC = (
    'Instance status; "running" if instance is set to be running and actually is,'
    ' "ADMIN_down" if instance is stopped and is not running, "ERROR_wrongnode" if'
    ' instance running, but not on its designated primary node, "ERROR_up" if instance'
    ' should be stopped, but is actually running, "ERROR_down" if instance should run,'
    ' but doesn\'t, "ERROR_nodedown" if instance\'s primary node is down,'
    ' "ERROR_nodeoffline" if instance\'s primary node is marked offline, "ADMIN_offline"'
    ' if instance is offline and does not use dynamic resources, "USER_down" if the user'
    " shut down the instance"
)


_VALUES: dict[Any, str] = {
    member: member.value for enum in (AdminState, AdminStateSource, DiskTemplate) for member in enum
}
"""Plain string values of the enums instance fields show (faster than ``.value``)."""


def _pnode_name(sh: InstanceShared, inst: Instance) -> Any:
    name = sh.node_names.get(inst.primary_node)
    return NODATA if name is None else name


def _snode_names(sh: InstanceShared, inst: Instance) -> list[str | None]:
    return list(map(sh.node_names.get, sh.secondary_nodes(inst)))


def _pnode_group(uuid: bool) -> Any:
    def get(sh: InstanceShared, inst: Instance) -> Any:
        group = sh.node_group(inst.primary_node)
        if group is None:
            return NODATA
        return group.uuid if uuid else group.name

    return get


def _snode_groups(uuid: bool) -> Any:
    def get(sh: InstanceShared, inst: Instance) -> Any:
        groups = (sh.node_group(n) for n in sh.secondary_nodes(inst))
        return [g.uuid if uuid else g.name for g in groups if g is not None]

    return get


_CONFIG_FIELDS = [
    FieldDef("name", "Instance", K.TEXT, "Instance name", attr("name"),
             flags=FieldFlag.HOSTNAME),
    FieldDef("os", "OS", K.TEXT, "Operating system", attr("os")),
    FieldDef("hypervisor", "Hypervisor", K.TEXT, "Hypervisor name", attr("hypervisor")),
    FieldDef("pnode", "Primary_node", K.TEXT, "Primary node", _pnode_name,
             flags=FieldFlag.HOSTNAME),
    FieldDef("pnode.group", "PrimaryNodeGroup", K.TEXT, "Primary node's group",
             _pnode_group(False)),
    FieldDef("pnode.group.uuid", "PrimaryNodeGroupUUID", K.TEXT, "Primary node's group UUID",
             _pnode_group(True)),
    FieldDef("snodes", "Secondary_Nodes", K.OTHER,
             "Secondary nodes; usually this will just be one node",
             _snode_names),
    FieldDef("snodes.group", "SecondaryNodesGroups", K.OTHER, "Node groups of secondary nodes",
             _snode_groups(False)),
    FieldDef("snodes.group.uuid", "SecondaryNodesGroupsUUID", K.OTHER,
             "Node group UUIDs of secondary nodes", _snode_groups(True)),
    FieldDef("admin_state", "InstanceState", K.TEXT, "Desired state of instance",
             ItemGetter(lambda i: _VALUES[i.admin_state])),
    FieldDef("admin_up", "Autostart", K.BOOL, "Desired state of instance",
             ItemGetter(lambda i: i.admin_state is AdminState.UP)),
    FieldDef("admin_state_source", "InstanceStateSource", K.TEXT,
             "Who last changed the desired state of the instance",
             ItemGetter(lambda i: _VALUES[i.admin_state_source])),
    FieldDef("disks_active", "DisksActive", K.BOOL, "Desired state of instance disks",
             attr("disks_active")),
    FieldDef("disk_template", "Disk_template", K.TEXT, "Instance disk template",
             ItemGetter(lambda i: _VALUES[i.disk_template])),
    FieldDef("network_port", "Network_port", K.OTHER,
             "Instance network port if available (e.g. for VNC console)",
             maybe_attr("network_port")),
]

_PARAM_FIELDS = [
    FieldDef("hvparams", "HypervisorParameters", K.OTHER, "Hypervisor parameters (merged)",
             InstanceShared.hvparams),
    FieldDef("beparams", "BackendParameters", K.OTHER, "Backend parameters (merged)",
             InstanceShared.beparams),
    FieldDef("osparams", "OpSysParameters", K.OTHER, "Operating system parameters (merged)",
             InstanceShared.osparams),
    FieldDef("custom_hvparams", "CustomHypervisorParameters", K.OTHER,
             "Custom hypervisor parameters", ItemGetter(lambda i: dict(i.hvparams))),
    FieldDef("custom_beparams", "CustomBackendParameters", K.OTHER,
             "Custom backend parameters", ItemGetter(lambda i: dict(i.beparams))),
    FieldDef("custom_osparams", "CustomOpSysParameters", K.OTHER,
             "Custom operating system parameters", ItemGetter(lambda i: dict(i.osparams))),
    FieldDef("custom_nicparams", "CustomNicParameters", K.OTHER,
             "Custom network interface parameters", CUSTOM_NICPARAMS),
    *param_fields("be", "backend", BE_PARAMS, lambda sh, i, name: sh.beparam(i, name)),
    *param_fields("hv", "hypervisor", HV_PARAMS, lambda sh, i, name: sh.hvparam(i, name)),
]

_LIVE_FIELDS = [
    FieldDef("status", "Status", K.TEXT, _STATUS_DOC, instance_status, live=True),
    FieldDef("oper_state", "Running", K.BOOL, "Actual state of instance", oper_state,
             live=True),
    FieldDef("oper_ram", "Memory", K.UNIT, "Actual memory usage as seen by hypervisor",
             live_value("memory"), live=True),
    FieldDef("oper_vcpus", "VCPUs", K.NUMBER, "Actual number of VCPUs as seen by hypervisor",
             live_value("vcpus"), live=True),
    FieldDef("console", "Console", K.OTHER, "Instance console information", console_info,
             live=True),
]

INSTANCE_FIELDS = field_table(
    [
        *_CONFIG_FIELDS,
        *_PARAM_FIELDS,
        *_LIVE_FIELDS,
        *disk_fields(),
        *nic_fields(),
        *common_fields("Instance"),
    ],
    aliases=[("vcpus", "be/vcpus"), ("be/memory", "be/maxmem"), *DEVICE_ALIASES],
)


def select_instances(ctx: QueryContext, wanted: list[Any] | None) -> list[Instance]:
    if wanted is not None:
        return resolve_named(ctx.config.instances, wanted, "Instance")
    return nice_sorted_by(ctx.config.instances.values(), lambda i: i.name)


RESOURCE = Resource("instance", INSTANCE_FIELDS, "name", InstanceShared, select_instances)
