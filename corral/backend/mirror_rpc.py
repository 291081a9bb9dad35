"""Mirrored disk (DRBD) RPC handlers: mirror status, network, roles, children, resync,
and the renames of their volumes.

Disks arrive as ``NodeDisk`` (children and this node's DRBD side included). The
waits follow Ganeti's: ``drbd_attach_net`` retries until every disk is connected
(both sides UpToDate in dual-primary mode) for up to ``ATTACH_TIMEOUT`` seconds,
re-attaching a disk that fell back to StandAlone; ``drbd_wait_sync`` gives each
disk up to ``SYNC_WAIT`` seconds to be connected or resyncing.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Awaitable, Callable

from corral.backend.context import NodeContext
from corral.backend.handlers import handles
from corral.backend.services import node_disk_driver
from corral.errors import BlockDeviceError
from corral.objects.instance import DiskTemplate
from corral.rpc.payloads import (
    DeviceRename,
    DrbdSyncProgress,
    MirrorStatus,
    MirrorStatusResult,
    NodeDisk,
    PauseResult,
)
from corral.storage.base import BlockDevice, DiskRef
from corral.storage.drbd.driver import DrbdDriver, parse_id
from corral.storage.drbd.parse import MinorStatus
from corral.storage.lvm.driver import LvmDriver
from corral.storage.symlinks import instance_disk_link, link_instance_disk

DRBD_MAJOR = 147
ATTACH_TIMEOUT = 120.0
SYNC_WAIT = 15.0
SYNC_POLL = 1.0


async def _found(ctx: NodeContext, disk: NodeDisk) -> tuple[BlockDevice, DiskRef, str]:
    """The driver, reference and path of an existing device (Ganeti's _RecursiveFindBD).

    Raises:
        BlockDeviceError: the device cannot be found.
    """
    driver, ref = node_disk_driver(ctx, disk)
    info = await driver.find(ref)
    if info is None or not info.active:
        raise BlockDeviceError(f"Can't find device {disk.iv_name or disk.uuid}")
    return driver, ref, info.path


def _drbd(ctx: NodeContext, disk: NodeDisk) -> tuple[DrbdDriver, DiskRef]:
    driver, ref = node_disk_driver(ctx, disk)
    if not isinstance(driver, DrbdDriver):
        raise BlockDeviceError(f"Disk {disk.iv_name or disk.uuid} is not a drbd disk")
    return driver, ref


async def _mirror_status(ctx: NodeContext, disk: NodeDisk) -> MirrorStatus:
    driver, ref, path = await _found(ctx, disk)
    status = await driver.sync_status(ref)
    major: int | None
    minor: int | None
    if disk.dev_type is DiskTemplate.DRBD:
        major, minor = DRBD_MAJOR, parse_id(ref).minor
    else:
        major, minor = await asyncio.to_thread(_device_numbers, path)
    return MirrorStatus(dev_path=path, major=major, minor=minor,
                        sync_percent=status.sync_percent, estimated_time=status.estimated_time,
                        is_degraded=status.is_degraded, ldisk_status=int(status.ldisk_status))


def _device_numbers(path: str) -> tuple[int | None, int | None]:
    try:
        info = os.stat(path)
    except OSError:
        return None, None
    if not stat.S_ISBLK(info.st_mode):
        return None, None
    return os.major(info.st_rdev), os.minor(info.st_rdev)


@handles("blockdev_getmirrorstatus")
async def blockdev_getmirrorstatus(ctx: NodeContext, disks: list[NodeDisk]) -> list[MirrorStatus]:
    return [await _mirror_status(ctx, disk) for disk in disks]


@handles("blockdev_getmirrorstatus_multi")
async def blockdev_getmirrorstatus_multi(
    ctx: NodeContext, node_disks: list[NodeDisk]
) -> list[MirrorStatusResult]:
    answers = []
    for disk in node_disks:
        try:
            answers.append(MirrorStatusResult(True, await _mirror_status(ctx, disk)))
        except BlockDeviceError as err:
            answers.append(MirrorStatusResult(False, str(err)))
    return answers


@handles("blockdev_addchildren")
async def blockdev_addchildren(ctx: NodeContext, bdev: NodeDisk, ndevs: list[NodeDisk]) -> None:
    driver, ref, _ = await _found(ctx, bdev)
    children = [node_disk_driver(ctx, child)[1] for child in ndevs]
    await driver.add_children(ref, children)


@handles("blockdev_removechildren")
async def blockdev_removechildren(
    ctx: NodeContext, bdev: NodeDisk, ndevs: list[NodeDisk]
) -> None:
    driver, ref, _ = await _found(ctx, bdev)
    children = [node_disk_driver(ctx, child)[1] for child in ndevs]
    await driver.remove_children(ref, children)


@handles("blockdev_rename")
async def blockdev_rename(ctx: NodeContext, devlist: list[DeviceRename]) -> None:
    """Rename each volume (replace-disks swaps a drbd disk's volumes under their names);
    the failures are reported together, after trying every rename."""
    errors = []
    for entry in devlist:
        driver, ref = node_disk_driver(ctx, entry.disk)
        name = "/".join(map(str, entry.disk.logical_id))
        if not isinstance(driver, LvmDriver):
            errors.append(f"Rename is not supported for {entry.disk.dev_type.value} storage")
        elif await driver.find(ref) is None:
            errors.append(f"Can't find device {name} in rename")
        else:
            try:
                await driver.rename(ref, entry.unique_id)
            except BlockDeviceError as err:
                errors.append(f"Can't rename device '{name}' to"
                              f" '{'/'.join(entry.unique_id)}': {err}")
    if errors:
        raise BlockDeviceError("; ".join(errors))


@handles("blockdev_pause_resume_sync")
async def blockdev_pause_resume_sync(
    ctx: NodeContext, disks: list[NodeDisk], pause: bool
) -> list[PauseResult]:
    answers = []
    for disk in disks:
        name = disk.iv_name or disk.uuid
        try:
            driver, ref, _ = await _found(ctx, disk)
        except BlockDeviceError:
            answers.append(PauseResult(False, f"Cannot change sync for device {name}: "
                                              "device not found"))
            continue
        done = await driver.pause_resume_sync(ref, pause)
        answers.append(PauseResult(True, None) if done else PauseResult(
            False, f"{'Pause' if pause else 'Resume'} for device {name} failed"))
    return answers


async def _each(ctx: NodeContext, disks: list[NodeDisk], what: str,
                act: Callable[[int, BlockDevice, DiskRef, str], Awaitable[None]]) -> None:
    """Find every disk first, then act on each; the failures are reported together."""
    found = [await _found(ctx, disk) for disk in disks]
    errors = []
    for index, (driver, ref, path) in enumerate(found):
        try:
            await act(index, driver, ref, path)
        except BlockDeviceError as err:
            errors.append(str(err))
    if errors:
        raise BlockDeviceError(f"Can't {what} devices: {','.join(errors)}")


@handles("blockdev_close")
async def blockdev_close(ctx: NodeContext, instance_name: str, disks: list[NodeDisk]) -> None:
    async def close(index: int, driver: BlockDevice, ref: DiskRef, path: str) -> None:
        await driver.close(ref)

    await _each(ctx, disks, "close", close)
    if instance_name:
        for index in range(len(disks)):
            instance_disk_link(ctx.layout, instance_name, index).unlink(missing_ok=True)


@handles("blockdev_open")
async def blockdev_open(
    ctx: NodeContext, instance_name: str, disks: list[NodeDisk], exclusive: bool
) -> None:
    async def open_(index: int, driver: BlockDevice, ref: DiskRef, path: str) -> None:
        await driver.open(ref)
        link_instance_disk(ctx.layout, instance_name, index, path)

    await _each(ctx, disks, "open", open_)


@handles("drbd_disconnect_net")
async def drbd_disconnect_net(ctx: NodeContext, disks: list[NodeDisk]) -> None:
    devices = [_drbd(ctx, disk) for disk in disks]
    for driver, ref in devices:
        try:
            await driver.disconnect_net(ref)
        except BlockDeviceError as err:
            raise BlockDeviceError("Can't change network configuration to standalone mode: "
                                   f"{err}") from err


@handles("drbd_attach_net")
async def drbd_attach_net(ctx: NodeContext, disks: list[NodeDisk], multimaster: bool) -> None:
    devices = [_drbd(ctx, disk) for disk in disks]
    for driver, ref in devices:
        await _attach(driver, ref, multimaster)
    delay, deadline = 0.1, asyncio.get_running_loop().time() + ATTACH_TIMEOUT
    while not await _all_connected(devices, multimaster):
        if asyncio.get_running_loop().time() > deadline:
            raise BlockDeviceError("Timeout in disk reconnecting")
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 5.0)


async def _attach(driver: DrbdDriver, ref: DiskRef, multimaster: bool) -> None:
    try:
        await driver.attach_net(ref, multimaster)
    except BlockDeviceError as err:
        raise BlockDeviceError(f"Can't change network configuration: {err}") from err


async def _all_connected(devices: list[tuple[DrbdDriver, DiskRef]], multimaster: bool) -> bool:
    done = True
    for driver, ref in devices:
        status = await _status(driver, ref)
        if multimaster:
            done = done and (status.is_connected and status.is_disk_uptodate
                             and status.peer_disk_uptodate)
        else:
            done = done and (status.is_connected or status.is_in_resync)
        if status.is_standalone:
            await _attach(driver, ref, multimaster)
    return done


async def _status(driver: DrbdDriver, ref: DiskRef) -> MinorStatus:
    status = await driver.minor_status(ref)
    if status is None:
        raise BlockDeviceError(f"Can't find device {ref.uuid}")
    return status


@handles("drbd_wait_sync")
async def drbd_wait_sync(ctx: NodeContext, disks: list[NodeDisk]) -> DrbdSyncProgress:
    devices = [_drbd(ctx, disk) for disk in disks]
    all_done, min_resync = True, 100.0
    for driver, ref in devices:
        status = await _status(driver, ref)
        waited = 0.0
        while not (status.is_connected or status.is_in_resync) and waited < SYNC_WAIT:
            await asyncio.sleep(SYNC_POLL)
            waited += SYNC_POLL
            status = await _status(driver, ref)
        if not (status.is_connected or status.is_in_resync):
            raise BlockDeviceError(f"DRBD device {ref.uuid} is not in sync: {status}")
        all_done = all_done and not status.is_in_resync
        if status.sync_percent is not None:
            min_resync = min(min_resync, status.sync_percent)
    return DrbdSyncProgress(all_done, min_resync)


@handles("drbd_needs_activation")
async def drbd_needs_activation(ctx: NodeContext, disks: list[NodeDisk]) -> list[str]:
    faulty = []
    for disk in disks:
        driver, ref = _drbd(ctx, disk)
        status = await driver.minor_status(ref)
        if status is None or status.is_standalone or status.is_diskless:
            faulty.append(disk.uuid)
    return faulty
