"""Resource checks from ``node_info``: free memory for starting instances and free space per
storage unit for new disks. (Choosing nodes is the allocators' job: ``iallocation``.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.errors import ErrorCode, OpPrereqError
from corral.objects.cluster import Cluster
from corral.objects.instance import Disk, DiskTemplate
from corral.objects.node import Node
from corral.rpc.payloads import NodeInfo, StorageSpace

StorageKey = tuple[str, str]
"""``(storage type, key)`` as node_info takes it: ``("lvm-vg", vg)``, ``("file", dir)``."""

LVM_VG = "lvm-vg"
FILE = "file"


def _free_memory(payload: NodeInfo | None, hypervisor: str) -> int | None:
    """The hypervisor's free memory figure, else the host's."""
    if payload is None:
        return None
    hv_info = payload.hv.get(hypervisor)
    if hv_info is not None and hv_info.memory_free is not None:
        return hv_info.memory_free
    return payload.memory_free


async def node_free_memory(lu: LogicalUnit[Any], node: Node, hypervisor: str) -> int:
    """Free memory (MiB) the hypervisor reports on ``node``.

    Raises:
        OpPrereqError: (ENVIRON) the node did not answer or gave no figure.
    """
    hvparams = lu.cfg.cluster.hvparams.get(hypervisor, {})
    result = (await lu.ctx.rpc.node_info([node], [], [[hypervisor, hvparams]]))[node.name]
    if not result.ok:
        raise OpPrereqError(f"Can't get data from node {node.name}: {result.fail_msg}",
                            ErrorCode.ENVIRON)
    free = _free_memory(result.payload, hypervisor)
    if free is None:
        raise OpPrereqError(
            f"Can't compute free memory on node {node.name}, result was '{free}'",
            ErrorCode.ENVIRON,
        )
    return free


async def check_free_memory(
    lu: LogicalUnit[Any], node: Node, reason: str, requested: int, hypervisor: str
) -> int:
    """Ganeti's CheckNodeFreeMemory; returns the free memory (MiB), less what other
    units reserved on the node. ``requested`` is then reserved for this unit until it
    ends, so units checking the same node side by side never promise its memory twice
    (the figure and the reservation are taken with no await between them).

    Raises:
        OpPrereqError: (NORES) less than ``requested`` MiB free; (ENVIRON) no figure.
    """
    free = await node_free_memory(lu, node, hypervisor)
    free -= lu.ctx.reservations.reserved(node.name, besides=lu.lock_owner)
    if requested > free:
        raise OpPrereqError(
            f"Not enough memory on node {node.name} for {reason}:"
            f" needed {requested} MiB, available {free} MiB", ErrorCode.NORES,
        )
    lu.ctx.reservations.reserve(node.name, lu.lock_owner, requested)
    return free


def disk_space_needs(cluster: Cluster, disks: Sequence[Disk]) -> dict[StorageKey, int]:
    """MiB wanted per storage unit by new (non-adopted) ``disks``."""
    needs: dict[StorageKey, int] = {}
    for disk in disks:
        key: StorageKey | None = None
        if disk.dev_type is DiskTemplate.PLAIN and disk.logical_id:
            key = (LVM_VG, str(disk.logical_id[0]))
        elif disk.dev_type in (DiskTemplate.FILE, DiskTemplate.MIRROR) \
                and cluster.file_storage_dir:
            key = (FILE, cluster.file_storage_dir)
        elif disk.dev_type is DiskTemplate.SHAREDFILE and cluster.shared_file_storage_dir:
            key = (FILE, cluster.shared_file_storage_dir)
        if key is not None:
            needs[key] = needs.get(key, 0) + disk.size
    return needs


async def check_free_disk(
    lu: LogicalUnit[Any], nodes: Sequence[Node], needs: Mapping[StorageKey, int]
) -> None:
    """Each node has the space ``needs`` asks for in each storage unit.

    A file storage directory the node cannot measure (not created yet) is only
    warned about; an unmeasurable volume group fails, as in Ganeti.

    Raises:
        OpPrereqError: (NORES) not enough space; (ENVIRON) no answer or no figure.
    """
    if not needs or not nodes:
        return
    units = [[kind, key, {}] for kind, key in needs]
    results = await lu.ctx.rpc.node_info(list(nodes), units, [])
    for node in nodes:
        result = results[node.name]
        if not result.ok:
            raise OpPrereqError(f"Cannot get current information from node {node.name}:"
                                f" {result.fail_msg}", ErrorCode.ENVIRON)
        found = _storage_by_key(result.payload)
        for (kind, key), need in needs.items():
            _check_unit(lu, node, kind, key, need, found.get((kind, key)))


def _storage_by_key(payload: NodeInfo | None) -> dict[StorageKey, StorageSpace]:
    storage = payload.storage if payload is not None else []
    return {(str(u.type), str(u.name)): u for u in storage}


def _check_unit(
    lu: LogicalUnit[Any], node: Node, kind: str, key: str, need: int, info: StorageSpace | None
) -> None:
    free = info.storage_free if info is not None else None
    what = f"vg {key}" if kind == LVM_VG else f"directory {key}"
    if free is None:
        detail = info.error if info is not None and info.error is not None else free
        if kind == FILE:
            lu.log_warning(f"Can't compute free disk space on node {node.name} for {what}"
                           f" ({detail}), not checking it")
            return
        raise OpPrereqError(f"Can't compute free disk space on node {node.name} for {what},"
                            f" result was '{detail}'", ErrorCode.ENVIRON)
    if need > free:
        raise OpPrereqError(
            f"Not enough disk space on target node {node.name} {what}:"
            f" required {need} MiB, available {free} MiB", ErrorCode.NORES,
        )
