"""Import/export: copying a disk from one node daemon to another over TLS."""

from __future__ import annotations

from corral.objects.bundle import InstanceBundle
from corral.rpc.methods.base import NodeRef, RpcMethods
from corral.rpc.payloads import ImpExpHandle, ImpExpIo, ImpExpOptions, ImpExpStatus
from corral.rpc.results import NodeResult


class ImpExpCalls(RpcMethods):
    """Import/export: copying a disk from one node daemon to another over TLS."""

    async def import_start(
        self,
        node: NodeRef,
        opts: ImpExpOptions,
        instance: InstanceBundle,
        component: str,
        dest: ImpExpIo,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[ImpExpHandle]:
        """Assemble the destination and listen (cluster certificates only) for its exporter."""
        return await self._single(
            "import_start", node, opts, instance, component, dest, timeout=rpc_timeout
        )

    async def export_start(
        self,
        node: NodeRef,
        opts: ImpExpOptions,
        host: str,
        port: int,
        instance: InstanceBundle,
        component: str,
        source: ImpExpIo,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[str]:
        """Connect to an import at host:port and stream the source to it."""
        return await self._single(
            "export_start", node, opts, host, port, instance, component, source,
            timeout=rpc_timeout,
        )

    async def impexp_status(
        self, node: NodeRef, names: list[str], *, rpc_timeout: float | None = None
    ) -> NodeResult[list[ImpExpStatus | None]]:
        """Progress of imports/exports; None for an unknown name."""
        return await self._single("impexp_status", node, names, timeout=rpc_timeout)

    async def impexp_abort(
        self, node: NodeRef, name: str, *, rpc_timeout: float | None = None
    ) -> NodeResult[None]:
        """Stop an import or export."""
        return await self._single("impexp_abort", node, name, timeout=rpc_timeout)

    async def impexp_cleanup(
        self, node: NodeRef, name: str, *, rpc_timeout: float | None = None
    ) -> NodeResult[None]:
        """Forget a finished import or export (aborting it if it runs)."""
        return await self._single("impexp_cleanup", node, name, timeout=rpc_timeout)
