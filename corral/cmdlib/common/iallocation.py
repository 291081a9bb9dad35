"""Asking an allocator where an instance goes: the request from the configuration and
``node_info``, the run, and Ganeti's wording of the outcome."""

from __future__ import annotations

from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.allocation import FILE, LVM_VG
from corral.errors import ErrorCode, OpPrereqError
from corral.iallocator import protocol as proto
from corral.iallocator import runner
from corral.objects.node import Node
from corral.rpc.payloads import NodeInfo


def _storage_unit(lu: LogicalUnit[Any], template: str) -> list[list[Any]]:
    cluster = lu.cfg.cluster
    if template in ("plain", "drbd") and cluster.volume_group_name:
        return [[LVM_VG, cluster.volume_group_name, {}]]
    if template in ("file", "mirror") and cluster.file_storage_dir:
        return [[FILE, cluster.file_storage_dir, {}]]
    if template == "sharedfile" and cluster.shared_file_storage_dir:
        return [[FILE, cluster.shared_file_storage_dir, {}]]
    return []


def _figures(payload: NodeInfo, hypervisor: str) -> proto.NodeFigures:
    hv = payload.hv.get(hypervisor)
    total = (hv.memory_total if hv and hv.memory_total is not None else payload.memory_total)
    free = (hv.memory_free if hv and hv.memory_free is not None else payload.memory_free)
    dom0 = (hv.memory_dom0 if hv and hv.memory_dom0 is not None else payload.memory_dom0)
    cpus = hv.cpu_total if hv and hv.cpu_total else payload.cpu_total
    storage = payload.storage[0] if payload.storage else None
    return proto.NodeFigures(
        total_memory=int(total or 0), reserved_memory=int(dom0 or 0), free_memory=int(free or 0),
        total_disk=int(storage.storage_size or 0) if storage else 0,
        free_disk=int(storage.storage_free or 0) if storage else 0,
        total_cpus=int(cpus or 0))


async def cluster_document(lu: LogicalUnit[Any], template: str,
                           hypervisor: str) -> dict[str, Any]:
    """The request document without ``request``, with live figures of the usable nodes."""
    cfg = lu.cfg
    nodes: list[Node] = [n for n in cfg.nodes.values() if not n.offline and n.vm_capable]
    hvparams = cfg.cluster.hvparams.get(hypervisor, {})
    results = await lu.ctx.rpc.node_info(nodes, _storage_unit(lu, template),
                                         [[hypervisor, hvparams]])
    figures = {n.uuid: _figures(r.payload, hypervisor) for n in nodes
               if (r := results.get(n.name)) is not None and r.ok and r.payload is not None}
    return proto.cluster_data(cfg, figures)


def allocator_name(lu: LogicalUnit[Any], given: str | None) -> str:
    """The allocator to use: the one given (``.`` is the cluster default), else the
    cluster's default, else Corral's own."""
    name = given or ""
    if name in ("", runner.DEFAULT_SHORTCUT):
        name = lu.cfg.cluster.default_iallocator or ""
    return name or runner.BUILTIN


async def run_allocator(lu: LogicalUnit[Any], name: str,
                        document: dict[str, Any]) -> dict[str, Any]:
    """The checked answer of ``name`` to ``document``.

    Raises:
        OpPrereqError: the allocator failed or broke the protocol (ENVIRON).
    """
    try:
        return await runner.run(name, document)
    except runner.AllocatorError as err:
        raise OpPrereqError(str(err), ErrorCode.ENVIRON) from None


async def allocate_instance(lu: LogicalUnit[Any], name: str,
                            request: dict[str, Any]) -> list[Node]:
    """Nodes (primary first) that allocator ``name`` chose for the ``allocate`` request.

    Raises:
        OpPrereqError: no solution (NORES, Ganeti's wording), or the allocator failed.
    """
    document = await cluster_document(lu, request["disk_template"], request["hypervisor"])
    document["request"] = request
    answer = await run_allocator(lu, name, document)
    if not answer["success"]:
        raise OpPrereqError(f"Can't compute nodes using iallocator '{name}':"
                            f" {answer['info']}", ErrorCode.NORES)
    chosen = []
    for node_name in answer["result"]:
        node = lu.cfg.node_by_name(node_name)
        if node is None:
            raise OpPrereqError(f"Iallocator '{name}' returned an unknown node"
                                f" '{node_name}'", ErrorCode.ENVIRON)
        chosen.append(node)
    lu.log_info(f"Selected nodes for instance {request['name']} via iallocator {name}:"
                f" {', '.join(n.name for n in chosen)}")
    return chosen
