"""Block devices, file storage directories, volumes and storage units."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corral.rpc.methods.base import NodeRef, RpcMethods
from corral.rpc.payloads import (
    AssembledDevice,
    DeviceRename,
    DeviceState,
    DeviceStatus,
    DiskDimensions,
    NodeDisk,
    StorageValue,
    Volume,
)
from corral.rpc.results import NodeResult


class StorageCalls(RpcMethods):
    """Block devices, file storage directories, volumes and storage units."""

    async def blockdev_create(
        self,
        node: NodeRef,
        bdev: NodeDisk,
        size: int,
        owner: str,
        on_primary: bool,
        info: str,
        excl_stor: bool,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[DeviceState]:
        """Create a disk at its logical id."""
        return await self._single(
            "blockdev_create", node, bdev, size, owner, on_primary, info, excl_stor,
            timeout=rpc_timeout,
        )

    async def blockdev_remove(
        self,
        node: NodeRef,
        bdev: NodeDisk,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Destroy a disk (idempotent)."""
        return await self._single("blockdev_remove", node, bdev, timeout=rpc_timeout)

    async def blockdev_assemble(
        self,
        node: NodeRef,
        disk: NodeDisk,
        owner: str,
        on_primary: bool,
        idx: int,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[AssembledDevice]:
        """Activate a disk; returns its path, uri and link."""
        return await self._single(
            "blockdev_assemble", node, disk, owner, on_primary, idx, timeout=rpc_timeout
        )

    async def blockdev_shutdown(
        self,
        node: NodeRef,
        disk: NodeDisk,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Deactivate a disk."""
        return await self._single("blockdev_shutdown", node, disk, timeout=rpc_timeout)

    async def blockdev_grow(
        self,
        node: NodeRef,
        cf_bdev: NodeDisk,
        amount: int,
        dryrun: bool,
        backingstore: bool,
        excl_stor: bool,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Grow a disk by amount MiB."""
        return await self._single(
            "blockdev_grow", node, cf_bdev, amount, dryrun, backingstore, excl_stor,
            timeout=rpc_timeout,
        )

    async def blockdev_wipe(
        self,
        node: NodeRef,
        disk: NodeDisk,
        offset: int,
        size: int,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Zero size MiB of a disk from offset MiB."""
        return await self._single("blockdev_wipe", node, disk, offset, size, timeout=rpc_timeout)

    async def blockdev_find(
        self,
        node: NodeRef,
        disk: NodeDisk,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[DeviceStatus | None]:
        """Locate a disk; its state or null."""
        return await self._single("blockdev_find", node, disk, timeout=rpc_timeout)

    async def blockdev_rename(
        self,
        node: NodeRef,
        devlist: list[DeviceRename],
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Rename block devices (logical volumes): ``[disk, new logical id]`` each."""
        return await self._single("blockdev_rename", node, devlist, timeout=rpc_timeout)

    async def blockdev_getdimensions(
        self,
        node: NodeRef,
        disks: list[NodeDisk],
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[list[DiskDimensions | None]]:
        """[size in bytes, spindles] per disk, or null."""
        return await self._single("blockdev_getdimensions", node, disks, timeout=rpc_timeout)

    async def file_storage_dir_rename(
        self,
        node: NodeRef,
        old_file_storage_dir: str,
        new_file_storage_dir: str,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Rename an instance's file storage directory."""
        return await self._single(
            "file_storage_dir_rename", node, old_file_storage_dir, new_file_storage_dir,
            timeout=rpc_timeout,
        )

    async def file_storage_dir_remove(
        self,
        node: NodeRef,
        file_storage_dir: str,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Remove an empty file storage directory."""
        return await self._single(
            "file_storage_dir_remove", node, file_storage_dir, timeout=rpc_timeout
        )

    async def node_volumes(
        self,
        nodes: Sequence[NodeRef],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[list[Volume]]]:
        """Every LV of the node: name, vg, size (MiB), first PV."""
        return await self._multi("node_volumes", nodes, timeout=rpc_timeout)

    async def storage_list(
        self,
        nodes: Sequence[NodeRef],
        su_name: str,
        su_args: list[Any],
        name: str | None,
        fields: list[str],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[list[list[StorageValue]]]]:
        """Rows of the chosen fields per storage unit of a type."""
        return await self._multi(
            "storage_list", nodes, su_name, su_args, name, fields, timeout=rpc_timeout
        )
