"""QEMU command lines against golden files (``tests/data/kvm/<case>.argv``, one arg a line).

Set ``CORRAL_REGEN_GOLDEN=1`` to rewrite the golden files after an intended change.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from corral.errors import HypervisorError, ParameterError
from corral.hypervisor.base import DiskSpec, InstanceSpec, NicSpec
from corral.hypervisor.kvm.cmdline import (
    DiskBackend,
    LaunchContext,
    build_argv,
    kernel_cmdline,
    taps_for,
    unsupported,
)
from corral.hypervisor.kvm.driver import KvmHypervisor
from corral.hypervisor.kvm.paths import instance_paths
from corral.hypervisor.params import defaults
from corral.layout import NodeLayout
from corral.objects.instance import DiskMode, DiskTemplate, NicMode

GOLDEN = Path(__file__).resolve().parents[3] / "data" / "kvm"
UUID = "4f1c2a9e-0b7d-4c41-9a53-2d1e7f00c0de"
PATHS = instance_paths(NodeLayout(Path("/")), "web1.example.com")


def _spec(hv: dict[str, Any], *, disks: tuple[DiskSpec, ...] = (),
          nics: tuple[NicSpec, ...] = (), port: int | None = None) -> InstanceSpec:
    return InstanceSpec(name="web1.example.com", uuid=UUID, hvparams={**defaults("kvm"), **hv},
                        memory_mib=512, vcpus=2, disks=disks, nics=nics, network_port=port)


def _kernel_virtio() -> tuple[InstanceSpec, LaunchContext]:
    spec = _spec({"kernel_path": "/srv/guestkit/vmlinuz", "initrd_path": "/srv/guestkit/initrd",
                  "kernel_args": "ro quiet corral.ip=10.0.0.5/24", "root_path": "/dev/vda"},
                 disks=(DiskSpec(path="/srv/disks/web1,disk0", dev_type=DiskTemplate.FILE),),
                 nics=(NicSpec(mac="aa:00:00:11:22:33", link="br0"),))
    return spec, LaunchContext(paths=PATHS, accel="tcg", taps=taps_for(spec))


def _ide_e1000_vnc() -> tuple[InstanceSpec, LaunchContext]:
    spec = _spec({"disk_type": "ide", "nic_type": "e1000", "vnc_bind_address": "0.0.0.0",
                  "keymap": "en-us", "acpi": False, "reboot_behavior": "exit",
                  "disk_cache": "none", "disk_aio": "native"},
                 disks=(DiskSpec(path="/dev/loop7"),
                        DiskSpec(path="/srv/disks/web1.qcow2", dev_type=DiskTemplate.FILE)),
                 nics=(NicSpec(mac="aa:00:00:44:55:66", mode=NicMode.ROUTED, ip="192.0.2.9"),),
                 port=11003)
    backends = (DiskBackend("host_device", "raw"), DiskBackend("file", "qcow2"))
    return spec, LaunchContext(paths=PATHS, accel="kvm", taps=taps_for(spec),
                               disk_backends=backends, paused=True)


def _scsi_disk_boot() -> tuple[InstanceSpec, LaunchContext]:
    spec = _spec({"boot_order": "cdrom", "disk_type": "scsi-hd",
                  "scsi_controller_type": "virtio-scsi-pci",
                  "cdrom_image_path": "/srv/iso/install.iso", "usb_mouse": "tablet",
                  "cpu_type": "host", "cpu_sockets": 1, "cpu_cores": 2, "cpu_threads": 1,
                  "mem_path": "/dev/hugepages", "machine_version": "q35",
                  "kvm_extra": "-global kvm-pit.lost_tick_policy=discard",
                  "virtio_net_queues": 2, "disk_discard": "unmap",
                  "disk_cache": "writethrough", "disk_aio": "io_uring"},
                 disks=(DiskSpec(path="/dev/corral/web1-disk0", mode=DiskMode.RO),),
                 nics=(NicSpec(mac="aa:00:00:77:88:99", link="br1", tap="tapweb1"),))
    return spec, LaunchContext(paths=PATHS, accel="kvm", taps=taps_for(spec),
                               disk_backends=(DiskBackend("host_device"),), vhost_net=True)


def _headless_minimal() -> tuple[InstanceSpec, LaunchContext]:
    spec = _spec({"serial_console": False, "use_localtime": True, "vga": "std",
                  "kvm_path": "/usr/bin/kvm", "boot_order": "network", "vnet_hdr": False})
    return spec, LaunchContext(paths=PATHS, accel="tcg")


CASES = {"kernel_virtio": _kernel_virtio, "ide_e1000_vnc": _ide_e1000_vnc,
         "scsi_disk_boot": _scsi_disk_boot, "headless_minimal": _headless_minimal}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_command_line(case: str) -> None:
    argv = build_argv(*CASES[case]())
    golden = GOLDEN / f"{case}.argv"
    if os.environ.get("CORRAL_REGEN_GOLDEN"):
        golden.write_text("".join(f"{arg}\n" for arg in argv))
    assert argv == golden.read_text().splitlines()


def test_every_golden_line_is_one_argument() -> None:
    argv = build_argv(*_kernel_virtio())
    assert argv[argv.index("-append") + 1] == (
        "root=/dev/vda console=ttyS0,38400 ro quiet corral.ip=10.0.0.5/24")
    assert "filename=/srv/disks/web1,,disk0" in argv[argv.index("-blockdev") + 1]
    assert argv.count("-daemonize") == 1


def test_kernel_cmdline_without_serial_or_root() -> None:
    hv = {**defaults("kvm"), "serial_console": False, "root_path": "", "kernel_args": "quiet"}
    assert kernel_cmdline(hv) == "quiet"


def test_tap_names_fit_linux_interface_names() -> None:
    nics = tuple(NicSpec(mac=f"aa:00:00:00:00:{i:02x}") for i in range(12))
    taps = taps_for(_spec({}, nics=nics))
    assert taps[0] == "corral-4f1c2-0"
    assert len(set(taps)) == 12
    assert all(len(t) <= 15 for t in taps)


def test_nic_and_tap_counts_must_match() -> None:
    spec, ctx = _kernel_virtio()
    with pytest.raises(HypervisorError, match="1 NICs but 0 taps"):
        build_argv(spec, LaunchContext(paths=PATHS, accel="tcg"))
    assert ctx.taps


def test_vnc_needs_a_port() -> None:
    spec = _spec({"vnc_bind_address": "127.0.0.1"})
    with pytest.raises(HypervisorError, match="network port"):
        build_argv(spec, LaunchContext(paths=PATHS, accel="tcg"))


def test_vnc_on_a_unix_socket_needs_no_port() -> None:
    argv = build_argv(_spec({"vnc_bind_address": "/run/vnc.sock"}),
                      LaunchContext(paths=PATHS, accel="tcg"))
    assert argv[argv.index("-vnc") + 1] == "unix:/run/vnc.sock"


@pytest.mark.parametrize(("param", "value", "needle"), [
    ("use_chroot", True, "use_chroot"),
    ("security_model", "user", "security_model"),
    ("spice_bind", "0.0.0.0", "SPICE"),
    ("disk_type", "pflash", "disk_type"),
    ("cpu_mask", "0-1", "cpu_mask"),
    ("disk_aio", "native", "disk_cache 'none'"),
])
def test_unsupported_values_are_refused(param: str, value: Any, needle: str) -> None:
    hv = {**defaults("kvm"), param: value}
    assert any(needle in p for p in unsupported(hv))
    with pytest.raises(HypervisorError, match=needle):
        build_argv(_spec(hv), LaunchContext(paths=PATHS, accel="tcg"))
    with pytest.raises(ParameterError, match=needle):
        KvmHypervisor.check_parameter_syntax(hv)


def test_read_only_ide_disk_is_refused() -> None:
    spec = _spec({"disk_type": "ide"}, disks=(DiskSpec(path="/dev/sdz", mode=DiskMode.RO),))
    with pytest.raises(HypervisorError, match="read-only"):
        build_argv(spec, LaunchContext(paths=PATHS, accel="tcg"))


def test_defaults_are_supported() -> None:
    assert unsupported(defaults("kvm")) == []


def test_mirror_disk_received_by_migration_is_opened_without_image_lock() -> None:
    disk = DiskSpec(path="/srv/d0.mirror", uri="nbd+tls://192.0.2.7:11000/d0",
                    dev_type=DiskTemplate.MIRROR)
    spec = _spec(defaults("kvm"), disks=(disk, DiskSpec(path="/srv/d1")))
    normal = " ".join(build_argv(spec, LaunchContext(paths=PATHS, accel="tcg")))
    incoming = build_argv(spec, LaunchContext(paths=PATHS, accel="tcg", incoming=True))
    assert "locking=off" not in normal
    protocols = [arg for arg in incoming if arg.startswith("driver=file,filename=/srv/d")]
    assert ["locking=off" in arg for arg in protocols] == [True, False]
