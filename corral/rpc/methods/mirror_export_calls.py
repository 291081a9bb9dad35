"""Mirror disks: the secondary's NBD-over-TLS export and the primary's sync state."""

from __future__ import annotations

from corral.objects.bundle import InstanceBundle
from corral.objects.instance import Disk
from corral.rpc.methods.base import NodeRef, RpcMethods
from corral.rpc.payloads import MirrorDiskSync, MirrorExport
from corral.rpc.results import NodeResult


class MirrorExportCalls(RpcMethods):
    """Mirror disks: the secondary's NBD-over-TLS export and the primary's sync state."""

    async def mirror_export_start(
        self, node: NodeRef, disk: Disk, address: str, port: int, client: str, *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[MirrorExport]:
        """Serve ``disk``'s local half on ``address:port`` to node ``client`` only (a running
        export is kept)."""
        return await self._single("mirror_export_start", node, disk, address, port, client,
                                  timeout=rpc_timeout)

    async def mirror_export_stop(
        self, node: NodeRef, disk: Disk, *, rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Stop serving ``disk`` (succeeds when it was not served)."""
        return await self._single("mirror_export_stop", node, disk, timeout=rpc_timeout)

    async def mirror_export_status(
        self, node: NodeRef, disk: Disk, *, rpc_timeout: float | None = None,
    ) -> NodeResult[MirrorExport]:
        """Whether ``disk``'s export runs, with its URI."""
        return await self._single("mirror_export_status", node, disk, timeout=rpc_timeout)

    async def instance_mirror_status(
        self, node: NodeRef, instance: InstanceBundle, *, rpc_timeout: float | None = None,
    ) -> NodeResult[list[MirrorDiskSync]]:
        """Per mirror disk of the running instance: in sync, degraded or resyncing."""
        return await self._single("instance_mirror_status", node, instance,
                                  timeout=rpc_timeout)

    async def instance_mirror_resync(
        self, node: NodeRef, instance: InstanceBundle, disks: list[int], full: bool, *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Reattach the secondaries of ``disks`` (all if empty) and resync them."""
        return await self._single("instance_mirror_resync", node, instance, disks, full,
                                  timeout=rpc_timeout)
