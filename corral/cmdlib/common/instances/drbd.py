"""DRBD disks on the master: their logical ids, the cluster's map of minors and ports,
allocation of new ones, and the generation of a DRBD disk with its two LVs.

A DRBD disk's logical id is Ganeti's ``(primary node uuid, secondary node uuid, port,
primary minor, secondary minor, secret)``; its ``children`` are the uuids of its data
LV (same size) and meta LV (``DRBD_META_SIZE`` MiB), plain disks on both nodes kept in
the configuration's disk table beside it.

Minors are per node: a new disk gets the lowest minor free on each of its nodes,
counting every DRBD disk of the configuration and the minors that units still running
reserved (:class:`corral.cmdlib.reservations.DrbdReservations`), so two creations side
by side never get the same one. Ports come from Ganeti's range, skipping the ports of
DRBD disks, instances (``network_port``) and reservations.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from corral.cmdlib.common.instances.mirror import MirrorLogicalId
from corral.cmdlib.reservations import DrbdReservations
from corral.errors import ErrorCode, OpPrereqError
from corral.objects.base import new_uuid
from corral.objects.cluster import Cluster
from corral.objects.config_data import ConfigData
from corral.objects.instance import Disk, DiskMode, DiskTemplate
from corral.opcodes.private import REDACTED

DRBD_META_SIZE = 128
"""MiB of the meta LV of each DRBD disk (Ganeti's DRBD_META_SIZE)."""
FIRST_DRBD_PORT = 11000
LAST_DRBD_PORT = 14999
SECRET_BYTES = 20
"""Random bytes of a DRBD secret, written as 40 hexadecimal digits (Ganeti's)."""
PRIMARY, SECONDARY = "primary", "secondary"


@dataclass(frozen=True)
class DrbdLogicalId:
    """A DRBD disk's logical id with names."""

    primary: str
    secondary: str
    port: int
    primary_minor: int
    secondary_minor: int
    secret: str

    @classmethod
    def of(cls, disk: Disk) -> DrbdLogicalId | None:
        """The id of a DRBD disk; None for another disk or a malformed id."""
        lid = disk.logical_id
        if disk.dev_type is not DiskTemplate.DRBD or len(lid) != 6:
            return None
        return cls(str(lid[0]), str(lid[1]), int(lid[2]), int(lid[3]), int(lid[4]),
                   str(lid[5]))

    def as_tuple(self) -> tuple[str, str, int, int, int, str]:
        return (self.primary, self.secondary, self.port, self.primary_minor,
                self.secondary_minor, self.secret)

    def minors(self) -> Iterator[tuple[str, int, str, str]]:
        """(node, minor, role, peer node) on each side."""
        yield self.primary, self.primary_minor, PRIMARY, self.secondary
        yield self.secondary, self.secondary_minor, SECONDARY, self.primary


@dataclass(frozen=True)
class MinorUse:
    """One DRBD minor in use: Ganeti's ``gnt-node list-drbd`` row, by uuid."""

    node: str
    minor: int
    instance: str
    """Name of the owning instance; empty for a disk no instance lists."""
    disk: str
    """The disk's ``iv_name`` (``disk/0``)."""
    role: str
    peer: str


def minor_uses(cfg: ConfigData) -> Iterator[MinorUse]:
    """Every minor held by a DRBD disk of the configuration."""
    owners = {d: i.name for i in cfg.instances.values() for d in i.disks}
    for disk in cfg.disks.values():
        lid = DrbdLogicalId.of(disk)
        if lid is None:
            continue
        for node, minor, role, peer in lid.minors():
            yield MinorUse(node, minor, owners.get(disk.uuid, ""), disk.iv_name, role, peer)


def drbd_map(cfg: ConfigData) -> dict[str, dict[int, MinorUse]]:
    """node uuid → minor → its use, with every node of the cluster (Ganeti's
    ComputeDRBDMap). A minor used twice on a node is reported by cluster verify."""
    result: dict[str, dict[int, MinorUse]] = {uuid: {} for uuid in cfg.nodes}
    for use in minor_uses(cfg):
        result.setdefault(use.node, {}).setdefault(use.minor, use)
    return result


def used_ports(cfg: ConfigData) -> set[int]:
    """Ports held by DRBD and mirror disks and instances (``network_port``)."""
    ports = {i.network_port for i in cfg.instances.values() if i.network_port}
    for disk in cfg.disks.values():
        lid = DrbdLogicalId.of(disk) or MirrorLogicalId.of(disk)
        if lid is not None:
            ports.add(lid.port)
    return ports


def new_secret() -> str:
    return secrets.token_hex(SECRET_BYTES)


@dataclass
class DrbdAllocator:
    """Hands out minors and ports to one unit (``owner``), reserving them until its job
    ends. Each call computes and reserves without yielding to the event loop."""

    cfg: ConfigData
    reservations: DrbdReservations
    owner: str

    def minors(self, nodes: Sequence[str]) -> list[int]:
        """The lowest free minor on each of ``nodes`` (in that order), reserved."""
        taken: dict[str, set[int]] = {}
        for use in minor_uses(self.cfg):
            taken.setdefault(use.node, set()).add(use.minor)
        found: list[int] = []
        for node in nodes:
            busy = taken.get(node, set()) | self.reservations.minors(node)
            minor = next(m for m in range(len(busy) + 1) if m not in busy)
            self.reservations.reserve_minor(self.owner, node, minor)
            found.append(minor)
        return found

    def port(self) -> int:
        """A free port of Ganeti's DRBD range, reserved.

        Raises:
            OpPrereqError: (NORES) every port of the range is in use.
        """
        busy = used_ports(self.cfg) | self.reservations.ports()
        for port in range(FIRST_DRBD_PORT, LAST_DRBD_PORT + 1):
            if port not in busy:
                self.reservations.reserve_port(self.owner, port)
                return port
        raise OpPrereqError(f"No free port left in {FIRST_DRBD_PORT}-{LAST_DRBD_PORT}",
                            ErrorCode.NORES)


@dataclass(frozen=True)
class DrbdBranch:
    """A new DRBD disk and its data and meta LVs."""

    disk: Disk
    children: tuple[Disk, Disk]


def new_drbd_disk(
    alloc: DrbdAllocator, cluster: Cluster, index: int, spec: Mapping[str, Any],
    nodes: tuple[str, str], now: float,
) -> DrbdBranch:
    """A DRBD disk for ``spec`` (``size`` MiB, ``mode``, ``name``, ``vg``, ``metavg``)
    between ``nodes`` (primary, secondary), with its LVs, minors, port and secret."""
    vg = str(spec.get("vg") or cluster.volume_group_name)
    metavg = str(spec.get("metavg") or vg)
    size = int(spec.get("size") or 0)
    data = _lv(vg, f"{new_uuid()}.disk{index}_data", size, nodes, now)
    meta = _lv(metavg, f"{new_uuid()}.disk{index}_meta", DRBD_META_SIZE, nodes, now)
    minors = alloc.minors(nodes)
    lid = DrbdLogicalId(nodes[0], nodes[1], alloc.port(), minors[0], minors[1], new_secret())
    disk = Disk(uuid=new_uuid(), ctime=now, mtime=now, name=spec.get("name") or "",
                dev_type=DiskTemplate.DRBD, size=size,
                mode=DiskMode(spec.get("mode") or DiskMode.RW), logical_id=lid.as_tuple(),
                children=(data.uuid, meta.uuid), iv_name=f"disk/{index}", nodes=nodes)
    return DrbdBranch(disk, (data, meta))


def _lv(vg: str, name: str, size: int, nodes: tuple[str, str], now: float) -> Disk:
    return Disk(uuid=new_uuid(), ctime=now, mtime=now, dev_type=DiskTemplate.PLAIN,
                size=size, logical_id=(vg, name), nodes=nodes)


def disk_tree(disk: Disk, known: Mapping[str, Disk]) -> list[Disk]:
    """``disk`` after its descendants, children first (the creation order); ``known``
    maps uuids to disks (the configuration's and new ones)."""
    tree: list[Disk] = []
    for uuid in disk.children:
        child = known.get(uuid)
        if child is not None:
            tree.extend(disk_tree(child, known))
    tree.append(disk)
    return tree


def node_drbd_rows(cfg: ConfigData, node_name: str) -> list[list[Any]]:
    """``[node, minor, instance, disk, role, peer]`` (names) per minor of one node, by
    minor: the answer of confd's ``node_drbd`` query behind ``gnt-node list-drbd``.

    Raises:
        OpPrereqError: (NOENT) unknown node.
    """
    node = cfg.node_by_name(node_name)
    if node is None:
        raise OpPrereqError(f"Node '{node_name}' not known", ErrorCode.NOENT)

    def name(uuid: str) -> str:
        found = cfg.nodes.get(uuid)
        return found.name if found is not None else uuid

    uses = sorted(drbd_map(cfg).get(node.uuid, {}).values(), key=lambda u: u.minor)
    return [[node.name, u.minor, u.instance, u.disk, u.role, name(u.peer)] for u in uses]


def shown_logical_id(disk: Disk) -> list[Any]:
    """The logical id as queries show it: a DRBD secret is ``<redacted>``."""
    if DrbdLogicalId.of(disk) is None:
        return list(disk.logical_id)
    return [*disk.logical_id[:5], REDACTED]


def drbd_info(cfg: ConfigData, disk: Disk) -> dict[str, Any] | None:
    """Ganeti's ``drbd_info`` of a disk in instance data (node names, minors, port; the
    secret ``<redacted>``); None for a disk that is not DRBD."""
    lid = DrbdLogicalId.of(disk)
    if lid is None:
        return None

    def name(uuid: str) -> str:
        found = cfg.nodes.get(uuid)
        return found.name if found is not None else uuid

    return {"primary_node": name(lid.primary), "primary_minor": lid.primary_minor,
            "secondary_node": name(lid.secondary), "secondary_minor": lid.secondary_minor,
            "port": lid.port, "secret": REDACTED}
