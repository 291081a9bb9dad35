"""Where a migrated or failed-over instance goes: the target node, given or chosen by an
allocator (Ganeti's ``relocate`` request), and the checks every target must pass."""

from __future__ import annotations

from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.iallocation import allocator_name, cluster_document, run_allocator
from corral.cmdlib.common.instances.bundle import instance_disks
from corral.cmdlib.common.instances.drbd_mobility import DRBD_STEPS, swapped_roles
from corral.cmdlib.common.instances.mirror import MirrorLogicalId, with_nodes
from corral.cmdlib.common.instances.status import check_node_online
from corral.cmdlib.common.parameters import ipolicy
from corral.errors import ErrorCode, OpPrereqError
from corral.iallocator import protocol as proto
from corral.objects.config_data import ConfigData
from corral.objects.instance import Disk, Instance
from corral.objects.node import Node


def group_node_names(cfg: ConfigData, inst: Instance) -> list[str]:
    """Names of the nodes in the group of ``inst``'s primary node."""
    primary = cfg.nodes.get(inst.primary_node)
    if primary is None:
        return []
    return sorted(n.name for n in cfg.nodes.values() if n.group == primary.group)


def relocate_request(cfg: ConfigData, inst: Instance) -> dict[str, Any]:
    """Ganeti's ``relocate`` request: a new primary for ``inst``, away from its node."""
    disks = instance_disks(cfg, inst)
    template = inst.disk_template.value
    primary = cfg.nodes.get(inst.primary_node)
    return {
        "type": proto.RELOCATE, "name": inst.name,
        "disk_space_total": proto.disk_space(template, [d.size for d in disks]),
        "required_nodes": 1,
        "relocate_from": [primary.name] if primary is not None else [],
    }


async def allocate_target(lu: LogicalUnit[Any], inst: Instance, given: str | None) -> Node:
    """The node allocator ``given`` (or the cluster's default) picks for ``inst``.

    Raises:
        OpPrereqError: no solution (NORES), an unknown node, or the allocator failed.
    """
    name = allocator_name(lu, given)
    document = await cluster_document(lu, inst.disk_template.value, inst.hypervisor)
    document["request"] = relocate_request(lu.cfg, inst)
    answer = await run_allocator(lu, name, document)
    if not answer["success"]:
        raise OpPrereqError(f"Can't compute nodes using iallocator '{name}':"
                            f" {answer['info']}", ErrorCode.NORES)
    chosen = [str(n) for n in answer["result"]]
    node = lu.cfg.node_by_name(chosen[0]) if chosen else None
    if node is None:
        raise OpPrereqError(f"Iallocator '{name}' returned an unknown node"
                            f" '{chosen[0] if chosen else ''}'", ErrorCode.ENVIRON)
    lu.log_info(f"Selected nodes for instance {inst.name} via iallocator {name}:"
                f" {', '.join(chosen)}")
    return node


def check_target(lu: LogicalUnit[Any], inst: Instance, target: Node, *, verb: str,
                 ignore_ipolicy: bool) -> None:
    """``target`` can take ``inst``: another node, online, not drained, vm_capable,
    with the instance's hypervisor enabled, within its group's instance policy.

    A target outside the instance's group is accepted with a warning (it was named
    explicitly; allocators only choose within the group).

    Raises:
        OpPrereqError: (STATE) or (INVAL) naming the node and what is wrong.
    """
    cfg = lu.cfg
    source = cfg.nodes.get(inst.primary_node)
    if target.uuid == inst.primary_node:
        raise OpPrereqError(f"Cannot {verb} instance {inst.name} to its primary"
                            f" ({target.name})", ErrorCode.STATE)
    check_node_online(target)
    if target.drained:
        raise OpPrereqError(f"Can't use drained node {target.name}", ErrorCode.STATE)
    if not target.vm_capable:
        raise OpPrereqError(f"Can't use non-vm_capable node {target.name}", ErrorCode.STATE)
    if inst.hypervisor not in cfg.cluster.enabled_hypervisors:
        raise OpPrereqError(f"Hypervisor '{inst.hypervisor}' of instance {inst.name} is not"
                            " enabled in the cluster", ErrorCode.STATE)
    if source is not None and source.group != target.group:
        lu.log_warning(f"Target node {target.name} is not in the node group of instance"
                       f" {inst.name}")
    _check_policy(lu, inst, target, ignore_ipolicy)


def _check_policy(lu: LogicalUnit[Any], inst: Instance, target: Node, ignore: bool) -> None:
    group = lu.cfg.nodegroups.get(target.group)
    policy = ipolicy.group_policy(lu.cfg, group)
    violations = ipolicy.instance_violations(lu.cfg, inst, policy)
    if not violations:
        return
    label = group.name if group is not None else target.group
    message = (f"Instance {inst.name} does not meet target node group's ({label}) instance"
               f" policy: {', '.join(violations)}")
    if not ignore:
        raise OpPrereqError(message, ErrorCode.INVAL)
    lu.log_warning(message)


def moved_to(cfg: ConfigData, inst: Instance, source: str, target: str,
             now: float) -> tuple[Instance, list[Disk]]:
    """``inst`` with ``target`` as its primary node, and its disks that named ``source``
    naming ``target`` instead (to commit together). A DRBD or mirror disk (``target``
    is its secondary) swaps the roles of its two nodes."""
    disks: list[Disk] = []
    for disk in instance_disks(cfg, inst):
        if source not in disk.nodes:
            continue
        if disk.dev_type in DRBD_STEPS:
            disks.extend(swapped_roles(cfg, disk, source, target, now))
        elif MirrorLogicalId.of(disk) is not None:
            disks.append(with_nodes(cfg, disk, target, source).evolve(now))
        else:
            disks.append(disk.evolve(now, nodes=tuple(target if n == source else n
                                                      for n in disk.nodes)))
    return inst.evolve(now, primary_node=target), disks
