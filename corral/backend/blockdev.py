"""Block device RPC handlers: create, remove, assemble, shut down, grow, wipe, find."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any, TypeVar

from corral.backend.context import NodeContext
from corral.backend.handlers import handles
from corral.backend.services import node_disk_driver, storage_settings
from corral.errors import BlockDeviceError
from corral.objects.instance import Disk
from corral.rpc.payloads import (
    UNSET,
    AssembledDevice,
    DeviceState,
    DeviceStatus,
    DiskDimensions,
)
from corral.storage.base import DeviceInfo, DiskCreateSpec, DiskFormat
from corral.storage.symlinks import link_instance_disk
from corral.storage.wipe import wipe_device


def disk_index(disk: Disk) -> int:
    """The index in ``disk/<n>`` (Ganeti's iv_name), 0 when absent."""
    _, _, number = disk.iv_name.partition("/")
    return int(number) if number.isdigit() else 0


StateT = TypeVar("StateT", bound=DeviceState)


def device_state(info: DeviceInfo, kind: type[StateT], **extra: Any) -> StateT:
    """The wire view of a located device as ``kind`` (a ``DeviceState`` or a payload that
    extends it with ``extra`` fields)."""
    return kind(
        logical_id=list(info.logical_id),
        path=info.path,
        size=info.size_mib,
        active=info.active,
        uri=info.uri,
        **extra,
    )


@handles("blockdev_create")
async def blockdev_create(
    ctx: NodeContext,
    bdev: Disk,
    size: int,
    owner: str,
    on_primary: bool,
    info: str,
    excl_stor: bool,
) -> DeviceState:
    driver, ref = node_disk_driver(ctx, bdev)
    spec = DiskCreateSpec(
        uuid=bdev.uuid,
        instance=owner,
        index=disk_index(bdev),
        size_mib=size,
        template=bdev.dev_type,
        logical_id=tuple(str(p) for p in bdev.logical_id),
        params=dict(bdev.params),
        mode=bdev.mode,
        fmt=DiskFormat(bdev.params.get("format", DiskFormat.RAW)),
        children=ref.children,
        link=ref.link,
    )
    created = await driver.create(spec)
    if on_primary:
        await driver.open(spec.ref(created.logical_id), force=True)
    return device_state(created, DeviceState)


@handles("blockdev_remove")
async def blockdev_remove(ctx: NodeContext, bdev: Disk) -> None:
    driver, ref = node_disk_driver(ctx, bdev)
    await driver.remove(ref)


@handles("blockdev_assemble")
async def blockdev_assemble(
    ctx: NodeContext, disk: Disk, owner: str, on_primary: bool, idx: int
) -> AssembledDevice:
    driver, ref = node_disk_driver(ctx, disk)
    info = await driver.assemble(ref)
    if on_primary:
        await driver.open(ref)
    link = str(link_instance_disk(ctx.layout, owner, idx, info.path)) if info.path else UNSET
    return device_state(info, AssembledDevice, link=link)


@handles("blockdev_shutdown")
async def blockdev_shutdown(ctx: NodeContext, disk: Disk) -> None:
    driver, ref = node_disk_driver(ctx, disk)
    await driver.shutdown(ref)


@handles("blockdev_grow")
async def blockdev_grow(
    ctx: NodeContext,
    cf_bdev: Disk,
    amount: int,
    dryrun: bool,
    backingstore: bool,
    excl_stor: bool,
) -> None:
    driver, ref = node_disk_driver(ctx, cf_bdev)
    if not driver.growable:
        raise BlockDeviceError(f"Disks of template {cf_bdev.dev_type} cannot be grown")
    await driver.grow_layer(ref, amount, dryrun, backingstore)


@handles("blockdev_wipe")
async def blockdev_wipe(ctx: NodeContext, disk: Disk, offset: int, size: int) -> None:
    driver, ref = node_disk_driver(ctx, disk)
    if driver.zero_on_create:
        return
    info = await driver.assemble(ref)
    await asyncio.to_thread(wipe_device, info.path, offset, size)


@handles("blockdev_find")
async def blockdev_find(ctx: NodeContext, disk: Disk) -> DeviceStatus | None:
    driver, ref = node_disk_driver(ctx, disk)
    info = await driver.find(ref)
    if info is None:
        return None
    status = await driver.sync_status(ref)
    return device_state(
        info,
        DeviceStatus,
        is_degraded=status.is_degraded,
        sync_percent=status.sync_percent,
        estimated_time=status.estimated_time,
        ldisk_status=int(status.ldisk_status),
    )


@handles("blockdev_getdimensions")
async def blockdev_getdimensions(
    ctx: NodeContext, disks: list[Disk]
) -> list[DiskDimensions | None]:
    answers: list[DiskDimensions | None] = []
    for disk in disks:
        driver, ref = node_disk_driver(ctx, disk)
        try:
            size = await driver.get_size(ref)
        except BlockDeviceError:
            answers.append(None)
            continue
        answers.append(DiskDimensions(size * 1024 * 1024, disk.spindles or 1))
    return answers


def _storage_path(ctx: NodeContext, cluster_path: str) -> Path:
    """A file storage directory below one of the cluster's storage roots, on this node."""
    settings = storage_settings(ctx)
    roots = [r for r in (settings.file_storage_dir, settings.shared_file_storage_dir) if r]
    host = ctx.layout.root / cluster_path.lstrip("/")
    for root in roots:
        base = (ctx.layout.root / root.lstrip("/")).resolve()
        if host.resolve().is_relative_to(base) and host.resolve() != base:
            return host
    raise BlockDeviceError(f"{cluster_path} is not below a file storage directory")


@handles("file_storage_dir_rename")
async def file_storage_dir_rename(
    ctx: NodeContext, old_file_storage_dir: str, new_file_storage_dir: str
) -> None:
    old = _storage_path(ctx, old_file_storage_dir)
    new = _storage_path(ctx, new_file_storage_dir)
    if new.exists():
        raise BlockDeviceError(
            f"Cannot rename {old_file_storage_dir}: {new_file_storage_dir} exists"
        )
    if old.exists():
        os.rename(old, new)


@handles("file_storage_dir_remove")
async def file_storage_dir_remove(ctx: NodeContext, file_storage_dir: str) -> None:
    path = _storage_path(ctx, file_storage_dir)
    if not path.exists():
        return
    if any(path.iterdir()):
        raise BlockDeviceError(f"File storage directory {file_storage_dir} is not empty")
    shutil.rmtree(path)
