"""Disk template conversions of ``gnt-instance modify -t TEMPLATE [-n SECONDARY]``.

Supported pairs are the table :data:`ROUTES`: ``plain`` ↔ ``drbd`` (Ganeti's
``_ConvertPlainToDrbd``/``_ConvertDrbdToPlain``, :mod:`.conversion_drbd`) and
``file`` ↔ ``mirror`` (:mod:`.conversion_mirror`). A conversion
is checked with the locks held (:func:`prepare`: the instance stopped, the pair
supported, the template enabled and allowed by the group's policy, the secondary
usable, space on the nodes) and carried out by ``exec`` (:func:`convert`), which
commits the instance with its new disks itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.allocation import check_free_disk
from corral.cmdlib.common.iallocation import allocator_name, cluster_document, run_allocator
from corral.cmdlib.common.instances import conversion_drbd as drbd
from corral.cmdlib.common.instances import conversion_mirror as mirror
from corral.cmdlib.common.instances.conversion_plan import ConversionPlan
from corral.cmdlib.common.instances.disks import check_template_storage
from corral.cmdlib.common.instances.relocation import check_target
from corral.cmdlib.common.instances.status import INSTANCE_DOWN, check_state
from corral.cmdlib.common.parameters import ipolicy
from corral.errors import ErrorCode, OpPrereqError
from corral.iallocator import protocol as proto
from corral.objects.instance import Disk, DiskTemplate, Instance
from corral.objects.node import Node

MIRRORED_TARGETS = frozenset({DiskTemplate.DRBD, DiskTemplate.MIRROR})
"""Conversions to these templates need a secondary node."""


Planner = Callable[[LogicalUnit[Any], Instance, list[Disk], Node | None], ConversionPlan]
Runner = Callable[[LogicalUnit[Any], Instance, ConversionPlan, bool], Awaitable[Instance]]


@dataclass(frozen=True)
class Route:
    """One supported conversion: how to plan it and how to carry it out (the runner
    returns the committed instance)."""

    plan: Planner
    run: Runner


ROUTES: dict[tuple[DiskTemplate, DiskTemplate], Route] = {
    (DiskTemplate.PLAIN, DiskTemplate.DRBD): Route(drbd.plan_plain_to_drbd, drbd.plain_to_drbd),
    (DiskTemplate.DRBD, DiskTemplate.PLAIN): Route(drbd.plan_drbd_to_plain, drbd.drbd_to_plain),
    (DiskTemplate.FILE, DiskTemplate.MIRROR): Route(mirror.plan_file_to_mirror,
                                                    mirror.file_to_mirror),
    (DiskTemplate.MIRROR, DiskTemplate.FILE): Route(mirror.plan_mirror_to_file,
                                                    mirror.mirror_to_file),
}


def supported_text() -> str:
    return ", ".join(f"{a.value} -> {b.value}" for a, b in ROUTES)


def route(old: DiskTemplate, new: DiskTemplate) -> Route:
    """The route from ``old`` to ``new``.

    Raises:
        OpPrereqError: (INVAL) the same template, or a pair Corral does not convert.
    """
    if old is new:
        raise OpPrereqError(f"Instance already has disk template {new.value}",
                            ErrorCode.INVAL)
    found = ROUTES.get((old, new))
    if found is None:
        raise OpPrereqError(f"Conversion from the '{old.value}' disk template to"
                            f" '{new.value}' is not supported; Corral converts"
                            f" {supported_text()}", ErrorCode.INVAL)
    return found


def _check_template(lu: LogicalUnit[Any], inst: Instance, new: DiskTemplate) -> None:
    cluster = lu.cfg.cluster
    if new.value not in cluster.enabled_disk_templates:
        raise OpPrereqError(f"Disk template '{new.value}' is not enabled for this cluster"
                            f" (enabled templates: {', '.join(cluster.enabled_disk_templates)})",
                            ErrorCode.STATE)
    check_template_storage(cluster, new)
    node = lu.cfg.nodes[inst.primary_node]
    allowed = ipolicy.group_policy(lu.cfg, node.group).get("disk-templates", [])
    if new.value not in allowed:
        raise OpPrereqError(f"Disk template '{new.value}' in not allowed (allowed templates:"
                            f" {', '.join(allowed)})", ErrorCode.STATE)


def _check_secondary(lu: LogicalUnit[Any], inst: Instance, new: DiskTemplate,
                     secondary: Node | None, ignore_ipolicy: bool) -> None:
    if new not in MIRRORED_TARGETS:
        return
    if secondary is None:
        raise OpPrereqError(f"Changing the disk template to '{new.value}' requires a"
                            " secondary node (-n)", ErrorCode.INVAL)
    if secondary.uuid == inst.primary_node:
        raise OpPrereqError(f"Given new secondary node {secondary.name} is the same as the"
                            " primary node of the instance", ErrorCode.STATE)
    check_target(lu, inst, secondary, verb="mirror", ignore_ipolicy=ignore_ipolicy)


async def prepare(lu: LogicalUnit[Any], inst: Instance, disks: list[Disk],
                  new: DiskTemplate, secondary: Node | None,
                  ignore_ipolicy: bool = False) -> ConversionPlan:
    """Check a conversion of ``inst`` to ``new`` and plan it (minors and ports of new
    drbd disks are reserved for the job).

    Raises:
        OpPrereqError: naming what is wrong (state, pair, template, node, space).
    """
    found = route(inst.disk_template, new)
    _check_template(lu, inst, new)
    await check_state(lu, inst, INSTANCE_DOWN, "cannot change disk template")
    _check_secondary(lu, inst, new, secondary, ignore_ipolicy)
    plan = found.plan(lu, inst, disks, secondary if new in MIRRORED_TARGETS else None)
    for node, needs in plan.space:
        await check_free_disk(lu, [node], needs)
    return plan


async def convert(lu: LogicalUnit[Any], inst: Instance, plan: ConversionPlan,
                  wait_for_sync: bool) -> Instance:
    """Carry out ``plan``; returns the instance as committed.

    Raises:
        OpExecError: a step failed (what was made on the nodes is undone first).
    """
    return await ROUTES[(plan.old, plan.new)].run(lu, inst, plan, wait_for_sync)


async def allocate_secondary(lu: LogicalUnit[Any], inst: Instance, new: DiskTemplate,
                             given: str | None) -> Node:
    """The secondary allocator ``given`` (or the cluster's default) chooses for ``inst``
    (Ganeti's ``allocate-secondary`` request).

    Raises:
        OpPrereqError: no solution (NORES), an unknown node, or the allocator failed.
    """
    name = allocator_name(lu, given)
    lu.log_info(f"Using {name} to choose new secondary")
    document = await cluster_document(lu, new.value, inst.hypervisor)
    document["request"] = {"type": proto.ALLOCATE_SECONDARY, "name": inst.name}
    answer = await run_allocator(lu, name, document)
    if not answer["success"]:
        raise OpPrereqError(f"Can't find secondary node using iallocator {name}:"
                            f" {answer['info']}", ErrorCode.NORES)
    node = lu.cfg.node_by_name(str(answer["result"]))
    if node is None:
        raise OpPrereqError(f"Iallocator '{name}' returned an unknown node"
                            f" '{answer['result']}'", ErrorCode.ENVIRON)
    lu.log_info(f"{name} choose {node.name} as new secondary")
    return node
