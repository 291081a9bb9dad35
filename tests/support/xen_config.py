"""Xen domain specs for config-file tests: every hvparam at a value other than its default."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from corral.hypervisor.base import DiskSpec, InstanceSpec, NicSpec
from corral.hypervisor.params import HvKind, defaults
from corral.hypervisor.xen.spec import XenDomainSpec
from corral.objects.instance import DiskMode, DiskTemplate, NicMode

UUID = "6a8b7c54-0b3f-4a7e-9c1d-2f3e4d5c6b7a"

PV_CHANGED: Mapping[str, Any] = {
    "use_bootloader": False,
    "bootloader_path": "/usr/lib/xen-4.17/bin/pygrub",
    "bootloader_args": "--entry=1 -q",
    "kernel_path": "/boot/vmlinuz-6.1.0-xen",
    "initrd_path": "/boot/initrd.img-6.1.0-xen",
    "root_path": "/dev/xvda2",
    "kernel_args": "console=hvc0 quiet",
    "migration_port": 8003,
    "migration_mode": "non-live",
    "blockdev_prefix": "xvd",
    "reboot_behavior": "exit",
    "cpu_mask": "1:2-3",
    "cpu_cap": 50,
    "cpu_weight": 512,
    "vif_script": "/etc/xen/scripts/vif-corral",
    "cpuid": "host,tm=0,sse3=0",
    "soundhw": "ac97",
    "xen_cmd": "xm",
}
"""Every xen-pvm hvparam at a non-default value (use_bootloader aside: see below)."""

HVM_CHANGED: Mapping[str, Any] = {
    "acpi": False,
    "boot_order": "dc",
    "cdrom_image_path": "/srv/iso/debian-12.iso",
    "disk_type": "ioemu",
    "nic_type": "e1000",
    "pae": False,
    "vnc_bind_address": "127.0.0.1",
    "kernel_path": "/usr/lib/xen-4.17/boot/hvmloader",
    "device_model": "/usr/lib/xen-4.17/bin/qemu-system-i386",
    "vnc_password_file": "/etc/corral/vnc-password",
    "migration_port": 8003,
    "migration_mode": "live",
    "use_localtime": True,
    "blockdev_prefix": "sd",
    "pci_pass": "0000:00:1f.0;0000:00:1f.3",
    "reboot_behavior": "exit",
    "cpu_mask": "0-1",
    "cpu_cap": 25,
    "cpu_weight": 128,
    "vif_type": "vif",
    "vif_script": "/etc/xen/scripts/vif-corral",
    "viridian": True,
    "cpuid": "['1:ecx=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx1', '0x80000001:edx=0xxxxxxxxxxx']",
    "soundhw": "hda",
    "xen_cmd": "xm",
}
"""Every xen-hvm hvparam at a non-default value."""

DISKS = (
    DiskSpec(path="/dev/xenvg/0f1e2d3c.disk0", mode=DiskMode.RW, dev_type=DiskTemplate.PLAIN),
    DiskSpec(path="/srv/corral/file-storage/inst1/disk1", mode=DiskMode.RO,
             dev_type=DiskTemplate.FILE),
)

NICS = (
    NicSpec(mac="aa:00:00:35:d6:9e", ip="192.0.2.10", mode=NicMode.BRIDGED, link="xen-br0"),
    NicSpec(mac="aa:00:00:35:d6:9f", ip="198.51.100.7", mode=NicMode.ROUTED, link="100"),
    NicSpec(mac="AA:00:00:35:D6:A0", mode=NicMode.OVS, link="ovs0", vlan=".100"),
)


def domain_spec(kind: HvKind, hvparams: Mapping[str, Any], *, vcpus: int = 2,
                disks: tuple[DiskSpec, ...] = DISKS, nics: tuple[NicSpec, ...] = NICS,
                network_port: int | None = 11002, name: str = "inst1.example.com",
                uuid: str = UUID) -> XenDomainSpec:
    """A spec as the driver builds it: 512 MiB at start, 1024 MiB maxmem."""
    instance = InstanceSpec(name=name, uuid=uuid, hvparams={**defaults(kind), **hvparams},
                            memory_mib=1024, vcpus=vcpus, disks=disks, nics=nics,
                            os="debootstrap+default", primary_node="node1.example.com",
                            hypervisor=kind.value, network_port=network_port)
    return XenDomainSpec.from_instance(instance, startup_memory=512)
