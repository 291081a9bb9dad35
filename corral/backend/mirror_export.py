"""Mirror disk RPC handlers: the secondary's export of its half, the primary's sync state.

The export's name is the disk's UUID; the served file is the disk's local half
(located by the mirror storage driver, so only files under the file storage
directory can be exported).
"""

from __future__ import annotations

import asyncio

from corral.backend.bundle_views import hypervisor_instance
from corral.backend.context import NodeContext
from corral.backend.handlers import handles
from corral.backend.services import disk_driver, hypervisor
from corral.errors import BlockDeviceError, HypervisorError
from corral.hypervisor.base import MirrorDiskStatus
from corral.hypervisor.kvm.driver import KvmHypervisor
from corral.objects.bundle import InstanceBundle
from corral.objects.instance import Disk, DiskTemplate
from corral.rpc.payloads import MirrorDiskSync, MirrorExport
from corral.storage.mirror import ExportState, export_status, start_export, stop_export


async def _local_half(ctx: NodeContext, disk: Disk) -> str:
    if disk.dev_type != DiskTemplate.MIRROR:
        raise BlockDeviceError(f"Disk {disk.uuid} has template {disk.dev_type}, not mirror")
    driver, ref = disk_driver(ctx, disk)
    info = await driver.find(ref)
    if info is None:
        raise BlockDeviceError(f"Mirror disk {disk.uuid}: local half {ref.logical_id[1]} "
                               "is missing")
    return info.path


@handles("mirror_export_start")
async def mirror_export_start(ctx: NodeContext, disk: Disk, address: str, port: int,
                              client: str) -> MirrorExport:
    path = await _local_half(ctx, disk)
    record = await start_export(ctx.layout, ctx.runner, disk.uuid, path, address, port,
                                client)
    return MirrorExport(name=record.name, running=True, uri=record.uri, path=record.path,
                        client=record.client, pid=record.pid)


@handles("mirror_export_stop")
async def mirror_export_stop(ctx: NodeContext, disk: Disk) -> None:
    await asyncio.to_thread(stop_export, ctx.layout, disk.uuid)


@handles("mirror_export_status")
async def mirror_export_status(ctx: NodeContext, disk: Disk) -> MirrorExport:
    state, record = await asyncio.to_thread(export_status, ctx.layout, disk.uuid)
    if record is None or state != ExportState.RUNNING:
        return MirrorExport(name=disk.uuid, running=False)
    return MirrorExport(name=record.name, running=True, uri=record.uri, path=record.path,
                        client=record.client, pid=record.pid)


def _kvm(ctx: NodeContext, bundle: InstanceBundle) -> KvmHypervisor:
    driver = hypervisor(ctx, bundle.instance.hypervisor)
    if not isinstance(driver, KvmHypervisor):
        raise HypervisorError(f"instance {bundle.name}: mirror disks need the kvm "
                              f"hypervisor, not {bundle.instance.hypervisor}")
    return driver


def _sync(status: MirrorDiskStatus) -> MirrorDiskSync:
    return MirrorDiskSync(index=status.index, state=status.state.value, done=status.done,
                          total=status.total, error=status.error)


@handles("instance_mirror_status")
async def instance_mirror_status(ctx: NodeContext, instance: InstanceBundle
                                 ) -> list[MirrorDiskSync]:
    return [_sync(s) for s in await _kvm(ctx, instance).mirror_status(instance.name)]


@handles("instance_mirror_resync")
async def instance_mirror_resync(ctx: NodeContext, instance: InstanceBundle, disks: list[int],
                                 full: bool) -> None:
    spec = hypervisor_instance(instance)  # refuses a malformed bundle before touching QEMU
    await _kvm(ctx, instance).mirror_resync(instance.name, disks, full=full, given=spec)
