"""From a configured disk to the :class:`NodeDisk` one node receives (Ganeti's
``AnnotateDiskParams`` and ``_ComputeDrbdDynamicParams`` together).

The configuration lists a disk's children by uuid only; a node gets them as
``child_disks`` (for drbd: the data LV, then the metadata LV). A drbd disk also gets
``dynamic_params``: the addresses (the nodes' secondary IPs) and minors of the side the
node is on, then of its peer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from corral.cmdlib.common.instances.drbd import DrbdLogicalId
from corral.errors import OpExecError
from corral.objects.config_data import ConfigData
from corral.objects.instance import Disk
from corral.objects.node_disk import DrbdLink, NodeDisk

_DISK_FIELDS = tuple(Disk.__struct_fields__)


def node_disk(
    cfg: ConfigData, disk: Disk, node: str, known: Iterable[Disk] = (),
) -> NodeDisk:
    """``disk`` as node ``node`` (uuid) needs it; ``known`` are disks not yet in the
    configuration (children of a disk being created). A plain disk is unchanged.

    Raises:
        OpExecError: a child is unknown, a drbd disk is not on ``node``, or a node of a
            drbd disk is not in the configuration.
    """
    lookup: Mapping[str, Disk] = {**cfg.disks, **{d.uuid: d for d in known}}
    return _annotated(cfg, disk, node, lookup)


def node_disks(
    cfg: ConfigData, disks: Iterable[Disk], node: str, known: Iterable[Disk] = (),
) -> list[NodeDisk]:
    """:func:`node_disk` of each of ``disks``."""
    extra = list(known)
    return [node_disk(cfg, disk, node, extra) for disk in disks]


def _annotated(cfg: ConfigData, disk: Disk, node: str, known: Mapping[str, Disk]) -> NodeDisk:
    children: list[NodeDisk] = []
    for uuid in disk.children:
        child = known.get(uuid)
        if child is None:
            raise OpExecError(f"Disk {disk.iv_name or disk.uuid}: child disk {uuid} is not"
                              " in the configuration")
        children.append(_annotated(cfg, child, node, known))
    fields = {name: getattr(disk, name) for name in _DISK_FIELDS}
    return NodeDisk(**fields, child_disks=tuple(children),
                    dynamic_params=drbd_link(cfg, disk, node))


def drbd_link(cfg: ConfigData, disk: Disk, node: str) -> DrbdLink | None:
    """The side of a drbd disk on ``node``; None for a disk that is not drbd."""
    lid = DrbdLogicalId.of(disk)
    if lid is None:
        return None
    if node == lid.primary:
        local, remote = (lid.primary, lid.primary_minor), (lid.secondary, lid.secondary_minor)
    elif node == lid.secondary:
        local, remote = (lid.secondary, lid.secondary_minor), (lid.primary, lid.primary_minor)
    else:
        raise OpExecError(f"Disk {disk.iv_name or disk.uuid} is not on node {_name(cfg, node)}")
    return DrbdLink(local_ip=_address(cfg, local[0]), remote_ip=_address(cfg, remote[0]),
                    local_minor=local[1], remote_minor=remote[1])


def _name(cfg: ConfigData, uuid: str) -> str:
    found = cfg.nodes.get(uuid)
    return found.name if found is not None else uuid


def _address(cfg: ConfigData, uuid: str) -> str:
    found = cfg.nodes.get(uuid)
    if found is None:
        raise OpExecError(f"Node {uuid} of a drbd disk is not in the configuration")
    return found.effective_secondary_ip
