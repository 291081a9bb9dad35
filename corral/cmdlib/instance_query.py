"""Detailed instance data (``gnt-instance info``) and console access.

Locks: instance data takes the instances' locks shared unless ``static`` and
not ``use_locking`` (then none but the shared cluster lock); console takes its
instance's lock shared.
"""

from __future__ import annotations

from typing import Any

import msgspec

from corral import serde
from corral.cmdlib.base import LogicalUnit, implements
from corral.cmdlib.common.instances.base_lu import InstanceLU, find_instance
from corral.cmdlib.common.instances.bundle import (
    filled_beparams,
    filled_hvparams,
    filled_osparams,
    instance_disks,
    secondary_node_uuids,
    without_globals,
)
from corral.cmdlib.common.instances.drbd import DrbdLogicalId, drbd_info, shown_logical_id
from corral.cmdlib.common.instances.mirror_status import (
    has_mirror,
    mirror_states,
    status_fields,
)
from corral.cmdlib.common.instances.nics import nic_tuple
from corral.cmdlib.common.instances.node_disks import node_disk
from corral.cmdlib.common.instances.status import (
    check_node_online,
    live_info,
    run_state_label,
)
from corral.errors import OpExecError
from corral.locking.levels import ALL_SET, Level
from corral.locking.plan import LockPlan, shared
from corral.objects.config_data import ConfigData
from corral.objects.instance import AdminState, Disk, DiskTemplate, Instance
from corral.objects.node import Node
from corral.opcodes.instance import OpInstanceConsole, OpInstanceQueryData
from corral.opcodes.private import redacted
from corral.rpc.payloads import DeviceStatus, MirrorDiskSync

VNC = "vnc"
MirrorSync = MirrorDiskSync | None
_ANY_ADDRESS = ("", "0.0.0.0", "::")


DRBD_MAJOR = 147
"""The block major of DRBD devices (``/dev/drbd<minor>`` is ``147:<minor>``)."""


def device_numbers(disk: Disk, node: str) -> tuple[int | None, int | None]:
    """``(major, minor)`` of ``disk``'s device on ``node`` (uuid) when the configuration
    knows them (drbd); ``(None, None)`` otherwise."""
    lid = DrbdLogicalId.of(disk)
    if lid is None:
        return None, None
    for side, minor, _role, _peer in lid.minors():
        if side == node:
            return DRBD_MAJOR, minor
    return None, None


def _with_sync(status: list[Any] | None, sync: MirrorSync) -> list[Any] | None:
    """A mirror half's status with the mirror's sync state; None when no mirror runs."""
    if status is None or sync is None:
        return None
    return [*status[:3], *status_fields(sync)]


def blockdev_status(payload: DeviceStatus | None,
                    numbers: tuple[int | None, int | None] = (None, None)) -> list[Any] | None:
    """Ganeti's device status tuple from a ``blockdev_find`` answer: path, major, minor,
    sync percent, estimated time, degraded, local disk status (None when not found).
    ``blockdev_find`` carries no device numbers: ``numbers`` come from the configuration
    (:func:`device_numbers`)."""
    if payload is None:
        return None
    return [payload.path, *numbers, payload.sync_percent, payload.estimated_time,
            payload.is_degraded, payload.ldisk_status]


@implements(OpInstanceQueryData)
class LUInstanceQueryData(LogicalUnit[OpInstanceQueryData]):
    """``{name: details}`` per wanted instance (all when none are named)."""

    REQ_BGL = False

    wanted: list[Instance]

    def expand_names(self) -> None:
        cfg = self.cfg
        if self.op.instances:
            self.wanted = [find_instance(cfg, name) for name in self.op.instances]
        else:
            self.wanted = sorted(cfg.instances.values(), key=lambda i: i.name)

    def declare_locks(self) -> LockPlan:
        if self.op.static and not self.op.use_locking:
            return LockPlan.of()
        if not self.op.static and not self.op.use_locking:
            self.log_warning("Non-static data requested, locks need to be acquired")
        names = [i.name for i in self.wanted] if self.op.instances else ALL_SET
        return LockPlan.of({Level.INSTANCE: shared(names)})

    async def check_prereq(self) -> None:
        cfg = self.cfg
        if self.op.instances:
            self.wanted = [find_instance(cfg, i.name, i.uuid) for i in self.wanted]
        else:
            self.wanted = sorted(cfg.instances.values(), key=lambda i: i.name)

    async def exec(self) -> Any:
        return {inst.name: await self._details(inst) for inst in self.wanted}

    async def _run_state(self, inst: Instance, pnode: Node) -> str | None:
        if self.op.static:
            return None
        if pnode.offline:
            self.log_warning(f"Primary node {pnode.name} is marked offline, returning static"
                             f" information only for instance {inst.name}")
            return None
        info = await live_info(self, inst, prereq=False)
        if info is not None:
            return "up"
        return "down" if inst.admin_state is AdminState.UP else inst.admin_state.value

    async def _disk_status(self, node: Node | None, disk: Disk) -> list[Any] | None:
        if self.op.static or node is None or node.offline:
            return None
        result = await self.ctx.rpc.blockdev_find(node, node_disk(self.cfg, disk, node.uuid))
        if result.offline:
            return None
        return blockdev_status(result.raise_for_failure(), device_numbers(disk, node.uuid))

    async def _disk(self, inst: Instance, disk: Disk,
                    sync: MirrorSync = None) -> dict[str, Any]:
        """One disk as Ganeti's instance data shows it, children (DRBD's LVs) included;
        a mirror disk's state is ``sync`` (None: no mirror runs, "not active")."""
        pnode = self.cfg.nodes.get(inst.primary_node)
        others = [self.cfg.nodes[n] for n in disk.nodes if n != inst.primary_node
                  and n in self.cfg.nodes]
        children = [self.cfg.disks[u] for u in disk.children if u in self.cfg.disks]
        pstatus = await self._disk_status(pnode, disk)
        sstatus = await self._disk_status(others[0] if others else None, disk)
        if disk.dev_type is DiskTemplate.MIRROR:
            pstatus, sstatus = (_with_sync(pstatus, sync), _with_sync(sstatus, sync))
        data = {
            "iv_name": disk.iv_name, "dev_type": disk.dev_type.value,
            "logical_id": shown_logical_id(disk),
            "pstatus": pstatus, "sstatus": sstatus,
            "children": [await self._disk(inst, c) for c in children],
            "mode": disk.mode.value, "size": disk.size,
            "spindles": disk.spindles, "name": disk.name or None, "uuid": disk.uuid,
        }
        info = drbd_info(self.cfg, disk)
        return data if info is None else {**data, "drbd_info": info}

    async def _mirror_states(self, inst: Instance, run_state: str | None
                             ) -> dict[int, MirrorDiskSync]:
        if run_state != "up" or not has_mirror(self, inst):
            return {}
        return await mirror_states(self, inst) or {}

    async def _details(self, inst: Instance) -> dict[str, Any]:
        cfg = self.cfg
        pnode = cfg.nodes[inst.primary_node]
        disks = instance_disks(cfg, inst)
        snodes = [cfg.nodes[u] for u in secondary_node_uuids(inst, disks) if u in cfg.nodes]
        run_state = await self._run_state(inst, pnode)
        syncs = await self._mirror_states(inst, run_state)
        return {
            "name": inst.name,
            "config_state": inst.admin_state.value,
            "run_state": run_state,
            "pnode": pnode.name,
            **_group_fields(cfg, pnode, snodes),
            "snodes": [n.name for n in snodes],
            "os": inst.os,
            "nics": [nic_tuple(cfg, nic) for nic in inst.nics],
            "disk_template": inst.disk_template.value,
            "disks": [await self._disk(inst, d, syncs.get(i)) for i, d in enumerate(disks)],
            **_param_fields(cfg, inst),
            "network_port": inst.network_port,
            "hypervisor": inst.hypervisor,
            "serial_no": inst.serial_no, "mtime": inst.mtime, "ctime": inst.ctime,
            "uuid": inst.uuid, "admin_state": inst.admin_state.value,
            "admin_state_source": inst.admin_state_source.value, "tags": list(inst.tags),
        }


def _group_fields(cfg: ConfigData, pnode: Node, snodes: list[Node]) -> dict[str, Any]:
    def name(uuid: str) -> str | None:
        group = cfg.nodegroups.get(uuid)
        return group.name if group is not None else None

    return {
        "pnode_group_uuid": pnode.group, "pnode_group_name": name(pnode.group),
        "snodes_group_uuids": [n.group for n in snodes],
        "snodes_group_names": [name(n.group) for n in snodes],
    }


def _param_fields(cfg: ConfigData, inst: Instance) -> dict[str, Any]:
    """Parameters as set and as filled; private OS parameters are listed ``<redacted>``."""
    cluster = cfg.cluster
    private = redacted(inst.osparams_private)
    hv = filled_hvparams(cluster, inst.hypervisor, inst.os, inst.hvparams)
    return {
        "hv_instance": dict(inst.hvparams),
        "hv_actual": without_globals(inst.hypervisor, hv),
        "be_instance": dict(inst.beparams),
        "be_actual": filled_beparams(cluster, inst.beparams),
        "os_instance": {**inst.osparams, **private},
        "os_actual": {**filled_osparams(cluster, inst.os, inst.osparams), **private},
    }


@implements(OpInstanceConsole)
class LUInstanceConsole(InstanceLU[OpInstanceConsole]):
    """How to reach the console of a running instance (Ganeti's InstanceConsole dict)."""

    SHARED = True
    LOCK_NODES = False
    LOCK_NODE_RES = "none"

    async def check_prereq(self) -> None:
        await super().check_prereq()
        check_node_online(self.primary())

    async def exec(self) -> Any:
        inst, node = self.inst, self.primary()
        if await live_info(self, inst, prereq=False,
                           what="Can't get node information from {node}") is None:
            raise OpExecError(f"Instance {inst.name} is not running"
                              f" (state {run_state_label(inst)})")
        result = await self.ctx.rpc.instance_console_info(node, self.bundle())
        console = result.raise_for_failure()
        if console.kind != VNC or console.host in _ANY_ADDRESS:
            console = msgspec.structs.replace(console, host=node.primary_ip)
        return serde.to_builtins(console)
