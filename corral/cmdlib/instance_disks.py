"""Instance disk units: activate, deactivate, recreate and grow disks.

Locks: the instance and its nodes exclusively (recreate also the new nodes);
recreate and grow also the node-res locks; the cluster lock shared.
"""

from __future__ import annotations

from typing import Any

import msgspec

from corral.cmdlib.base import implements
from corral.cmdlib.common.allocation import check_free_disk, disk_space_needs
from corral.cmdlib.common.instances.base_lu import InstanceLU
from corral.cmdlib.common.instances.disks import (
    GROWABLE,
    MIRRORED,
    assemble_disks,
    create_disks,
    shutdown_disks,
    wipe_disks,
)
from corral.cmdlib.common.instances.mirror_mobility import resync_degraded
from corral.cmdlib.common.instances.node_disks import node_disk
from corral.cmdlib.common.instances.status import (
    INSTANCE_DOWN,
    INSTANCE_NOT_RUNNING,
    check_node_online,
    check_state,
)
from corral.cmdlib.common.parameters import ipolicy
from corral.errors import ErrorCode, OpExecError, OpPrereqError
from corral.objects.instance import AdminState, Disk, DiskMode, DiskTemplate
from corral.objects.ipolicy import spec_violations
from corral.opcodes.instance import (
    OpInstanceActivateDisks,
    OpInstanceDeactivateDisks,
    OpInstanceGrowDisk,
    OpInstanceRecreateDisks,
)


@implements(OpInstanceActivateDisks)
class LUInstanceActivateDisks(InstanceLU[OpInstanceActivateDisks]):
    """Assemble the disks; returns ``[[node, iv_name, device path], ...]``."""

    LOCK_NODE_RES = "none"

    async def check_prereq(self) -> None:
        await super().check_prereq()
        check_node_online(self.primary())

    async def exec(self) -> Any:
        paths = await assemble_disks(self, self.inst, self.disks())
        if self.inst.admin_state is AdminState.UP:
            await resync_degraded(self, self.inst)
        if not self.inst.disks_active:
            self.instance = self.inst.evolve(self.now(), disks_active=True)
            await self.commit(self.instance)
        return paths


@implements(OpInstanceDeactivateDisks)
class LUInstanceDeactivateDisks(InstanceLU[OpInstanceDeactivateDisks]):
    """Shut the disks down; unless forced, only of a stopped instance."""

    LOCK_NODE_RES = "none"

    async def check_prereq(self) -> None:
        await super().check_prereq()
        if not self.op.force:
            await check_state(self, self.inst, INSTANCE_DOWN, "cannot shutdown disks")

    async def exec(self) -> Any:
        await shutdown_disks(self, self.inst, self.disks())
        if self.inst.disks_active:
            self.instance = self.inst.evolve(self.now(), disks_active=False)
            await self.commit(self.instance)
        return None


@implements(OpInstanceRecreateDisks)
class LUInstanceRecreateDisks(InstanceLU[OpInstanceRecreateDisks]):
    """Recreate all or some disks at their logical ids, optionally on new nodes."""

    HPATH = "instance-recreate-disks"

    wanted: dict[int, dict[str, Any]]
    new_nodes: list[str]

    def check_arguments(self) -> None:
        if self.op.iallocator:
            raise OpPrereqError("Corral has no instance allocator: give the new nodes",
                                ErrorCode.INVAL)
        self.wanted = {}
        for entry in self.op.disks:
            index, changes = (entry, {}) if isinstance(entry, int) else entry
            if index in self.wanted:
                raise OpPrereqError(f"Duplicate disk index {index}", ErrorCode.INVAL)
            self.wanted[index] = dict(changes)

    def expand_names(self) -> None:
        super().expand_names()
        self.new_nodes = [self.expand_node(n).uuid for n in self.op.nodes]

    def lock_node_uuids(self) -> list[str]:
        return [*super().lock_node_uuids(), *self.new_nodes]

    async def check_prereq(self) -> None:
        await super().check_prereq()
        inst = self.inst
        if inst.disk_template is DiskTemplate.DISKLESS:
            raise OpPrereqError(f"Instance '{inst.name}' has no disks", ErrorCode.INVAL)
        if self.new_nodes and inst.disk_template in MIRRORED:
            raise OpPrereqError(f"Recreating the disks of a {inst.disk_template.value}"
                                " instance on other nodes is not supported yet",
                                ErrorCode.INVAL)
        if self.new_nodes and len(self.new_nodes) != 1:
            raise OpPrereqError(f"Instance {inst.name} currently has 1 nodes, but new node"
                                f" list has {len(self.new_nodes)} nodes", ErrorCode.INVAL)
        for uuid in self.new_nodes or self.lock_node_uuids():
            check_node_online(self.cfg.nodes[uuid], "Can't recreate disks on offline node")
        await check_state(self, inst, INSTANCE_NOT_RUNNING, "cannot recreate disks")
        if self.wanted and max(self.wanted) >= len(inst.disks):
            raise OpPrereqError(f"Invalid disk index '{max(self.wanted)}'", ErrorCode.INVAL)

    async def exec(self) -> Any:
        inst, disks = self.inst, self.disks()
        indices = sorted(self.wanted) or list(range(len(disks)))
        nodes = tuple(self.new_nodes) or None
        targets = [_recreated(disks[i], self.wanted.get(i, {}), nodes, self.now())
                   for i in indices]
        await self._remove_old([disks[i] for i in indices])
        if nodes is not None:
            self.instance = inst.evolve(self.now(), primary_node=nodes[0])
        await create_disks(self, self.inst, targets)
        changed = [t for t, i in zip(targets, indices, strict=True) if t is not disks[i]]
        if nodes or changed:
            await self.commit(*([self.instance] if nodes else []), *changed)
        return None

    async def _remove_old(self, disks: list[Disk]) -> None:
        for disk in disks:
            for uuid in disk.nodes:
                node = self.cfg.nodes.get(uuid)
                if node is None or node.offline:
                    continue
                result = await self.ctx.rpc.blockdev_remove(
                    node, node_disk(self.cfg, disk, uuid))
                result.warn(self.log_warning, f"removing the old {disk.iv_name}")


def _recreated(disk: Disk, changes: dict[str, Any], nodes: tuple[str, ...] | None,
               now: float) -> Disk:
    fields: dict[str, Any] = {}
    if "size" in changes:
        fields["size"] = int(changes["size"])
    if "mode" in changes:
        fields["mode"] = DiskMode(changes["mode"])
    if nodes is not None:
        fields["nodes"] = nodes
    return disk.evolve(now, **fields) if fields else disk


@implements(OpInstanceGrowDisk)
class LUInstanceGrowDisk(InstanceLU[OpInstanceGrowDisk]):
    """Grow one disk by ``amount`` MiB, or to ``amount`` MiB with ``absolute``."""

    HPATH = "disk-grow"

    delta = 0
    target = 0
    disk: Disk | None = None

    async def check_prereq(self) -> None:
        await super().check_prereq()
        op, disks = self.op, self.disks()
        for disk in disks:
            for uuid in disk.nodes:
                check_node_online(self.cfg.nodes[uuid])
        if op.disk >= len(disks):
            raise OpPrereqError(f"Invalid disk index: {op.disk} (instance has disks"
                                f" 0..{len(disks) - 1})", ErrorCode.INVAL)
        disk = disks[op.disk]
        if disk.dev_type not in GROWABLE:
            raise OpPrereqError(f"Instance's disk layout '{disk.dev_type.value}' does not"
                                " support growing", ErrorCode.INVAL)
        self.delta, self.target = _growth(disk.size, op.amount, op.absolute)
        self._check_policy(disks, op.disk)
        grown = msgspec.structs.replace(disk, size=self.delta)
        nodes = [self.cfg.nodes[u] for u in disk.nodes]
        await check_free_disk(self, nodes, disk_space_needs(self.cfg.cluster, [grown]))
        self.disk = disk

    def _check_policy(self, disks: list[Disk], index: int) -> None:
        """Ganeti's disk-size check of the grown disk against the group's policy."""
        group = ipolicy.instance_group(self.cfg, self.inst)
        sizes = [self.target if i == index else d.size for i, d in enumerate(disks)]
        found = spec_violations(ipolicy.group_policy(self.cfg, group), memory=None, vcpus=None,
                                disk_sizes=sizes, nic_count=None, spindle_use=None,
                                disk_templates=[d.dev_type.value for d in disks])
        if not found:
            return
        msg = f"Growing disk {index} violates policy: {', '.join(found)}"
        if not self.op.ignore_ipolicy:
            raise OpPrereqError(msg, ErrorCode.INVAL)
        self.log_warning(msg)

    def hooks_env(self) -> dict[str, Any]:
        return {**super().hooks_env(), "DISK": self.op.disk, "AMOUNT": self.op.amount,
                "ABSOLUTE": self.op.absolute}

    async def exec(self) -> Any:
        inst, disk = self.inst, self.disk
        assert disk is not None
        await assemble_disks(self, inst, [disk], error="Cannot activate block device to grow")
        self.log_info(f"Growing disk {self.op.disk} of instance '{inst.name}' by"
                      f" {self.delta} MiB to {self.target} MiB")
        for dryrun in (True, False):
            for uuid in disk.nodes:
                node = self.cfg.nodes[uuid]
                result = await self.ctx.rpc.blockdev_grow(
                    node, node_disk(self.cfg, disk, uuid), self.delta, dryrun, True, False)
                if not result.ok:
                    what = "Dry-run grow" if dryrun else "Grow"
                    raise OpExecError(f"{what} request failed to node {node.name}:"
                                      f" {result.fail_msg}")
        if disk.dev_type in MIRRORED:
            await self._grow_mirror(disk)
        grown = disk.evolve(self.now(), size=self.target)
        await self.commit(grown, *self._grown_data_lv(disk))
        if self.cfg.cluster.prealloc_wipe_disks:
            await wipe_disks(self, inst, [grown], offset=disk.size)
        if not inst.disks_active:
            await shutdown_disks(self, inst, [grown])
        return None


    async def _grow_mirror(self, disk: Disk) -> None:
        """The DRBD device itself grows on the primary once its LVs have (Ganeti's
        third pass, ``backingstore`` false)."""
        node = self.cfg.nodes[self.inst.primary_node]
        result = await self.ctx.rpc.blockdev_grow(
            node, node_disk(self.cfg, disk, node.uuid), self.delta, False, False, False)
        if not result.ok:
            raise OpExecError(f"Grow request failed to node {node.name}: {result.fail_msg}")

    def _grown_data_lv(self, disk: Disk) -> list[Disk]:
        """A DRBD disk's data LV with its new size (Ganeti's RecordGrow)."""
        if disk.dev_type not in MIRRORED or not disk.children:
            return []
        data = self.cfg.disks.get(disk.children[0])
        return [] if data is None else [data.evolve(self.now(), size=data.size + self.delta)]


def _growth(size: int, amount: int, absolute: bool) -> tuple[int, int]:
    """(delta, target) in MiB."""
    if absolute:
        if amount < size:
            raise OpPrereqError(f"Requested size ({amount} MiB) is smaller than current disk"
                                f" size ({size} MiB)", ErrorCode.STATE)
        return amount - size, amount
    return amount, size + amount

