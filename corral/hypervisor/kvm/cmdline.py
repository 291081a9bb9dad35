"""The QEMU command line of an instance, as a pure function of its spec and context.

Disks use ``-blockdev`` node pairs (protocol node ``diskN-file``, format node
``diskN``) and ``-device``; NICs are taps the driver created beforehand; the
serial console is a unix socket chardev with a log file; QMP listens on a unix
socket. QEMU is started with ``-daemonize`` (see ``driver.py`` for why).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from corral.errors import HypervisorError
from corral.hypervisor.base import DiskSpec, InstanceSpec, NicSpec
from corral.hypervisor.kvm.paths import KvmPaths
from corral.hypervisor.params import KVM
from corral.objects.instance import DiskMode, DiskTemplate

DISK_DEVICES = {"paravirtual": "virtio-blk-pci", "ide": "ide-hd", "scsi": "scsi-hd",
                "scsi-hd": "scsi-hd", "scsi-block": "scsi-block",
                "scsi-generic": "scsi-generic"}
"""disk_type → QEMU device (sd, mtd and pflash are not supported)."""

NIC_DEVICES = {"paravirtual": "virtio-net-pci", "e1000": "e1000", "rtl8139": "rtl8139",
               "ne2k_pci": "ne2k_pci", "ne2k_isa": "ne2k_isa", "i82551": "i82551",
               "i82557b": "i82557b", "i82559er": "i82559er", "pcnet": "pcnet"}
"""nic_type → QEMU device."""

BOOT_LETTERS = {"disk": "c", "cdrom": "d", "floppy": "a", "network": "n"}
_SCSI_BUS = "scsi0.0"


@dataclass(frozen=True, slots=True)
class DiskBackend:
    """How QEMU opens one disk: protocol driver (``file``/``host_device``) and format."""

    driver: str = "file"
    format: str = "raw"


@dataclass(frozen=True, slots=True, kw_only=True)
class LaunchContext:
    """What the driver decided on the node before building the command line."""

    paths: KvmPaths
    accel: str
    taps: tuple[str, ...] = ()
    disk_backends: tuple[DiskBackend, ...] = ()
    vhost_net: bool = False
    paused: bool = False
    incoming: bool = False
    """Receive a migration: ``-incoming defer`` (the driver sets the URI over QMP)."""


def hv_value(hvparams: Mapping[str, Any], name: str) -> Any:
    """A filled hvparam, or the table default when absent."""
    return hvparams.get(name, KVM[name].default)


def build_argv(spec: InstanceSpec, ctx: LaunchContext) -> list[str]:
    """The full QEMU argument vector for ``spec``.

    Raises:
        HypervisorError: a parameter asks for something this driver cannot express.
    """
    hv = spec.hvparams
    problems = unsupported(hv)
    if problems:
        raise HypervisorError(f"instance {spec.name}: " + "; ".join(problems))
    return [
        *_machine_args(spec, hv, ctx),
        *_control_args(hv, ctx.paths),
        *_display_args(spec, hv),
        *_boot_args(hv),
        *_disk_args(spec, hv, ctx),
        *_optical_args(hv),
        *_nic_args(spec, hv, ctx),
        *_misc_args(hv),
        *shlex.split(str(hv_value(hv, "kvm_extra"))),
    ]


def unsupported(hv: Mapping[str, Any]) -> list[str]:
    """Parameter values this driver does not implement (empty list: all fine)."""
    rules = [
        (hv_value(hv, "use_chroot"), "use_chroot is not supported"),
        (hv_value(hv, "security_model") != "none", "security_model other than 'none'"),
        (hv_value(hv, "spice_bind") != "", "SPICE is not supported"),
        (hv_value(hv, "vnc_tls"), "vnc_tls is not supported"),
        (hv_value(hv, "vnc_password_file") != "", "vnc_password_file is not supported"),
        (hv_value(hv, "soundhw") != "", "soundhw is not supported"),
        (hv_value(hv, "usb_devices") != "", "usb_devices is not supported"),
        (hv_value(hv, "use_guest_agent"), "use_guest_agent is not supported"),
        (hv_value(hv, "cpu_mask") != "all", "cpu_mask other than 'all'"),
        (hv_value(hv, "disk_type") not in DISK_DEVICES,
         f"disk_type {hv_value(hv, 'disk_type')!r}"),
        (hv_value(hv, "disk_aio") == "native" and hv_value(hv, "disk_cache") != "none",
         "disk_aio 'native' needs disk_cache 'none'"),
    ]
    return [f"unsupported: {text}" for bad, text in rules if bad]


def _machine_args(spec: InstanceSpec, hv: Mapping[str, Any], ctx: LaunchContext) -> list[str]:
    machine = str(hv_value(hv, "machine_version")) or "pc"
    if not hv_value(hv, "acpi"):
        machine += ",acpi=off"
    args = [str(hv_value(hv, "kvm_path")), "-name", spec.name, "-uuid", spec.uuid,
            "-no-user-config", "-nodefaults", "-machine", machine, "-accel", ctx.accel,
            "-m", str(spec.memory_mib), "-smp", _smp(spec.vcpus, hv)]
    if hv_value(hv, "cpu_type"):
        args += ["-cpu", str(hv_value(hv, "cpu_type"))]
    if hv_value(hv, "mem_path"):
        args += ["-mem-path", str(hv_value(hv, "mem_path"))]
    args += ["-pidfile", str(ctx.paths.pidfile), "-daemonize"]
    if ctx.incoming:
        args += ["-incoming", "defer"]
    return [*args, "-S"] if ctx.paused else args


def _smp(vcpus: int, hv: Mapping[str, Any]) -> str:
    parts = [str(vcpus)]
    for name in ("sockets", "cores", "threads"):
        count = int(hv_value(hv, f"cpu_{name}"))
        if count:
            parts.append(f"{name}={count}")
    return ",".join(parts)


def _control_args(hv: Mapping[str, Any], paths: KvmPaths) -> list[str]:
    args = ["-qmp", f"unix:{paths.qmp_socket},server=on,wait=off"]
    if not hv_value(hv, "serial_console"):
        return [*args, "-serial", "none"]
    chardev = (f"socket,id=serial0,path={paths.serial_socket},server=on,wait=off,"
               f"logfile={paths.serial_log}")
    return [*args, "-chardev", chardev, "-serial", "chardev:serial0"]


def _display_args(spec: InstanceSpec, hv: Mapping[str, Any]) -> list[str]:
    bind = str(hv_value(hv, "vnc_bind_address"))
    vga = str(hv_value(hv, "vga"))
    if not bind:
        return ["-vga", vga, "-display", "none"] if vga else ["-display", "none"]
    if bind.startswith("/"):
        vnc = f"unix:{bind}"
    elif spec.network_port is None or spec.network_port < 5900:
        raise HypervisorError(f"instance {spec.name}: VNC needs a network port >= 5900")
    else:
        vnc = f"{bind}:{spec.network_port - 5900}"
    args = ["-vga", vga or "std", "-vnc", vnc]
    keymap = str(hv_value(hv, "keymap"))
    return [*args, "-k", keymap] if keymap else args


def kernel_cmdline(hv: Mapping[str, Any]) -> str:
    """``-append`` text: root device, serial console, then the user's kernel_args."""
    parts = []
    if hv_value(hv, "root_path"):
        parts.append(f"root={hv_value(hv, 'root_path')}")
    if hv_value(hv, "serial_console"):
        parts.append(f"console=ttyS0,{hv_value(hv, 'serial_speed')}")
    if hv_value(hv, "kernel_args"):
        parts.append(str(hv_value(hv, "kernel_args")))
    return " ".join(parts)


def _boot_args(hv: Mapping[str, Any]) -> list[str]:
    kernel = str(hv_value(hv, "kernel_path"))
    if not kernel:
        return ["-boot", f"order={BOOT_LETTERS[str(hv_value(hv, 'boot_order'))]}"]
    args = ["-kernel", kernel]
    if hv_value(hv, "initrd_path"):
        args += ["-initrd", str(hv_value(hv, "initrd_path"))]
    return [*args, "-append", kernel_cmdline(hv)]


def _disk_args(spec: InstanceSpec, hv: Mapping[str, Any], ctx: LaunchContext) -> list[str]:
    disk_type = str(hv_value(hv, "disk_type"))
    args: list[str] = []
    if spec.disks and DISK_DEVICES[disk_type].startswith("scsi"):
        args += ["-device", f"{hv_value(hv, 'scsi_controller_type')},id=scsi0"]
    for index, disk in enumerate(spec.disks):
        if disk.mode == DiskMode.RO and disk_type == "ide":
            raise HypervisorError(f"instance {spec.name}: disk {index} is read-only, which "
                                  "disk_type 'ide' cannot express")
        backend = ctx.disk_backends[index] if index < len(ctx.disk_backends) else DiskBackend()
        args += _blockdev_pair(f"disk{index}", disk, backend, hv,
                               unlocked=ctx.incoming and disk.dev_type == DiskTemplate.MIRROR)
        args += ["-device", _disk_device(index, disk_type, hv)]
    return args


def _blockdev_pair(node: str, disk: DiskSpec, backend: DiskBackend,
                   hv: Mapping[str, Any], *, unlocked: bool = False) -> list[str]:
    """Protocol and format nodes. ``unlocked``: no image lock (a mirror disk received by
    migration: this node's export of the same file runs until the switch-over)."""
    common = ",read-only=on" if disk.mode == DiskMode.RO else ""
    if hv_value(hv, "disk_discard") == "unmap":
        common += ",discard=unmap"
    cache = {"none": ",cache.direct=on", "writeback": ",cache.direct=off"}
    proto = (f"driver={backend.driver},filename={_escape(disk.path)},node-name={node}-file,"
             f"aio={hv_value(hv, 'disk_aio')}{cache.get(str(hv_value(hv, 'disk_cache')), '')}"
             f"{common}{',locking=off' if unlocked else ''}")
    fmt = f"driver={backend.format},file={node}-file,node-name={node}{common}"
    return ["-blockdev", proto, "-blockdev", fmt]


def _escape(value: str) -> str:
    """QEMU option values double a comma to keep it literal."""
    return value.replace(",", ",,")


def _disk_device(index: int, disk_type: str, hv: Mapping[str, Any]) -> str:
    device = f"{DISK_DEVICES[disk_type]},drive=disk{index},id=disk{index}-dev"
    if disk_type == "ide":
        device += f",bus=ide.{index // 2},unit={index % 2}"
    elif device.startswith("scsi"):
        device += f",bus={_SCSI_BUS},scsi-id={index}"
    if hv_value(hv, "disk_cache") == "writethrough" and disk_type != "scsi-generic":
        device += ",write-cache=off"
    return device


def _optical_args(hv: Mapping[str, Any]) -> list[str]:
    args: list[str] = []
    for unit, name in enumerate(("cdrom_image_path", "cdrom2_image_path")):
        path = str(hv_value(hv, name))
        if path:
            args += _read_only_image(f"cdrom{unit}", path)
            args += ["-device", f"ide-cd,drive=cdrom{unit},bus=ide.1,unit={unit}"]
    floppy = str(hv_value(hv, "floppy_image_path"))
    if floppy:
        args += [*_read_only_image("floppy0", floppy), "-device", "floppy,drive=floppy0"]
    return args


def _read_only_image(node: str, path: str) -> list[str]:
    return ["-blockdev", f"driver=file,filename={_escape(path)},node-name={node}-file,"
            "read-only=on",
            "-blockdev", f"driver=raw,file={node}-file,node-name={node},read-only=on"]


def _nic_args(spec: InstanceSpec, hv: Mapping[str, Any], ctx: LaunchContext) -> list[str]:
    if len(ctx.taps) != len(spec.nics):
        raise HypervisorError(f"instance {spec.name}: {len(spec.nics)} NICs but "
                              f"{len(ctx.taps)} taps")
    args: list[str] = []
    for index, (nic, tap) in enumerate(zip(spec.nics, ctx.taps, strict=True)):
        args += ["-netdev", _netdev(index, tap, hv, ctx), "-device", _nic_device(index, nic, hv)]
    return args


def _netdev(index: int, tap: str, hv: Mapping[str, Any], ctx: LaunchContext) -> str:
    netdev = f"tap,id=nic{index},ifname={tap},script=no,downscript=no"
    if hv_value(hv, "nic_type") != "paravirtual":
        return netdev
    if hv_value(hv, "vnet_hdr"):
        netdev += ",vnet_hdr=on"
    if ctx.vhost_net:
        netdev += ",vhost=on"
    queues = int(hv_value(hv, "virtio_net_queues"))
    return netdev + (f",queues={queues}" if queues > 1 else "")


def _nic_device(index: int, nic: NicSpec, hv: Mapping[str, Any]) -> str:
    nic_type = str(hv_value(hv, "nic_type"))
    device = f"{NIC_DEVICES[nic_type]},netdev=nic{index},mac={nic.mac},id=nic{index}-dev"
    queues = int(hv_value(hv, "virtio_net_queues"))
    if nic_type == "paravirtual" and queues > 1:
        device += f",mq=on,vectors={2 * queues + 2}"
    return device


def _misc_args(hv: Mapping[str, Any]) -> list[str]:
    args = ["-device", "virtio-balloon-pci,id=balloon0"]
    mouse = str(hv_value(hv, "usb_mouse"))
    if mouse:
        args += ["-usb", "-device", f"usb-{mouse}"]
    if hv_value(hv, "use_localtime"):
        args += ["-rtc", "base=localtime"]
    if hv_value(hv, "reboot_behavior") == "exit":
        args.append("-no-reboot")
    return args


def taps_for(spec: InstanceSpec, variant: int = 0) -> tuple[str, ...]:
    """Tap names for the instance's NICs: ``corral-<5 hex of the uuid>-<index>`` (≤ 15).

    ``variant`` > 0 gives alternative names (``corral<variant>-…``, or ``<tap>.<variant>``
    for a NIC with its own tap name), for a node that receives a migrating instance
    while the default names are still taken (several nodes on one host).
    """
    short = spec.uuid.replace("-", "")[:5] or "0"
    return tuple(_tap_name(nic.tap, short, index, variant)
                 for index, nic in enumerate(spec.nics))


def _tap_name(own: str, short: str, index: int, variant: int) -> str:
    if own:
        return own if not variant else f"{own[:12]}.{variant}"
    return f"corral{variant or ''}-{short}-{index}"[:15]


def shell_line(argv: Sequence[str]) -> str:
    """The argument vector as one shell-quoted line (logs, ``--show-cmd``)."""
    return shlex.join(argv)
