"""Reinstalling and renaming stopped instances (``gnt-instance reinstall|rename``).

Locks: reinstall takes the instance exclusively (as Ganeti); rename the old and
new names and the instance's nodes (its file storage moves); the cluster lock shared.
"""

from __future__ import annotations

from typing import Any

import msgspec

from corral.cmdlib.base import implements
from corral.cmdlib.common.instances.base_lu import InstanceLU, instance_node_uuids
from corral.cmdlib.common.instances.bundle import build_bundle, filled_osparams
from corral.cmdlib.common.instances.disks import (
    assemble_disks,
    renamed_logical_id,
    shutdown_disks,
    storage_dirs,
)
from corral.cmdlib.common.instances.status import (
    INSTANCE_DOWN,
    INSTANCE_NOT_RUNNING,
    check_node_online,
    check_state,
)
from corral.cmdlib.common.parameters.checks import merge_params
from corral.cmdlib.os import validate_os
from corral.errors import ErrorCode, OpExecError, OpPrereqError
from corral.locking.levels import Level
from corral.locking.plan import LockPlan, exclusive
from corral.objects.instance import Disk, DiskTemplate, Instance
from corral.objects.names import InvalidName, check_name
from corral.opcodes.instance import OpInstanceReinstall, OpInstanceRename


@implements(OpInstanceReinstall)
class LUInstanceReinstall(InstanceLU[OpInstanceReinstall]):
    """Run the OS create script again on a stopped instance, maybe with another OS."""

    HPATH = "instance-reinstall"
    LOCK_NODES = False
    LOCK_NODE_RES = "none"

    osparams: dict[str, Any]

    async def check_prereq(self) -> None:
        await super().check_prereq()
        inst, op = self.inst, self.op
        check_node_online(self.primary(), "Instance primary node offline, cannot reinstall")
        if inst.disk_template is DiskTemplate.DISKLESS:
            raise OpPrereqError(f"Instance '{inst.name}' has no disks", ErrorCode.INVAL)
        await check_state(self, inst, INSTANCE_DOWN, "cannot reinstall")
        os_name = op.os_type or inst.os
        own = {**merge_params(inst.osparams, op.osparams or {}),
               **merge_params(inst.osparams_private, op.osparams_private or {}),
               **(op.osparams_secret or {})}
        self.osparams = filled_osparams(self.cfg.cluster, os_name, own)
        if os_name:
            nodes = [self.cfg.nodes[u] for u in instance_node_uuids(self.cfg, inst)]
            await validate_os(self, nodes, os_name, self.osparams, op.force_variant)

    async def exec(self) -> Any:
        op = self.op
        if op.os_type is not None and op.os_type != self.inst.os:
            self.log_info(f"Changing OS scripts to '{op.os_type}'...")
            self.instance = self.inst.evolve(self.now(), os=op.os_type)
            await self.commit(self.instance)
        inst, node, disks = self.inst, self.primary(), self.disks()
        if not inst.os:
            self.log_info("No OS scripts or OS image specified or found in the instance's"
                          " configuration, nothing to install")
            return None
        await assemble_disks(self, inst, disks, error="Disk consistency error")
        try:
            self.log_info("Running instance OS create scripts...")
            result = await self.ctx.rpc.instance_os_add(
                node, self.bundle(osparams=self.osparams), True, op.debug_level or 0
            )
            if not result.ok:
                raise OpExecError(f"Could not install OS for instance '{inst.name}' on node"
                                  f" '{node.name}': {result.fail_msg}")
        finally:
            await shutdown_disks(self, inst, disks)
        return None


@implements(OpInstanceRename)
class LUInstanceRename(InstanceLU[OpInstanceRename]):
    """Rename a stopped instance; file-based disks move to the new instance directory.

    Result: the new name. The OS rename script runs last; its failure is a warning.
    """

    HPATH = "instance-rename"
    LOCK_NODE_RES = "none"

    def check_arguments(self) -> None:
        try:
            check_name(self.op.new_name, "instance name")
        except InvalidName as err:
            raise OpPrereqError(str(err), ErrorCode.INVAL) from None

    def declare_locks(self) -> LockPlan:
        plan = super().declare_locks()
        names = {self.inst.name, self.op.new_name}
        return plan.with_level(Level.INSTANCE, exclusive(names))

    async def check_prereq(self) -> None:
        await super().check_prereq()
        inst, new_name = self.inst, self.op.new_name
        check_node_online(self.primary())
        await check_state(self, inst, INSTANCE_NOT_RUNNING, "cannot rename")
        if new_name != inst.name and self.cfg.instance_by_name(new_name) is not None:
            raise OpPrereqError(f"Instance '{new_name}' is already in the cluster",
                                ErrorCode.EXISTS)

    def hooks_env(self) -> dict[str, Any]:
        return {**super().hooks_env(), "INSTANCE_NEW_NAME": self.op.new_name}

    async def exec(self) -> Any:
        old, new_name = self.inst, self.op.new_name
        old_disks = self.disks()
        disks = [_renamed(d, new_name, self.now()) for d in old_disks]
        changed = [d for d, o in zip(disks, old_disks, strict=True) if d is not o]
        self.instance = old.evolve(self.now(), name=new_name)
        await self.commit(self.instance, *changed)
        await self._move_storage(old_disks, disks)
        await self._run_rename_script(self.instance, disks, old.name)
        return new_name

    async def _move_storage(self, old_disks: list[Disk], disks: list[Disk]) -> None:
        node = self.primary()
        for old_dir, new_dir in sorted(zip(sorted(storage_dirs(old_disks)),
                                           sorted(storage_dirs(disks)), strict=False)):
            if old_dir == new_dir:
                continue
            result = await self.ctx.rpc.file_storage_dir_rename(node, old_dir, new_dir)
            if not result.ok:
                raise OpExecError(f"Could not rename on node {node.name} directory"
                                  f" '{old_dir}' to '{new_dir}' (but the instance has been"
                                  f" renamed in the configuration): {result.fail_msg}")

    async def _run_rename_script(self, inst: Instance, disks: list[Disk], old_name: str) -> None:
        if not inst.os:
            return
        node = self.primary()
        await assemble_disks(self, inst, disks, error="Disk consistency error")
        try:
            result = await self.ctx.rpc.instance_run_rename(
                node, build_bundle(self.cfg, inst, disks=disks), old_name, self.op.debug_level or 0
            )
            if not result.ok:
                self.log_warning(f"Could not run OS rename script for instance {inst.name} on"
                                 f" node {node.name} (but the instance has been renamed in"
                                 f" the configuration): {result.fail_msg}")
        finally:
            await shutdown_disks(self, inst, disks)


def _renamed(disk: Disk, new_name: str, now: float) -> Disk:
    new_id = renamed_logical_id(disk, new_name)
    if new_id == disk.logical_id:
        return disk
    return msgspec.structs.replace(disk, logical_id=new_id, serial_no=disk.serial_no + 1,
                                  mtime=now)
