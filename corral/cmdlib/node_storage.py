"""Node storage listings: ``gnt-node volumes`` (OpNodeQueryvols) and ``gnt-node list-storage``
(OpNodeQueryStorage).

Both return Ganeti's legacy rows: one list of values per LV / storage unit, in
the order of ``output_fields``. Offline nodes are skipped; a node that cannot
report its storage gets a warning and no rows.

Locks: none beyond the shared cluster lock.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from corral.cmdlib.base import LogicalUnit, implements
from corral.errors import ErrorCode, OpPrereqError
from corral.locking.plan import LockPlan
from corral.objects.cluster import Cluster
from corral.objects.config_data import ConfigData
from corral.objects.instance import Disk, DiskTemplate
from corral.objects.node import Node
from corral.opcodes.node import OpNodeQueryStorage, OpNodeQueryvols
from corral.rpc.payloads import StorageValue, Volume

VOLUME_FIELDS = ("node", "phys", "vg", "name", "size", "instance")
ST_FILE, ST_LVM_VG, ST_LVM_PV = "file", "lvm-vg", "lvm-pv"
STORAGE_FIELDS: Mapping[str, tuple[str, ...]] = {
    ST_FILE: ("node", "type", "name", "size", "used", "free", "allocatable"),
    ST_LVM_VG: ("node", "type", "name", "size", "used", "free", "allocatable"),
    ST_LVM_PV: ("node", "type", "name", "vg", "size", "used", "free", "allocatable"),
}
TEMPLATE_STORAGE: Mapping[str, str] = {
    "plain": ST_LVM_VG, "drbd": ST_LVM_VG, "file": ST_FILE, "sharedfile": ST_FILE,
}
"""The storage type behind each disk template that has one."""
_MASTER_FIELDS = ("node", "type")


def check_output_fields(fields: list[str], known: tuple[str, ...]) -> None:
    """Raises OpPrereqError (INVAL) naming the fields not in ``known``."""
    unknown = [f for f in fields if f not in known]
    if unknown:
        raise OpPrereqError(
            f"Unknown output fields selected: {', '.join(unknown)}", ErrorCode.INVAL
        )


def wanted_nodes(lu: LogicalUnit[Any], names: list[str]) -> list[Node]:
    """The named nodes (all by default), sorted by name."""
    if names:
        return sorted((lu.expand_node(n) for n in names), key=lambda n: n.name)
    return sorted(lu.cfg.nodes.values(), key=lambda n: n.name)


# --- volumes --------------------------------------------------------------------------


def _lvs_of(cfg: ConfigData, disk: Disk) -> Iterator[tuple[str, str, str]]:
    """(node uuid, vg, lv) of every plain LV under ``disk`` (DRBD children included)."""
    if disk.dev_type is DiskTemplate.PLAIN and len(disk.logical_id) == 2:
        vg, lv = disk.logical_id
        for node in disk.nodes:
            yield node, str(vg), str(lv)
    for child_uuid in disk.children:
        child = cfg.disks.get(child_uuid)
        if child is not None:
            yield from _lvs_of(cfg, child)


def lv_owners(cfg: ConfigData) -> dict[tuple[str, str, str], str]:
    """(node uuid, vg, lv) → name of the instance owning that LV."""
    owners: dict[tuple[str, str, str], str] = {}
    for inst in cfg.instances.values():
        for disk_uuid in inst.disks:
            disk = cfg.disks.get(disk_uuid)
            if disk is not None:
                owners.update(dict.fromkeys(_lvs_of(cfg, disk), inst.name))
    return owners


def volume_row(node: Node, vol: Volume, owner: str, fields: list[str]) -> list[Any]:
    values = {"node": node.name, "phys": vol.dev, "vg": vol.vg,
              "name": vol.name, "size": vol.size, "instance": owner}
    return [values[f] for f in fields]


@implements(OpNodeQueryvols)
class LUNodeQueryvols(LogicalUnit[OpNodeQueryvols]):
    """The LVs of the cluster's volume group on each online node, with their owners."""

    REQ_BGL = False

    def check_arguments(self) -> None:
        check_output_fields(self.op.output_fields, VOLUME_FIELDS)

    def declare_locks(self) -> LockPlan:
        return LockPlan.of()

    async def check_prereq(self) -> None:
        self.nodes = wanted_nodes(self, self.op.nodes)

    async def exec(self) -> Any:
        online = [n for n in self.nodes if not n.offline]
        results = await self.ctx.rpc.node_volumes(online)
        owners, vg = lv_owners(self.cfg), self.cfg.cluster.volume_group_name
        rows: list[list[Any]] = []
        for node in online:
            result = results[node.name]
            if result.payload is None:
                self.log_warning(f"Can't compute volume data on node {node.name}:"
                                 f" {result.fail_msg}")
                continue
            vols = [v for v in result.payload if not vg or v.vg == vg]
            for vol in sorted(vols, key=lambda v: (v.dev, v.name)):
                owner = owners.get((node.uuid, vol.vg, vol.name), "-")
                rows.append(volume_row(node, vol, owner, self.op.output_fields))
        return rows


# --- storage units ----------------------------------------------------------------------


def enabled_storage_types(cluster: Cluster) -> list[str]:
    """Storage types of the enabled disk templates, in template order, without repeats."""
    found = [TEMPLATE_STORAGE[t] for t in cluster.enabled_disk_templates if t in TEMPLATE_STORAGE]
    return list(dict.fromkeys(found))


def choose_storage_type(cluster: Cluster, requested: str | None) -> str:
    """The requested storage type (checked) or the cluster's default one.

    Raises:
        OpPrereqError: (INVAL) unknown type, or not enabled on the cluster.
    """
    enabled = enabled_storage_types(cluster)
    if requested is None:
        if not enabled:
            raise OpPrereqError("No storage type is enabled on the cluster (no enabled disk"
                                " template has one)", ErrorCode.INVAL)
        return enabled[0]
    if requested not in STORAGE_FIELDS:
        raise OpPrereqError(f"Unknown storage type: {requested}", ErrorCode.INVAL)
    needed = ST_LVM_VG if requested == ST_LVM_PV else requested
    if needed not in enabled:
        raise OpPrereqError(f"Storage type '{needed}' is not enabled on the cluster"
                            " (see its enabled disk templates)", ErrorCode.INVAL)
    return requested


def storage_args(cluster: Cluster, storage_type: str) -> list[Any]:
    """The ``su_args`` of ``storage_list``: for file, the enabled storage directories."""
    if storage_type != ST_FILE:
        return []
    dirs = []
    if "file" in cluster.enabled_disk_templates and cluster.file_storage_dir:
        dirs.append(cluster.file_storage_dir)
    if "sharedfile" in cluster.enabled_disk_templates and cluster.shared_file_storage_dir:
        dirs.append(cluster.shared_file_storage_dir)
    return [dirs]


def node_fields(fields: list[str]) -> list[str]:
    """What to ask the nodes for: ``name`` first (for sorting), then the others once."""
    return list(dict.fromkeys(["name", *(f for f in fields if f not in _MASTER_FIELDS)]))


@implements(OpNodeQueryStorage)
class LUNodeQueryStorage(LogicalUnit[OpNodeQueryStorage]):
    """Storage units of one type on each online node, sorted by node then unit name."""

    REQ_BGL = False
    storage_type = ST_FILE

    def declare_locks(self) -> LockPlan:
        return LockPlan.of()

    async def check_prereq(self) -> None:
        self.storage_type = choose_storage_type(self.cfg.cluster, self.op.storage_type)
        check_output_fields(self.op.output_fields, STORAGE_FIELDS[self.storage_type])
        self.nodes = wanted_nodes(self, self.op.nodes)

    async def exec(self) -> Any:
        online = [n for n in self.nodes if not n.offline]
        asked = node_fields(self.op.output_fields)
        results = await self.ctx.rpc.storage_list(
            online, self.storage_type, storage_args(self.cfg.cluster, self.storage_type),
            self.op.name, asked,
        )
        rows: list[list[Any]] = []
        for node in online:
            result = results[node.name]
            if result.payload is None:
                self.log_warning(f"Can't get storage data from node {node.name}:"
                                 f" {result.fail_msg}")
                continue
            rows.extend(self._rows(node, asked, result.payload))
        return rows

    def _rows(
        self, node: Node, asked: list[str], payload: list[list[StorageValue]]
    ) -> list[list[Any]]:
        units: list[dict[str, Any]] = [
            dict(zip(asked, row, strict=True)) for row in payload if len(row) == len(asked)
        ]
        rows = []
        for unit in sorted(units, key=lambda u: str(u["name"])):
            unit.update(node=node.name, type=self.storage_type)
            rows.append([unit[f] for f in self.op.output_fields])
        return rows
