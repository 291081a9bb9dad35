"""Moving an instance by copying its disks (``gnt-instance move``): Ganeti's LUInstanceMove.

The instance is shut down on its node, its disks are created on the target (same
logical ids) and copied over TLS between the two node daemons, checked end to end
(:mod:`corral.cmdlib.common.instances.disk_transfer`); only then does the configuration
name the target, the source disks go, and an instance marked up starts on the target.
If a copy fails, the target disks are removed and the instance starts again where it
was. ``file`` and ``plain`` disks are copied; ``sharedfile`` and ``diskless`` instances
only change their primary node; adopted block devices (``blockdev``) are refused.

Locks, as Ganeti: the instance, and the source and target nodes (node and node-res).
"""

from __future__ import annotations

from typing import Any

import msgspec

from corral.cmdlib.base import implements
from corral.cmdlib.common import hooks_env
from corral.cmdlib.common.allocation import check_free_memory
from corral.cmdlib.common.instances.base_lu import InstanceLU
from corral.cmdlib.common.instances.bundle import build_bundle, filled_beparams
from corral.cmdlib.common.instances.disk_transfer import Endpoint, copy_disk
from corral.cmdlib.common.instances.disks import (
    assemble_disks,
    create_disks,
    remove_disks,
    shutdown_disks,
)
from corral.cmdlib.common.instances.relocation import check_target, moved_to
from corral.cmdlib.common.instances.status import check_node_online
from corral.errors import CorralError, ErrorCode, OpExecError, OpPrereqError
from corral.locking.levels import Level
from corral.objects.instance import AdminState, Disk, DiskTemplate, Instance
from corral.objects.node import Node
from corral.opcodes.mobility import OpInstanceMove

COPIED = frozenset({DiskTemplate.FILE, DiskTemplate.PLAIN})
"""Templates whose disks are copied (Ganeti's DTS_COPYABLE)."""
SHARED = frozenset({DiskTemplate.SHAREDFILE, DiskTemplate.DISKLESS})
"""Templates every node sees: a move only changes the primary node."""
COMPRESSION = ("none", "gzip", "gzip-fast", "gzip-slow")
"""What the node daemons' transfers can compress with."""


@implements(OpInstanceMove)
class LUInstanceMove(InstanceLU[Any]):
    """Shut the instance down, copy its disks to the target node, start it there.

    (``InstanceLU[Any]``: the mobility opcodes do not share the instance opcodes' base.)
    """

    op: OpInstanceMove
    HPATH = "instance-move"
    LOCK_NODES = True
    LOCK_NODE_RES = "all"

    target: Node | None = None
    source: Node | None = None

    def check_arguments(self) -> None:
        if self.op.compress not in COMPRESSION:
            raise OpPrereqError(
                f"Compression tool '{self.op.compress}' is not supported for disk copies;"
                f" use one of {', '.join(COMPRESSION)}", ErrorCode.INVAL)

    def expand_names(self) -> None:
        super().expand_names()
        by_uuid = self.cfg.nodes.get(self.op.target_node_uuid or "")
        self.target = by_uuid or self.expand_node(self.op.target_node)

    def lock_node_uuids(self) -> list[str]:
        assert self.target is not None
        return list(dict.fromkeys((self.inst.primary_node, self.target.uuid)))

    async def check_prereq(self) -> None:
        await super().check_prereq()
        inst = self.inst
        assert self.target is not None
        target = self.target = self.cfg.nodes.get(self.target.uuid)
        if target is None:
            raise OpPrereqError(f"Node '{self.op.target_node}' not known", ErrorCode.NOENT)
        self.source = self.primary()
        if self.lock_owner and not self.ctx.locks.is_owned(self.lock_owner, Level.NODE,
                                                           self.source.name):
            raise OpPrereqError(f"Instance {inst.name} moved to node {self.source.name}"
                                " while waiting for locks; please retry", ErrorCode.STATE)
        for index, disk in enumerate(self.disks()):
            if disk.dev_type not in COPIED | SHARED:
                raise OpPrereqError(
                    f"Instance disk {index} has disk type {disk.dev_type.value} and is not"
                    " suitable for copying", ErrorCode.STATE)
        if target.uuid == inst.primary_node:
            raise OpPrereqError(f"Instance {inst.name} is already on the node {target.name}",
                                ErrorCode.STATE)
        check_target(self, inst, target, verb="move", ignore_ipolicy=self.op.ignore_ipolicy)
        if self.copied_disks():
            check_node_online(self.source, f"Cannot copy the disks of instance {inst.name}"
                                           " from its offline primary node")
        if inst.admin_state is AdminState.UP:
            maxmem = int(filled_beparams(self.cfg.cluster, inst.beparams)["maxmem"])
            await check_free_memory(self, target, f"failing over instance {inst.name}",
                                    maxmem, inst.hypervisor)
        else:
            self.log_info("Not checking memory on the secondary node as instance will not"
                          " be started")

    def copied_disks(self) -> list[Disk]:
        return [d for d in self.disks() if d.dev_type in COPIED]

    # --- hooks --------------------------------------------------------------------
    def hooks_env(self) -> dict[str, Any]:
        target = self.target.name if self.target is not None else self.op.target_node
        return {"TARGET_NODE": target, "SHUTDOWN_TIMEOUT": self.op.shutdown_timeout,
                **super().hooks_env()}

    def hooks_nodes(self) -> tuple[list[Node], list[Node]]:
        ends = [n for n in (self.source or self.primary(), self.target) if n is not None]
        found = hooks_env.master_and(self.cfg, *ends)
        return found, found

    # --- execution ------------------------------------------------------------------
    async def exec(self) -> Any:
        inst, source, target = self.inst, self.primary(), self.target
        assert target is not None
        await self._shut_down(source)
        copied = self.copied_disks()
        on_target = msgspec.structs.replace(inst, primary_node=target.uuid)
        new_disks = [msgspec.structs.replace(d, nodes=(target.uuid,)) for d in copied]
        try:
            await create_disks(self, on_target, new_disks)
            await self._copy(source, target, on_target, copied, new_disks)
            moved, disks = moved_to(self.cfg, inst, source.uuid, target.uuid, self.now())
            moved = moved.evolve(self.now(), disks_active=False)
            await self.commit(moved, *disks)
        except CorralError as err:
            await self._roll_back(on_target, new_disks, source)
            raise OpExecError(f"Errors during disk copy: {err}") from None
        self.instance = moved
        self.log_info("Removing the disks on the original node")
        await remove_disks(self, inst, copied)
        if inst.admin_state is AdminState.UP:
            await self._start(target)
        return None

    async def _shut_down(self, source: Node) -> None:
        inst = self.inst
        self.log_info(f"Shutting down instance {inst.name} on source node {source.name}")
        result = await self.ctx.rpc.instance_shutdown(
            source, self.bundle(), float(self.op.shutdown_timeout), self.op.reason)
        if result.ok:
            return
        if not self.op.ignore_consistency:
            raise OpExecError(f"Could not shutdown instance {inst.name} on node"
                              f" {source.name}: {result.fail_msg}")
        self.log_warning(f"Could not shutdown instance {inst.name} on node {source.name}."
                         f" Proceeding anyway. Please make sure node {source.name} is down."
                         f" Error details: {result.fail_msg}")

    async def _copy(self, source: Node, target: Node, on_target: Instance,
                    copied: list[Disk], new_disks: list[Disk]) -> None:
        from_bundle = self.bundle()
        to_bundle = build_bundle(self.cfg, on_target, disks=new_disks)
        for old, new in zip(copied, new_disks, strict=True):
            self.log_info(f"Copying {old.iv_name} ({old.size} MiB) to node {target.name}")
            await copy_disk(self, old.iv_name, Endpoint(source, from_bundle, old),
                            Endpoint(target, to_bundle, new), self.op.compress)

    async def _roll_back(self, on_target: Instance, new_disks: list[Disk],
                         source: Node) -> None:
        """Remove the target's copies; start the instance where it was if it was up."""
        self.log_warning("Some disks failed to copy, aborting")
        await remove_disks(self, on_target, new_disks)
        inst = self.inst
        if inst.admin_state is not AdminState.UP:
            return
        self.log_info(f"Starting instance {inst.name} again on node {source.name}")
        try:
            await assemble_disks(self, inst, self.disks())
        except OpExecError as err:
            self.log_warning(f"Could not restart instance {inst.name}: {err}")
            return
        result = await self.ctx.rpc.instance_start(source, self.bundle(), False,
                                                   self.op.reason)
        if not result.ok:
            self.log_warning(f"Could not restart instance {inst.name} on node"
                             f" {source.name}: {result.fail_msg}")

    async def _start(self, target: Node) -> None:
        inst = self.inst
        self.log_info(f"Starting instance {inst.name} on node {target.name}")
        disks = self.disks()
        await assemble_disks(self, inst, disks, error="Can't activate the instance's disks")
        result = await self.ctx.rpc.instance_start(target, self.bundle(), False,
                                                   self.op.reason)
        if not result.ok:
            await shutdown_disks(self, inst, disks)
            raise OpExecError(f"Could not start instance {inst.name} on node {target.name}:"
                              f" {result.fail_msg}")
        self.instance = self.current().evolve(self.now(), disks_active=True)
        await self.commit(self.instance)
