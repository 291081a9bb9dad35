"""``mirror`` disks on the master: their logical ids, the generation of new ones, the
rewrite when the roles of their nodes change, and the secondary's export.

A mirror disk is a file at the same cluster path on its two nodes (the path a
``file`` disk of the instance would have) plus the secondary's NBD-over-TLS export
the primary's QEMU writes to: logical id ``(driver, path,
"nbd+tls://<secondary address>:<port>/<disk uuid>")``, ``nodes`` (primary,
secondary). The port comes from the DRBD port pool (:class:`DrbdAllocator`), so
ports of both templates never collide; the address is the secondary node's
secondary IP. When the roles swap (migration, failover) the disk keeps its port
and export name and the URI follows the new secondary (:func:`with_nodes`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from corral.errors import BlockDeviceError, ErrorCode, OpExecError, OpPrereqError
from corral.objects.base import new_uuid
from corral.objects.config_data import ConfigData
from corral.objects.instance import Disk, DiskMode, DiskTemplate, Instance
from corral.objects.node import Node
from corral.storage.mirror.export import export_uri, parse_export_uri
from corral.storage.naming import file_disk_path

if TYPE_CHECKING:
    from corral.cmdlib.base import LogicalUnit
    from corral.cmdlib.common.instances.drbd import DrbdAllocator

MIRROR_DRIVER = "loop"
MIRROR_HYPERVISORS = frozenset({"kvm"})
"""Hypervisors that can write a guest's disks to both halves (QEMU's blockdev-mirror)."""


@dataclass(frozen=True)
class MirrorLogicalId:
    """A mirror disk's logical id with names."""

    driver: str
    path: str
    address: str
    """The secondary node's address the export listens on."""
    port: int
    export: str
    """The export name: the disk's uuid."""

    @classmethod
    def of(cls, disk: Disk) -> MirrorLogicalId | None:
        """The id of a mirror disk; None for another disk or a malformed id."""
        lid = disk.logical_id
        if disk.dev_type is not DiskTemplate.MIRROR or len(lid) != 3:
            return None
        try:
            address, port, export = parse_export_uri(str(lid[2]))
        except BlockDeviceError:
            return None
        return cls(str(lid[0]), str(lid[1]), address, port, export)

    @property
    def uri(self) -> str:
        return export_uri(self.address, self.port, self.export)

    def as_tuple(self) -> tuple[str, str, str]:
        return (self.driver, self.path, self.uri)


def check_mirror_hypervisor(template: DiskTemplate, hypervisor: str) -> None:
    """Raises OpPrereqError (INVAL) for a mirror instance on another hypervisor than KVM."""
    if template is DiskTemplate.MIRROR and hypervisor not in MIRROR_HYPERVISORS:
        raise OpPrereqError(f"Disk template 'mirror' needs the kvm hypervisor, not"
                            f" '{hypervisor}'", ErrorCode.INVAL)


def _node(cfg: ConfigData, uuid: str) -> Node:
    node = cfg.nodes.get(uuid)
    if node is None:
        raise OpExecError(f"Node {uuid} of a mirror disk is not in the configuration")
    return node


def new_mirror_disk(
    alloc: DrbdAllocator, cfg: ConfigData, index: int, spec: Mapping[str, Any],
    nodes: tuple[str, str], instance_name: str, now: float, subdir: str = "",
) -> Disk:
    """A mirror disk for ``spec`` (``size`` MiB, ``mode``, ``name``) between ``nodes``
    (primary, secondary uuids), its export port reserved through ``alloc``."""
    uuid = new_uuid()
    root = cfg.cluster.file_storage_dir
    if subdir:
        root = posixpath.join(root, subdir)
    secondary = _node(cfg, nodes[1])
    lid = MirrorLogicalId(MIRROR_DRIVER, file_disk_path(root, instance_name, uuid, index),
                          secondary.effective_secondary_ip, alloc.port(), uuid)
    return Disk(uuid=uuid, ctime=now, mtime=now, name=spec.get("name") or "",
                dev_type=DiskTemplate.MIRROR, size=int(spec.get("size") or 0),
                mode=DiskMode(spec.get("mode") or DiskMode.RW), logical_id=lid.as_tuple(),
                iv_name=f"disk/{index}", nodes=nodes)


def with_nodes(cfg: ConfigData, disk: Disk, primary: str, secondary: str) -> Disk:
    """``disk`` between ``primary`` and ``secondary`` (uuids): its URI names the new
    secondary's address; port and export name are kept. Not a mirror disk: unchanged.

    Raises:
        OpExecError: ``secondary`` is not in the configuration.
    """
    lid = MirrorLogicalId.of(disk)
    if lid is None:
        return disk
    address = _node(cfg, secondary).effective_secondary_ip
    moved = MirrorLogicalId(lid.driver, lid.path, address, lid.port, lid.export)
    return msgspec.structs.replace(disk, nodes=(primary, secondary),
                                   logical_id=moved.as_tuple())


def secondary_of(inst: Instance, disk: Disk) -> str | None:
    """The uuid of ``disk``'s node that is not ``inst``'s primary (None: none)."""
    return next((n for n in disk.nodes if n != inst.primary_node), None)


def mirror_disks(disks: Sequence[Disk]) -> list[tuple[Disk, MirrorLogicalId]]:
    """The mirror disks among ``disks`` with their ids."""
    found = [(d, MirrorLogicalId.of(d)) for d in disks]
    return [(d, lid) for d, lid in found if lid is not None]


async def start_exports(lu: LogicalUnit[Any], inst: Instance, disks: Sequence[Disk]) -> None:
    """Serve each mirror disk's secondary half to the primary (``mirror_export_start`` on
    the secondary, client the primary's name); running exports are kept. Other disks
    are skipped.

    Raises:
        OpExecError: naming the node and disk whose export could not start.
    """
    primary = _node(lu.cfg, inst.primary_node)
    for disk, lid in mirror_disks(disks):
        uuid = secondary_of(inst, disk)
        if uuid is None:
            raise OpExecError(f"Mirror disk {disk.iv_name} of instance {inst.name} has no"
                              " secondary node")
        node = _node(lu.cfg, uuid)
        result = await lu.ctx.rpc.mirror_export_start(node, disk, lid.address, lid.port,
                                                      primary.name)
        if not result.ok:
            raise OpExecError(f"Cannot export disk {disk.iv_name} of instance {inst.name}"
                              f" on node {node.name}: {result.fail_msg}")


async def stop_exports(lu: LogicalUnit[Any], inst: Instance, disks: Sequence[Disk],
                       node: str | None = None) -> bool:
    """Stop serving the mirror disks among ``disks`` on ``node`` (uuid; default: each
    disk's secondary; nodes marked offline are skipped). Failures are warnings; returns
    whether every export stopped."""
    ok = True
    for disk, _ in mirror_disks(disks):
        uuid = node if node is not None else secondary_of(inst, disk)
        if uuid is None:
            continue
        where = _node(lu.cfg, uuid)
        if where.offline:
            continue
        result = await lu.ctx.rpc.mirror_export_stop(where, disk)
        if result.ok:
            continue
        lu.log_warning(f"Could not stop the export of disk {disk.iv_name} on node"
                       f" {where.name}: {result.fail_msg}")
        ok = False
    return ok


async def serve_mirrors(lu: LogicalUnit[Any], inst: Instance, disks: Sequence[Disk]) -> bool:
    """:func:`start_exports` disk by disk before the instance starts; a secondary that
    cannot serve (offline, unreachable, failing) is a warning: the primary then writes
    alone and the disk is reported degraded. Returns whether every export runs."""
    ok = True
    for disk, _ in mirror_disks(disks):
        try:
            await start_exports(lu, inst, [disk])
        except OpExecError as err:
            lu.log_warning(f"{err}; instance {inst.name} will run with disk {disk.iv_name}"
                           " degraded")
            ok = False
    return ok

