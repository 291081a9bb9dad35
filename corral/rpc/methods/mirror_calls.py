"""Mirrored disks (DRBD): status, network, roles, children and resync of block devices.

Every disk is a ``NodeDisk`` built for the node it goes to: its ``child_disks``
(drbd: data then metadata volume) and, for drbd, ``dynamic_params`` naming this
node's side (``local-ip``, ``remote-ip``, ``local-minor``, ``remote-minor``).
"""

from __future__ import annotations

from collections.abc import Sequence

from corral.rpc.methods.base import NodeRef, RpcMethods
from corral.rpc.payloads import (
    DrbdSyncProgress,
    MirrorStatus,
    MirrorStatusResult,
    NodeDisk,
    PauseResult,
)
from corral.rpc.results import NodeResult


class MirrorCalls(RpcMethods):
    """Mirrored disks (DRBD)."""

    async def blockdev_getmirrorstatus(
        self, node: NodeRef, disks: list[NodeDisk], *, rpc_timeout: float | None = None
    ) -> NodeResult[list[MirrorStatus]]:
        """Mirror state of each disk; fails if one is missing."""
        return await self._single("blockdev_getmirrorstatus", node, disks, timeout=rpc_timeout)

    async def blockdev_getmirrorstatus_multi(
        self,
        nodes: Sequence[NodeRef],
        node_disks: dict[str, list[NodeDisk]],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[list[MirrorStatusResult]]]:
        """Mirror state of each node's own disks (``node_disks`` by node name)."""
        return await self._per_node(
            "blockdev_getmirrorstatus_multi", nodes, node_disks, timeout=rpc_timeout
        )

    async def blockdev_addchildren(
        self,
        node: NodeRef,
        bdev: NodeDisk,
        ndevs: list[NodeDisk],
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Attach new local volumes (data, metadata) to a drbd disk without them."""
        return await self._single("blockdev_addchildren", node, bdev, ndevs, timeout=rpc_timeout)

    async def blockdev_removechildren(
        self,
        node: NodeRef,
        bdev: NodeDisk,
        ndevs: list[NodeDisk],
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Detach a drbd disk's local volumes (``ndevs``, which must be the attached ones)."""
        return await self._single(
            "blockdev_removechildren", node, bdev, ndevs, timeout=rpc_timeout
        )

    async def blockdev_pause_resume_sync(
        self, node: NodeRef, disks: list[NodeDisk], pause: bool, *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[list[PauseResult]]:
        """Pause (or resume) each disk's resync; ``[success, error]`` per disk."""
        return await self._single(
            "blockdev_pause_resume_sync", node, disks, pause, timeout=rpc_timeout
        )

    async def blockdev_close(
        self, node: NodeRef, instance_name: str, disks: list[NodeDisk], *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Make disks secondary; with an instance name, remove its disk links."""
        return await self._single("blockdev_close", node, instance_name, disks,
                                  timeout=rpc_timeout)

    async def blockdev_open(
        self, node: NodeRef, instance_name: str, disks: list[NodeDisk], exclusive: bool, *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Make disks primary and link them (``disk/<index>``) for the instance."""
        return await self._single("blockdev_open", node, instance_name, disks, exclusive,
                                  timeout=rpc_timeout)

    async def drbd_disconnect_net(
        self, nodes: Sequence[NodeRef], disks: list[NodeDisk], *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[None]]:
        """Disconnect the disks (StandAlone) on each node."""
        return await self._multi("drbd_disconnect_net", nodes, disks, timeout=rpc_timeout)

    async def drbd_attach_net(
        self, nodes: Sequence[NodeRef], disks: list[NodeDisk], multimaster: bool, *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[None]]:
        """Reconnect the disks and wait until connected (``multimaster``: dual-primary)."""
        return await self._multi("drbd_attach_net", nodes, disks, multimaster,
                                 timeout=rpc_timeout)

    async def drbd_wait_sync(
        self, nodes: Sequence[NodeRef], disks: list[NodeDisk], *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[DrbdSyncProgress]]:
        """Whether the disks finished resyncing, and the lowest percentage."""
        return await self._multi("drbd_wait_sync", nodes, disks, timeout=rpc_timeout)

    async def drbd_needs_activation(
        self, node: NodeRef, disks: list[NodeDisk], *, rpc_timeout: float | None = None
    ) -> NodeResult[list[str]]:
        """UUIDs of the disks that are missing, StandAlone or diskless."""
        return await self._single("drbd_needs_activation", node, disks, timeout=rpc_timeout)
