"""From what the master sends (an InstanceBundle) to what drivers and OS scripts take.

Only :func:`assemble_disks` (and :func:`assembled_instance`, which calls it) acts on
the node; every other function here is a pure view of the bundle.
"""

from __future__ import annotations

from corral.backend.blockdev import device_state
from corral.backend.context import NodeContext
from corral.backend.services import node_disk_driver
from corral.hypervisor.base import DiskSpec, InstanceSpec, NicSpec
from corral.objects.bundle import InstanceBundle
from corral.objects.instance import Disk, DiskTemplate, NicMode
from corral.osdef.env import OsDisk, OsInstanceData, OsNic, disk_backend_type
from corral.storage.base import DeviceInfo
from corral.storage.symlinks import link_instance_disk


async def assemble_disks(
    ctx: NodeContext, bundle: InstanceBundle, *, open_disks: bool = True,
) -> list[DeviceInfo]:
    """Activate every disk of the instance, open it (``open_disks``: this node runs the
    instance; a drbd disk becomes primary here) and link it under the node's disk
    directory."""
    devices = []
    for index, disk in enumerate(bundle.disks):
        driver, ref = node_disk_driver(ctx, disk)
        info = await driver.assemble(ref)
        if open_disks:
            await driver.open(ref)
        if info.path:
            link_instance_disk(ctx.layout, bundle.name, index, info.path)
        devices.append(info)
    return devices


def disk_specs(bundle: InstanceBundle, devices: list[DeviceInfo]) -> tuple[DiskSpec, ...]:
    return tuple(
        DiskSpec(
            path=info.path,
            uri=info.uri or "",
            mode=disk.mode,
            size_mib=disk.size,
            dev_type=disk.dev_type,
            name=disk.name,
            uuid=disk.uuid,
        )
        for disk, info in zip(bundle.disks, devices, strict=True)
    )


def nic_specs(bundle: InstanceBundle) -> tuple[NicSpec, ...]:
    specs = []
    for nic, params in zip(bundle.instance.nics, _nicparams(bundle), strict=True):
        specs.append(
            NicSpec(
                mac=nic.mac,
                ip=nic.ip,
                mode=NicMode(str(params.get("mode", NicMode.BRIDGED))),
                link=str(params.get("link", "")),
                vlan=str(params.get("vlan", "")),
                name=nic.name,
                uuid=nic.uuid,
            )
        )
    return tuple(specs)


def _nicparams(bundle: InstanceBundle) -> list[dict[str, object]]:
    given = list(bundle.nicparams)
    return given + [{} for _ in range(len(bundle.instance.nics) - len(given))]


def _mirror_uri(disk: Disk) -> str | None:
    """A mirror disk's secondary export (the last part of its logical id), else None."""
    if disk.dev_type == DiskTemplate.MIRROR and len(disk.logical_id) == 3:
        return str(disk.logical_id[2])
    return None


def hypervisor_instance(
    bundle: InstanceBundle, devices: list[DeviceInfo] | None = None
) -> InstanceSpec:
    """The hypervisor's view of the instance; without ``devices``, disks have no path
    (enough for what does not touch the disks, such as the console command)."""
    if devices is None:
        devices = [
            DeviceInfo(logical_id=tuple(d.logical_id), path="", size_mib=d.size, active=False,
                       uri=_mirror_uri(d))
            for d in bundle.disks
        ]
    return InstanceSpec.from_objects(
        bundle.instance,
        disk_specs(bundle, devices),
        nic_specs(bundle),
        bundle.hvparams,
        bundle.beparams,
        primary_node=bundle.primary_node_name,
    )


async def assembled_instance(
    ctx: NodeContext, bundle: InstanceBundle, *, open_disks: bool = True,
) -> InstanceSpec:
    """Assemble the instance's disks, then its hypervisor view (for start and reboot;
    a migration target passes ``open_disks=False``)."""
    return hypervisor_instance(bundle, await assemble_disks(ctx, bundle, open_disks=open_disks))


def os_instance(bundle: InstanceBundle) -> OsInstanceData:
    inst = bundle.instance
    return OsInstanceData(
        name=inst.name,
        os=inst.os,
        uuid=inst.uuid,
        ctime=inst.ctime,
        mtime=inst.mtime,
        primary_node=bundle.primary_node_name,
        secondary_nodes=bundle.secondary_node_names,
    )


def os_disks(bundle: InstanceBundle, devices: list[DeviceInfo]) -> list[OsDisk]:
    return [
        OsDisk(
            uuid=disk.uuid,
            size=disk.size,
            mode=disk.mode,
            path=info.path or None,
            uri=info.uri,
            name=disk.name or None,
            backend_type=disk_backend_type(disk.dev_type, tuple(disk.logical_id)),
        )
        for disk, info in zip(bundle.disks, devices, strict=True)
    ]


def os_nics(bundle: InstanceBundle) -> list[OsNic]:
    return [
        OsNic(
            mac=spec.mac,
            uuid=spec.uuid,
            mode=spec.mode,
            link=spec.link,
            name=spec.name or None,
            ip=spec.ip,
        )
        for spec in nic_specs(bundle)
    ]


__all__ = [
    "assemble_disks",
    "assembled_instance",
    "device_state",
    "hypervisor_instance",
    "os_disks",
    "os_instance",
    "os_nics",
]
