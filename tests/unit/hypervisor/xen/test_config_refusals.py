"""What the domain config writer and reader refuse, and the messages that name the cause."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from corral.errors import HypervisorError, ParameterError
from corral.hypervisor.base import DiskSpec, NicSpec
from corral.hypervisor.params import HvKind, check_syntax
from corral.hypervisor.xen.config import check_files, parse_domain_config, render_domain_config
from corral.hypervisor.xen.config_values import XlSyntaxError
from corral.hypervisor.xen.spec import XenDisk
from corral.objects.instance import NicMode
from tests.support.xen_config import domain_spec

PV, HVM = HvKind.XEN_PVM, HvKind.XEN_HVM

HVPARAM_REFUSALS: list[tuple[HvKind, dict[str, Any], str]] = [
    (PV, {"cpu_mask": "0-x"}, "hypervisor parameter 'cpu_mask' must be 'all', a CPU list"),
    (PV, {"cpu_mask": "3-1"}, "hypervisor parameter 'cpu_mask'"),
    (PV, {"cpu_mask": "1:2:3"}, "'cpu_mask' has 3 per-vCPU masks but the instance has 2 vCPUs"),
    (PV, {"cpu_weight": 0}, "hypervisor parameter 'cpu_weight' must be between 1 and 65535"),
    (PV, {"cpu_cap": -5}, "hypervisor parameter 'cpu_cap' must be >= 0"),
    (PV, {"use_bootloader": True}, "'bootloader_path' is required when use_bootloader"),
    (PV, {"kernel_path": "boot/vmlinuz"}, "'kernel_path' must be an absolute normalized"),
    (PV, {"kernel_path": ""}, "hypervisor parameter 'kernel_path' is required"),
    (PV, {"blockdev_prefix": "s1"}, "'blockdev_prefix' must be lower-case letters"),
    (PV, {"reboot_behavior": "halt"}, "hypervisor parameter 'reboot_behavior' must be one of"),
    (PV, {"reboot_behavior": ""}, "hypervisor parameter 'reboot_behavior' is required"),
    (PV, {"xen_cmd": "xe"}, "hypervisor parameter 'xen_cmd' must be one of 'xl', 'xm'"),
    (PV, {"cpuid": "0:eax=1"}, "hypervisor parameter 'cpuid' must be a libxl string"),
    (PV, {"cpuid": "[1, 2]"}, "hypervisor parameter 'cpuid'"),
    (PV, {"kvm_path": "/usr/bin/kvm"}, "unknown hypervisor parameter 'kvm_path'"),
    (PV, {"kernel_args": "ro\ninit=/bin/sh"}, "'kernel_args' must be one line"),
    (HVM, {"vnc_bind_address": "::1"}, "'vnc_bind_address' must be an IPv4 address"),
    (HVM, {"vnc_bind_address": "vnc.example"}, "'vnc_bind_address' must be an IPv4"),
    (HVM, {"boot_order": "cdx"}, "'boot_order' must consist of the letters a, c, d and n"),
    (HVM, {"boot_order": ""}, "hypervisor parameter 'boot_order' is required"),
    (HVM, {"nic_type": "virtio"}, "hypervisor parameter 'nic_type' must be one of"),
    (HVM, {"disk_type": "scsi"}, "hypervisor parameter 'disk_type' must be one of"),
    (HVM, {"vif_type": "tap"}, "hypervisor parameter 'vif_type' must be one of"),
    (HVM, {"device_model": "qemu-dm"}, "'device_model' must be an absolute normalized path"),
    (HVM, {"pae": "maybe"}, "hypervisor parameter 'pae': expected a boolean"),
    (HVM, {"blockdev_prefix": "hd", "cdrom_image_path": "/srv/x.iso"},
     "'cdrom_image_path': the CD-ROM is hdc, which disk 2 already uses"),
    (HVM, {"cdrom_image_path": "/srv/a,b.iso"}, "'cdrom_image_path'"),
]


@pytest.mark.parametrize(("kind", "hvparams", "message"), HVPARAM_REFUSALS,
                         ids=[f"{k.value}-{'-'.join(h)}-{i}"
                              for i, (k, h, _) in enumerate(HVPARAM_REFUSALS)])
def test_bad_hvparams_are_refused_by_name(kind: HvKind, hvparams: dict[str, Any],
                                          message: str) -> None:
    disks = (*[DiskSpec(path=f"/dev/xenvg/d{i}") for i in range(3)],)
    spec = domain_spec(kind, hvparams, disks=disks)
    with pytest.raises(HypervisorError) as info:
        render_domain_config(kind, spec)
    assert message in str(info.value)


def _nic(**fields: Any) -> tuple[NicSpec, ...]:
    return (NicSpec(**{"mac": "aa:00:00:00:00:01", "link": "xen-br0", **fields}),)


DEVICE_REFUSALS: list[tuple[dict[str, Any], str]] = [
    ({"nics": _nic(mac="aa:00:00:00:01")}, "nic 0: invalid MAC address 'aa:00:00:00:01'"),
    ({"nics": _nic(ip="192.0.2.300")}, "nic 0: invalid IP address '192.0.2.300'"),
    ({"nics": _nic(link="")}, "nic 0: bridged mode needs a link (the bridge)"),
    ({"nics": _nic(mode=NicMode.OVS, vlan="100")}, "nic 0: invalid VLAN '100'"),
    ({"nics": _nic(link="br0, script=/tmp/evil")}, "nic 0: bridge 'br0, script=/tmp/evil'"),
    ({"disks": (DiskSpec(path="/srv/a,b"),)}, "disk 0: path '/srv/a,b' must be absolute"),
    ({"disks": (DiskSpec(path="relative/disk"),)}, "disk 0: path 'relative/disk'"),
    ({"network_port": 70000}, "VNC network port 70000 is not a TCP port"),
    ({"name": "two\nlines"}, "invalid instance name"),
    ({"uuid": "not-a-uuid"}, "invalid uuid 'not-a-uuid'"),
    ({"vcpus": 0}, "vcpus must be at least 1"),
]


@pytest.mark.parametrize(("spec_args", "message"), DEVICE_REFUSALS,
                         ids=[m.split(":")[0].split(" ")[0] + f"-{i}"
                              for i, (_, m) in enumerate(DEVICE_REFUSALS)])
def test_bad_devices_and_resources_are_refused(spec_args: dict[str, Any], message: str) -> None:
    spec = domain_spec(HVM, {}, **spec_args)
    with pytest.raises(HypervisorError) as info:
        render_domain_config(HVM, spec)
    assert message in str(info.value)


@pytest.mark.parametrize(("change", "message"), [
    ({"memory_mib": 0}, "memory must be at least 1 MiB"),
    ({"max_memory_mib": 256}, "maxmem (256 MiB) is below memory (512 MiB)"),
    ({"disks": (XenDisk(path="/dev/a", vdev="xvda", backend="nbd"),)},
     "disk 0: unknown backend 'nbd'"),
    ({"disks": (XenDisk(path="/dev/a", vdev="xvd1"),)}, "disk 0: guest device name 'xvd1'"),
    ({"disks": (XenDisk(path="/dev/a", vdev="xvda", access="rw"),)},
     "disk 0: access must be 'w' or 'r'"),
], ids=["memory", "maxmem", "backend", "vdev", "access"])
def test_bad_spec_fields_are_refused(change: dict[str, Any], message: str) -> None:
    spec = dataclasses.replace(domain_spec(PV, {}), **change)
    with pytest.raises(HypervisorError) as info:
        render_domain_config(PV, spec)
    assert message in str(info.value)


def test_hvm_vnc_password_of_two_lines_is_refused() -> None:
    with pytest.raises(HypervisorError, match="VNC password file must hold a single line"):
        render_domain_config(HVM, domain_spec(HVM, {}), vnc_password="a\nb")


@pytest.mark.parametrize("kind", ["kvm", "lxc", "xen", HvKind.FAKE])
def test_only_xen_kinds_are_rendered(kind: str) -> None:
    with pytest.raises(HypervisorError, match=f"not a Xen hypervisor: {kind}"):
        render_domain_config(kind, domain_spec(PV, {}))
    with pytest.raises(HypervisorError, match=f"not a Xen hypervisor: {kind}"):
        check_files(kind, domain_spec(PV, {}))


def test_kind_may_be_given_as_its_name() -> None:
    spec = domain_spec(PV, {}, disks=(), nics=())
    assert render_domain_config("xen-pvm", spec) == render_domain_config(PV, spec)


def test_master_side_checks_of_new_xen_rules() -> None:
    assert check_syntax("xen-hvm", {"vnc_bind_address": "10.0.0.1", "xen_cmd": "xm"}) == {
        "vnc_bind_address": "10.0.0.1", "xen_cmd": "xm"}
    with pytest.raises(ParameterError, match="'xen_cmd' is global"):
        check_syntax("xen-pvm", {"xen_cmd": "xl"}, instance_level=True)
    with pytest.raises(ParameterError, match="'blockdev_prefix' must be lower-case letters"):
        check_syntax("xen-pvm", {"blockdev_prefix": "SD"})
    cpuid = "['1:ecx=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx1']"
    assert check_syntax("xen-hvm", {"cpuid": cpuid}) == {"cpuid": cpuid}
    with pytest.raises(ParameterError, match="'cpuid' must be a libxl string"):
        check_syntax("xen-hvm", {"cpuid": "['unterminated"})


PARSE_REFUSALS: list[tuple[str, type[Exception], str]] = [
    ("memory = 128\n", HypervisorError, "domain config has no name"),
    ("name = 'a'\nmemory = 'lots'\n", HypervisorError, "setting 'memory' is not a number"),
    ("name = 'a'\nvcpus = ['1']\n", HypervisorError, "setting 'vcpus' is not a number"),
    ("name = 'a'\ntype = 'pvh'\n", HypervisorError, "unsupported domain type 'pvh'"),
    ("name = 'a'\ndisk = ['phy:/dev/a']\n", HypervisorError, "needs a target and a vdev"),
    ("name = 'a'\nextra = 'x'\nextra += [1]\n", XlSyntaxError, "cannot append"),
    ("name = 'a'\nmemory == 1\n", XlSyntaxError, "line 2:"),
]


@pytest.mark.parametrize(("text", "error", "message"), PARSE_REFUSALS,
                         ids=["no-name", "memory", "vcpus", "pvh", "disk", "append", "syntax"])
def test_parse_refusals(text: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        parse_domain_config(text)
    assert message in str(info.value)


def test_parsed_accessors_refuse_wrong_shapes() -> None:
    parsed = parse_domain_config("name = 'a'\ndisk = []\nkernel = '/k'\n")
    with pytest.raises(HypervisorError, match="'disk' is a list"):
        parsed.text("disk")
    with pytest.raises(HypervisorError, match="'kernel' is not a number"):
        parsed.number("kernel")
    assert (parsed.memory_mib, parsed.max_memory_mib, parsed.vcpus) == (32, 32, 1)
