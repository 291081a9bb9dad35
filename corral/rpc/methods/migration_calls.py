"""Migration: the seven phases of moving a running instance between nodes."""

from __future__ import annotations

from corral.objects.bundle import InstanceBundle
from corral.rpc.methods.base import NodeRef, RpcMethods
from corral.rpc.payloads import MigrationEndpoint, MigrationProgress
from corral.rpc.results import NodeResult


class MigrationCalls(RpcMethods):
    """Migration: the seven phases of moving a running instance between nodes."""

    async def instance_migratable(
        self, node: NodeRef, instance: InstanceBundle, *, rpc_timeout: float | None = None
    ) -> NodeResult[None]:
        """Fail unless the instance runs here and can be migrated."""
        return await self._single("instance_migratable", node, instance, timeout=rpc_timeout)

    async def migration_info(
        self, node: NodeRef, instance: InstanceBundle, *, rpc_timeout: float | None = None
    ) -> NodeResult[str]:
        """Source: what the target needs to accept the instance."""
        return await self._single("migration_info", node, instance, timeout=rpc_timeout)

    async def accept_instance(
        self,
        node: NodeRef,
        instance: InstanceBundle,
        info: str,
        target: str,
        copy_disks: bool,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[MigrationEndpoint]:
        """Target: start receiving the instance (vCPUs stopped until finalized)."""
        return await self._single(
            "accept_instance", node, instance, info, target, copy_disks, timeout=rpc_timeout
        )

    async def instance_finalize_migration_dst(
        self,
        node: NodeRef,
        instance: InstanceBundle,
        info: str,
        success: bool,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Target: run the received instance, or discard it."""
        return await self._single(
            "instance_finalize_migration_dst", node, instance, info, success, timeout=rpc_timeout
        )

    async def instance_migrate(
        self,
        node: NodeRef,
        cluster_name: str,
        instance: InstanceBundle,
        target: MigrationEndpoint,
        live: bool,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Source: start sending the instance to the target."""
        return await self._single(
            "instance_migrate", node, cluster_name, instance, target, live, timeout=rpc_timeout
        )

    async def instance_finalize_migration_src(
        self,
        node: NodeRef,
        instance: InstanceBundle,
        success: bool,
        live: bool,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Source: stop the sent instance, or resume it after a failure."""
        return await self._single(
            "instance_finalize_migration_src", node, instance, success, live, timeout=rpc_timeout
        )

    async def instance_get_migration_status(
        self, node: NodeRef, instance: InstanceBundle, *, rpc_timeout: float | None = None
    ) -> NodeResult[MigrationProgress]:
        """Source: progress of the outgoing migration."""
        return await self._single(
            "instance_get_migration_status", node, instance, timeout=rpc_timeout
        )
