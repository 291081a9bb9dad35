"""The node's drivers (hypervisors, storage), built once per daemon from its layout."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from corral.backend.context import NodeContext
from corral.backend.ssconf import read_ssconf
from corral.hypervisor.base import Hypervisor
from corral.hypervisor.registry import get_driver
from corral.objects.instance import Disk, DiskTemplate
from corral.rpc.payloads import NodeDisk
from corral.storage.base import BlockDevice, DiskRef, MirrorLink
from corral.storage.drbd.driver import read_proc_drbd
from corral.storage.registry import StorageSettings, make_driver

XEN_KINDS = frozenset({"xen-pvm", "xen-hvm"})


def hypervisor(ctx: NodeContext, kind: str) -> Hypervisor:
    """The driver for hypervisor ``kind``, created on first use."""
    drivers = ctx.services.hypervisors
    driver = drivers.get(kind)
    if driver is None:
        runner = ctx.runner
        if kind in XEN_KINDS and ctx.services.xen_runner is not None:
            runner = ctx.services.xen_runner
        driver = drivers[kind] = get_driver(kind, ctx.layout, runner, ctx.clock)
    return driver


def storage_settings(ctx: NodeContext) -> StorageSettings:
    """Storage paths from the node's ssconf (the cluster settings every node holds)."""
    services = ctx.services
    return StorageSettings(
        file_storage_dir=read_ssconf(ctx.layout, "file_storage_dir") or "",
        shared_file_storage_dir=read_ssconf(ctx.layout, "shared_file_storage_dir") or "",
        dev_dir=services.storage_dev_dir or Path("/dev"),
        lvm_runner=services.lvm_runner,
        drbd_dev_dir=services.drbd_dev_dir or Path("/dev"),
        drbd_proc_reader=services.drbd_proc_reader or read_proc_drbd,
    )


def storage(ctx: NodeContext, template: DiskTemplate) -> BlockDevice:
    """The driver for ``template`` (LVM and DRBD tools may be routed to configured runners)."""
    runner = ctx.runner
    if template is DiskTemplate.PLAIN and ctx.services.lvm_runner is not None:
        runner = ctx.services.lvm_runner
    if template is DiskTemplate.DRBD and ctx.services.drbd_runner is not None:
        runner = ctx.services.drbd_runner
    return make_driver(template, ctx.layout, runner, storage_settings(ctx))


def disk_driver(ctx: NodeContext, disk: Disk) -> tuple[BlockDevice, DiskRef]:
    return storage(ctx, disk.dev_type), DiskRef.from_disk(disk)


def node_disk_ref(disk: Disk) -> DiskRef:
    """The driver's reference to a disk; a ``NodeDisk`` brings its children and DRBD side."""
    ref = DiskRef.from_disk(disk)
    if not isinstance(disk, NodeDisk):
        return ref
    link = disk.dynamic_params
    return dataclasses.replace(
        ref,
        children=tuple(node_disk_ref(child) for child in disk.child_disks),
        link=None if link is None else MirrorLink(
            local_ip=link.local_ip, remote_ip=link.remote_ip,
            local_minor=link.local_minor, remote_minor=link.remote_minor),
    )


def node_disk_driver(ctx: NodeContext, disk: Disk) -> tuple[BlockDevice, DiskRef]:
    """The driver and reference of a disk sent to this node (a ``NodeDisk`` or a plain one)."""
    return storage(ctx, disk.dev_type), node_disk_ref(disk)


def known_hypervisors(ctx: NodeContext, names: list[str]) -> list[tuple[str, Hypervisor]]:
    return [(name, hypervisor(ctx, name)) for name in names]


def plain(value: Any) -> Any:
    """Values for the wire: enums to their strings."""
    return getattr(value, "value", value)
