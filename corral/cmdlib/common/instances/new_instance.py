"""The new instance of an instance creation, built and checked before anything runs:
disk template and disk arguments, parameters (hv, be, OS), NICs, disks, network port."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from corral.cmdlib.common.instances.bundle import (
    filled_beparams,
    filled_hvparams,
    filled_nicparams,
    filled_osparams,
)
from corral.cmdlib.common.instances.disks import (
    MAY_ADOPT,
    MIRRORED,
    MUST_ADOPT,
    SUPPORTED,
    check_template_storage,
    new_disk,
)
from corral.cmdlib.common.instances.drbd import DrbdAllocator, new_drbd_disk, used_ports
from corral.cmdlib.common.instances.macs import MacPool
from corral.cmdlib.common.instances.mirror import check_mirror_hypervisor, new_mirror_disk
from corral.cmdlib.common.instances.nics import MAX_NICS, build_nic
from corral.cmdlib.common.parameters import checks as params
from corral.errors import ErrorCode, OpPrereqError, ParameterError
from corral.hypervisor.params import HvKind, check_syntax
from corral.objects.base import new_uuid
from corral.objects.cluster import Cluster
from corral.objects.config_data import ConfigData
from corral.objects.instance import AdminState, Disk, DiskTemplate, Instance, Nic
from corral.objects.node import Node
from corral.opcodes.instance import OpInstanceCreate
from corral.opcodes.params import MAX_DISKS

FIRST_NETWORK_PORT = 11000
"""First port handed to instances that need one (KVM's VNC), as Ganeti's port pool."""
PORT_HYPERVISORS = frozenset({HvKind.KVM.value, HvKind.XEN_HVM.value})


@dataclass
class NewInstance:
    """The instance to create with its disks and filled parameters."""

    instance: Instance
    disks: list[Disk]
    adopted: list[bool]
    hv_full: dict[str, Any]
    be_full: dict[str, Any]
    os_full: dict[str, Any]
    children: list[Disk] = field(default_factory=list)
    """The LVs under mirrored disks (in the configuration's disk table, not the
    instance's list)."""


def create_template(cluster: Cluster, op: OpInstanceCreate) -> DiskTemplate:
    """The disk template to use (the first enabled one by default).

    Raises:
        OpPrereqError: (STATE) not enabled; (INVAL) none enabled or not supported.
    """
    enabled = cluster.enabled_disk_templates
    if not enabled:
        raise OpPrereqError("None of the disk templates is enabled", ErrorCode.INVAL)
    name = op.disk_template or enabled[0]
    if name not in enabled:
        raise OpPrereqError(f"Disk template '{name}' is not enabled in cluster. Enabled disk"
                            f" templates are: {','.join(enabled)}", ErrorCode.STATE)
    template = DiskTemplate(name)
    if template not in SUPPORTED:
        raise OpPrereqError(f"Disk template '{name}' is not supported by Corral yet",
                            ErrorCode.INVAL)
    return template


def check_disk_args(cluster: Cluster, op: OpInstanceCreate) -> DiskTemplate:
    """Disk and NIC arguments that need no node (Ganeti's _CheckDiskArguments)."""
    template = create_template(cluster, op)
    adopt = any("adopt" in disk for disk in op.disks)
    if adopt and template not in MAY_ADOPT:
        raise OpPrereqError(f"Disk adoption is not supported for the '{template.value}' disk"
                            " template", ErrorCode.INVAL)
    if not adopt and template in MUST_ADOPT:
        raise OpPrereqError(f"Disk template {template.value} requires disk adoption, but no"
                            " 'adopt' parameter given", ErrorCode.INVAL)
    if adopt and op.iallocator:
        raise OpPrereqError("Disk adoption not allowed with an iallocator script",
                            ErrorCode.INVAL)
    _check_disk_count(template, len(op.disks))
    for disk in op.disks:
        size = disk.get("size")
        if "adopt" not in disk and (not isinstance(size, int) or size <= 0):
            raise OpPrereqError(f"Invalid disk size '{size}'", ErrorCode.INVAL)
    if len(op.nics) > MAX_NICS:
        raise OpPrereqError(f"Too many NICs ({len(op.nics)}), at most {MAX_NICS} allowed",
                            ErrorCode.INVAL)
    _check_subdir(op.file_storage_dir)
    return template


def _check_disk_count(template: DiskTemplate, count: int) -> None:
    if template is DiskTemplate.DISKLESS and count:
        raise OpPrereqError("Diskless instances cannot have disks", ErrorCode.INVAL)
    if template is not DiskTemplate.DISKLESS and not count:
        raise OpPrereqError(f"Disk template '{template.value}' needs at least one disk",
                            ErrorCode.INVAL)
    if count > MAX_DISKS:
        raise OpPrereqError(f"Too many disks ({count}), at most {MAX_DISKS} allowed",
                            ErrorCode.INVAL)


def _check_subdir(subdir: str | None) -> None:
    if subdir and (posixpath.isabs(subdir) or ".." in subdir.split("/")):
        raise OpPrereqError(f"File storage directory '{subdir}' must be a relative path"
                            " without '..'", ErrorCode.INVAL)


def check_hypervisor_enabled(cluster: Cluster, hypervisor: str) -> None:
    """Raises OpPrereqError (STATE) unless ``hypervisor`` is enabled in the cluster."""
    enabled = cluster.enabled_hypervisors
    if hypervisor not in enabled:
        raise OpPrereqError(f"Selected hypervisor ({hypervisor}) not enabled in the cluster"
                            f" ({','.join(enabled)})", ErrorCode.STATE)


def full_hvparams(
    cluster: Cluster, hypervisor: str, os_name: str, hvparams: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the instance's own hvparams converted, the filled ones), both checked.

    Raises:
        OpPrereqError: (STATE) hypervisor not enabled; (INVAL) a bad parameter.
    """
    check_hypervisor_enabled(cluster, hypervisor)
    try:
        own = check_syntax(hypervisor, hvparams, instance_level=True)
        full = filled_hvparams(cluster, hypervisor, os_name, own)
        check_syntax(hypervisor, full, complete=True)
    except ParameterError as err:
        raise OpPrereqError(str(err), ErrorCode.INVAL) from None
    return dict(own), full


def full_beparams(
    cluster: Cluster, beparams: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the instance's own beparams typed, the filled ones); ``auto`` means the default."""
    defaults = filled_beparams(cluster, {})
    given = {k: defaults.get(k) if v == "auto" else v for k, v in beparams.items()}
    own = params.check_types(params.upgrade_beparams(given), params.BE_TYPES, "backend")
    full = filled_beparams(cluster, own)
    if int(full["minmem"]) > int(full["maxmem"]):
        raise OpPrereqError(f"Minimum memory ({full['minmem']}) cannot be larger than maximum"
                            f" memory ({full['maxmem']})", ErrorCode.INVAL)
    return own, full


def allocate_port(cfg: ConfigData, reserved: set[int] | None = None) -> int:
    """The lowest port from 11000 no instance, DRBD disk or reservation holds."""
    used = used_ports(cfg) | (reserved or set())
    port = FIRST_NETWORK_PORT
    while port in used:
        port += 1
    return port


def _without_defaults(given: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in given.items() if k not in defaults or defaults[k] != v}


def _identify_defaults(cluster: Cluster, inst: Instance) -> Instance:
    """Ganeti's identify_defaults: drop values equal to the cluster's."""
    hv = filled_hvparams(cluster, inst.hypervisor, inst.os, {})
    nics = tuple(
        Nic(uuid=n.uuid, ctime=n.ctime, mtime=n.mtime, name=n.name, mac=n.mac, ip=n.ip,
            network=n.network,
            nicparams=_without_defaults(n.nicparams, filled_nicparams(cluster, {})))
        for n in inst.nics
    )
    return msgspec.structs.replace(
        inst,
        hvparams=_without_defaults(inst.hvparams, hv),
        beparams=_without_defaults(inst.beparams, filled_beparams(cluster, {})),
        osparams=_without_defaults(inst.osparams, filled_osparams(cluster, inst.os, {})),
        nics=nics,
    )


def _nics(cfg: ConfigData, op: OpInstanceCreate, pnode: Node, now: float) -> list[Nic]:
    pool = MacPool.of(cfg)
    return [build_nic(cfg, spec, pool, pnode.group, now=now) for spec in op.nics]


def _disks(
    cfg: ConfigData, op: OpInstanceCreate, template: DiskTemplate,
    nodes: tuple[str, ...], alloc: DrbdAllocator | None, now: float,
) -> tuple[list[Disk], list[Disk]]:
    """The new disks on ``nodes`` (primary first), and the LVs under mirrored ones."""
    if template not in MIRRORED:
        return [new_disk(template, cfg.cluster, op.instance_name, index, dict(spec),
                         nodes[:1], now, subdir=op.file_storage_dir or "")
                for index, spec in enumerate(op.disks)], []
    if alloc is None or len(nodes) != 2:
        raise OpPrereqError(f"Disk template '{template.value}' needs a secondary node",
                            ErrorCode.INVAL)
    pair = (nodes[0], nodes[1])
    if template is DiskTemplate.MIRROR:
        return [new_mirror_disk(alloc, cfg, index, spec, pair, op.instance_name, now,
                                op.file_storage_dir or "")
                for index, spec in enumerate(op.disks)], []
    disks: list[Disk] = []
    children: list[Disk] = []
    for index, spec in enumerate(op.disks):
        branch = new_drbd_disk(alloc, cfg.cluster, index, spec, pair, now)
        disks.append(branch.disk)
        children.extend(branch.children)
    return disks, children


def build_new_instance(
    cfg: ConfigData, op: OpInstanceCreate, nodes: tuple[Node, ...], hypervisor: str,
    now: float, alloc: DrbdAllocator | None = None,
) -> NewInstance:
    """Everything the new instance is, checked against the configuration; ``nodes`` are
    the primary and, for a mirrored template, the secondary (minors and ports of DRBD
    disks come from ``alloc``).

    Raises:
        OpPrereqError: a parameter, OS, NIC or storage problem (Ganeti's codes).
    """
    cluster = cfg.cluster
    os_name = op.os_type or ""
    if os_name in cluster.blacklisted_os:
        raise OpPrereqError(f"Guest OS '{os_name}' is not allowed for installation",
                            ErrorCode.STATE)
    hv_own, hv_full = full_hvparams(cluster, hypervisor, os_name, op.hvparams)
    be_own, be_full = full_beparams(cluster, op.beparams)
    template = create_template(cluster, op)
    check_mirror_hypervisor(template, hypervisor)
    check_template_storage(cluster, template)
    pnode = nodes[0]
    nics = _nics(cfg, op, pnode, now)
    disks, children = _disks(cfg, op, template, tuple(n.uuid for n in nodes), alloc, now)
    inst = Instance(
        uuid=new_uuid(), name=op.instance_name, ctime=now, mtime=now,
        primary_node=pnode.uuid, os=os_name, hypervisor=hypervisor, hvparams=hv_own,
        beparams=be_own, osparams=dict(op.osparams),
        osparams_private=dict(op.osparams_private or {}), admin_state=AdminState.DOWN,
        disk_template=template, disks=tuple(d.uuid for d in disks), nics=tuple(nics),
        network_port=_network_port(cfg, hypervisor, alloc),
        tags=tuple(sorted(set(op.tags))),
    )
    if op.identify_defaults:
        inst = _identify_defaults(cluster, inst)
    secret = {**op.osparams, **(op.osparams_private or {}), **(op.osparams_secret or {})}
    return NewInstance(
        instance=inst, disks=disks, adopted=["adopt" in spec for spec in op.disks],
        hv_full=hv_full, be_full=be_full, os_full=filled_osparams(cluster, os_name, secret),
        children=children,
    )


def _network_port(cfg: ConfigData, hypervisor: str, alloc: DrbdAllocator | None) -> int | None:
    if hypervisor not in PORT_HYPERVISORS:
        return None
    if alloc is None:
        return allocate_port(cfg)
    port = allocate_port(cfg, alloc.reservations.ports())
    alloc.reservations.reserve_port(alloc.owner, port)
    return port
