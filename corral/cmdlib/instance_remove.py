"""Removing an instance (``gnt-instance remove``).

Locks: the instance and its nodes (node and node-res levels) exclusively, the
cluster lock shared. The instance is shut down, its disks (and file storage
directory) removed from the nodes (a DRBD disk before its LVs, on both nodes), then
instance and disks (LVs under DRBD disks included, which frees their minors and port)
leave the configuration in one commit.
"""

from __future__ import annotations

from typing import Any

from corral.cmdlib.base import implements
from corral.cmdlib.common import hooks_env
from corral.cmdlib.common.instances.base_lu import InstanceLU, instance_node_uuids
from corral.cmdlib.common.instances.disks import remove_disks
from corral.cmdlib.common.instances.drbd import disk_tree
from corral.errors import OpExecError
from corral.objects.config_data import Kind
from corral.objects.node import Node
from corral.opcodes.instance import OpInstanceRemove


@implements(OpInstanceRemove)
class LUInstanceRemove(InstanceLU[OpInstanceRemove]):
    """Shut down and delete an instance with its disks."""

    HPATH = "instance-remove"

    post_nodes: list[Node]

    async def check_prereq(self) -> None:
        await super().check_prereq()
        uuids = instance_node_uuids(self.cfg, self.inst)
        self.post_nodes = [self.cfg.nodes[u] for u in uuids if u in self.cfg.nodes]

    def hooks_env(self) -> dict[str, Any]:
        return {**super().hooks_env(), "SHUTDOWN_TIMEOUT": self.op.shutdown_timeout}

    def hooks_nodes(self) -> tuple[list[Node], list[Node]]:
        master = [self.cfg.master_node]
        return master, hooks_env.master_and(self.cfg, *self.post_nodes)

    async def exec(self) -> Any:
        inst, node = self.inst, self.primary()
        result = await self.ctx.rpc.instance_shutdown(node, self.bundle(),
                                              float(self.op.shutdown_timeout), self.op.reason)
        if not result.ok:
            if not self.op.ignore_failures:
                raise OpExecError(f"Could not shutdown instance {inst.name} on node"
                                  f" {node.name}: {result.fail_msg}")
            self.log_warning(f"can't shutdown instance: {result.fail_msg}")
        disks = self.disks()
        if not await remove_disks(self, inst, disks):
            if not self.op.ignore_failures:
                raise OpExecError("Can't remove instance's disks")
            self.log_warning("can't remove instance's disks")
        gone = [d for disk in disks for d in disk_tree(disk, self.cfg.disks)]
        await self.commit(removed=[(Kind.INSTANCE, inst.uuid),
                                   *((Kind.DISK, d.uuid) for d in gone)])
        return None
