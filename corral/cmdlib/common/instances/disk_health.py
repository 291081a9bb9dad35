"""The health of mirrored disks for ``gnt-cluster verify-disks`` (Ganeti's
``LUGroupVerifyDisks._VerifyDrbdStates``) and the degraded-mirror report.

Only instances whose disks are meant to be active are asked about. A drbd disk
needs activation when a node reports it missing, StandAlone or diskless
(``drbd_needs_activation``); a disk is degraded when a node reports it not in sync
(``blockdev_getmirrorstatus_multi``: disconnected, resyncing, or its local disk not
up to date). A node that cannot answer is a node error (by node name). A ``mirror``
disk of an instance meant to run is asked about on the primary
(``instance_mirror_status``): resyncing is degraded, degraded without a resync also
needs activation (``activate-disks`` resyncs it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.instances import mirror_status
from corral.cmdlib.common.instances.bundle import instance_disks
from corral.cmdlib.common.instances.node_disks import node_disk
from corral.objects.instance import AdminState, Disk, DiskTemplate, Instance
from corral.objects.node import Node
from corral.rpc.payloads import MirrorStatus, NodeDisk

LDS_OKAY = 1


@dataclass
class DiskHealth:
    """What the nodes said about the mirrored disks of a set of instances."""

    node_errors: dict[str, str] = field(default_factory=dict)
    needs_activation: set[str] = field(default_factory=set)
    """Names of instances with a disk to activate again."""
    degraded: dict[str, list[str]] = field(default_factory=dict)
    """Instance name → ``disk/0 on node2: <state>`` per degraded disk."""


def _drbd_disks(lu: LogicalUnit[Any], inst: Instance) -> list[Disk]:
    return [d for d in instance_disks(lu.cfg, inst) if d.dev_type is DiskTemplate.DRBD]


def _by_node(lu: LogicalUnit[Any], instances: Sequence[Instance]
             ) -> dict[str, list[tuple[Instance, Disk, NodeDisk]]]:
    """Node uuid → (instance, disk, disk as that node gets it), online nodes only."""
    found: dict[str, list[tuple[Instance, Disk, NodeDisk]]] = {}
    for inst in instances:
        if not inst.disks_active:
            continue
        for disk in _drbd_disks(lu, inst):
            for uuid in disk.nodes:
                node = lu.cfg.nodes.get(uuid)
                if node is not None and not node.offline:
                    found.setdefault(uuid, []).append((inst, disk, node_disk(lu.cfg, disk, uuid)))
    return found


def state_text(status: MirrorStatus) -> str:
    """A degraded disk's state as ``gnt-instance info`` words it."""
    if status.sync_percent is not None:
        eta = f"ETA {status.estimated_time}s" if status.estimated_time else "ETA unknown"
        return f"*RECOVERING* {status.sync_percent:5.2f}%, {eta}"
    if status.ldisk_status != LDS_OKAY:
        return "*DEGRADED* (local disk not up to date)"
    return "*DEGRADED*"


async def check_mirrors(lu: LogicalUnit[Any], instances: Sequence[Instance]) -> DiskHealth:
    """Ask every node holding a mirrored disk of ``instances`` about them."""
    health = DiskHealth()
    for uuid, entries in sorted(_by_node(lu, instances).items()):
        node = lu.cfg.nodes[uuid]
        await _needs_activation(lu, node, entries, health)
        await _degraded(lu, node, entries, health)
    for inst in instances:
        if inst.disks_active and inst.admin_state is AdminState.UP \
                and mirror_status.has_mirror(lu, inst):
            await _mirror_health(lu, inst, health)
    return health


async def _mirror_health(lu: LogicalUnit[Any], inst: Instance, health: DiskHealth) -> None:
    states = await mirror_status.mirror_states(lu, inst)
    if states is None:
        return
    node = lu.cfg.nodes[inst.primary_node]
    for index, disk in enumerate(instance_disks(lu.cfg, inst)):
        sync = states.get(index)
        if disk.dev_type is not DiskTemplate.MIRROR or sync is None \
                or sync.state == mirror_status.IN_SYNC:
            continue
        health.degraded.setdefault(inst.name, []).append(
            f"{disk.iv_name} on {node.name}: {mirror_status.state_text(sync)}")
        if sync.state == mirror_status.DEGRADED:
            health.needs_activation.add(inst.name)


async def _needs_activation(lu: LogicalUnit[Any], node: Node,
                            entries: list[tuple[Instance, Disk, NodeDisk]],
                            health: DiskHealth) -> None:
    result = await lu.ctx.rpc.drbd_needs_activation(node, [sent for _, _, sent in entries])
    if not result.ok:
        lu.log_warning(f"Error getting DRBD status on node {node.name}: {result.fail_msg}")
        health.node_errors[node.name] = result.fail_msg or "no answer"
        return
    faulty = set(result.payload or [])
    health.needs_activation.update(inst.name for inst, disk, _ in entries
                                   if disk.uuid in faulty)


async def _degraded(lu: LogicalUnit[Any], node: Node,
                    entries: list[tuple[Instance, Disk, NodeDisk]], health: DiskHealth) -> None:
    if node.name in health.node_errors:
        return
    answers = await lu.ctx.rpc.blockdev_getmirrorstatus_multi(
        [node], {node.name: [sent for _, _, sent in entries]})
    result = answers[node.name]
    if not result.ok:
        health.node_errors[node.name] = result.fail_msg or "no answer"
        return
    for (inst, disk, _), answer in zip(entries, result.payload or [], strict=False):
        if not answer.ok or not isinstance(answer.status, MirrorStatus):
            text = f"*MISSING* ({answer.status})"
        elif answer.status.is_degraded or answer.status.sync_percent is not None:
            text = state_text(answer.status)
        else:
            continue
        health.degraded.setdefault(inst.name, []).append(
            f"{disk.iv_name} on {node.name}: {text}")


def report_degraded(lu: LogicalUnit[Any], health: DiskHealth) -> None:
    """One job log warning per instance with degraded disks."""
    for name, problems in sorted(health.degraded.items()):
        lu.log_warning(f"Instance {name} has degraded disks: {'; '.join(problems)}")
