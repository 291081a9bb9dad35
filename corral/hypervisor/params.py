"""Hypervisor parameters: Corral's tables, fill and syntax check (importable by the master).

Names and defaults are Ganeti's (``reference/hvparams_defaults.tsv``); where Ganeti's
default is a configure-time path, Corral picks a Debian path. KVM adds one Corral
parameter, ``accel`` (``auto`` probes KVM and falls back to TCG). No driver is
imported from here.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from corral.errors import ParameterError
from corral.hypervisor.paramspec import (
    ABS_PATH,
    BLOCKDEV_PREFIX,
    BOOL,
    CPU_MASK,
    IP_ADDRESS,
    IP_OR_IFACE,
    IP_OR_PATH,
    IPV4_ADDRESS,
    NET_PORT,
    NO_CHECK,
    NON_EMPTY,
    NON_NEG_INT,
    OPT_DIR,
    OPT_FILE,
    REQ_DIR,
    REQ_FILE,
    XEN_BOOT_ORDER,
    Check,
    ParamSpec,
    Rule,
    Value,
    int_range,
    one_of,
    parse_cpu_list,
    parse_cpu_mask,
    spec,
    table,
)
from corral.hypervisor.paramspec_lxc import (
    LXC_CAPABILITIES,
    LXC_CONTROLLERS,
    LXC_CPU_LIST,
    LXC_DEVICES,
    LXC_EXTRA_CONFIG,
)
from corral.hypervisor.xen.config_values import is_cpuid

__all__ = [
    "ABS_PATH", "BLOCKDEV_PREFIX", "BOOL", "CPU_MASK", "IPV4_ADDRESS", "IP_ADDRESS",
    "IP_OR_IFACE", "IP_OR_PATH", "NET_PORT",
    "NON_EMPTY", "NON_NEG_INT", "NO_CHECK", "OPT_DIR", "OPT_FILE", "REQ_DIR", "REQ_FILE",
    "TABLES", "Check", "HvKind", "ParamSpec", "Rule", "Value", "check_node", "check_syntax",
    "defaults", "fill_hvparams", "global_params", "hv_kind", "int_range", "one_of",
    "parameters", "parse_cpu_list", "parse_cpu_mask", "spec",
]


class HvKind(enum.StrEnum):
    """Hypervisor names, as Ganeti spells them on the wire."""

    FAKE = "fake"
    CHROOT = "chroot"
    KVM = "kvm"
    XEN_PVM = "xen-pvm"
    XEN_HVM = "xen-hvm"
    LXC = "lxc"



_MIGRATION_MODE = one_of("live", "non-live")
_REBOOT = one_of("reboot", "exit")
_KVM_DISK_TYPES = ("paravirtual", "ide", "scsi", "sd", "mtd", "pflash",
                   "scsi-block", "scsi-generic", "scsi-hd")
_SERIAL_SPEEDS = (75, 110, 300, 600, 1200, 1800, 2400, 4800, 9600, 14400, 19200, 28800,
                  38400, 57600, 115200, 230400, 345600, 460800)
_SPICE_WAN = one_of("", "auto", "never", "always")
_CPU_WEIGHT = int_range(1, 65535)

FAKE = table(
    spec("migration_mode", "live", _MIGRATION_MODE, "live or non-live (recorded only)",
         cluster_global=True),
)

CHROOT = table(
    spec("init_script", "/ganeti-chroot", ABS_PATH,
         "script inside the root, run with 'start' or 'stop'"),
)

KVM = table(
    spec("kvm_path", "/usr/bin/qemu-system-x86_64", REQ_FILE, "the QEMU binary"),
    spec("accel", "auto", one_of("auto", "kvm", "tcg"),
         "accelerator; auto probes KVM once per node and falls back to TCG"),
    spec("kernel_path", "", OPT_FILE, "kernel to boot directly; empty boots from disk"),
    spec("initrd_path", "", OPT_FILE, "initrd for kernel_path"),
    spec("root_path", "/dev/vda1", NO_CHECK, "root= kernel argument"),
    spec("kernel_args", "ro", NO_CHECK, "extra kernel arguments"),
    spec("acpi", True, BOOL, "enable ACPI (needed for soft shutdown)"),
    spec("serial_console", True, BOOL, "serial console on a unix socket"),
    spec("serial_speed", 38400, one_of(*_SERIAL_SPEEDS), "serial console speed (baud)"),
    spec("vnc_bind_address", "", IP_OR_PATH, "VNC address or unix socket path"),
    spec("vnc_tls", False, BOOL, "VNC over TLS"),
    spec("vnc_x509_path", "", OPT_DIR, "directory of VNC TLS certificates"),
    spec("vnc_x509_verify", False, BOOL, "verify VNC client certificates"),
    spec("vnc_password_file", "", OPT_FILE, "file holding the VNC password"),
    spec("spice_bind", "", IP_OR_IFACE, "SPICE address or interface"),
    spec("spice_ip_version", 0, one_of(0, 4, 6), "IP version for spice_bind (0: any)"),
    spec("spice_password_file", "", OPT_FILE, "file holding the SPICE password"),
    spec("spice_image_compression", "",
         one_of("", "auto_glz", "auto_lz", "quic", "glz", "lz", "off"), "SPICE images"),
    spec("spice_jpeg_wan_compression", "", _SPICE_WAN, "SPICE JPEG over WAN"),
    spec("spice_zlib_glz_wan_compression", "", _SPICE_WAN, "SPICE zlib-glz over WAN"),
    spec("spice_streaming_video", "", one_of("", "off", "all", "filter"), "SPICE video"),
    spec("spice_playback_compression", True, BOOL, "SPICE audio compression"),
    spec("spice_use_tls", False, BOOL, "SPICE over TLS"),
    spec("spice_tls_ciphers", "HIGH:-DES:-3DES:-EXPORT:-DH", NO_CHECK, "SPICE TLS ciphers"),
    spec("spice_use_vdagent", True, BOOL, "SPICE guest agent channel"),
    spec("floppy_image_path", "", OPT_FILE, "floppy image"),
    spec("cdrom_image_path", "", OPT_FILE, "first CD-ROM image"),
    spec("cdrom2_image_path", "", OPT_FILE, "second CD-ROM image"),
    spec("boot_order", "disk", one_of("floppy", "cdrom", "disk", "network"), "boot device"),
    spec("nic_type", "paravirtual",
         one_of("rtl8139", "ne2k_pci", "ne2k_isa", "paravirtual", "i82551", "i82557b",
                "i82559er", "pcnet", "e1000"), "NIC model"),
    spec("disk_type", "paravirtual", one_of(*_KVM_DISK_TYPES), "disk bus"),
    spec("scsi_controller_type", "lsi",
         one_of("lsi", "virtio-scsi-pci", "megasas", "mptsas1068"), "SCSI controller"),
    spec("disk_discard", "ignore", one_of("ignore", "unmap"), "pass discards to the disk"),
    spec("cdrom_disk_type", "", one_of("", *_KVM_DISK_TYPES), "CD-ROM bus"),
    spec("usb_mouse", "", one_of("", "mouse", "tablet"), "USB pointer device"),
    spec("keymap", "", NO_CHECK, "VNC keymap"),
    spec("migration_port", 8102, NET_PORT, "TCP port for migration", cluster_global=True),
    spec("migration_bandwidth", 32, NON_NEG_INT, "migration bandwidth, MiB/s",
         cluster_global=True),
    spec("migration_downtime", 30, int_range(1), "maximum migration downtime, ms"),
    spec("migration_mode", "live", _MIGRATION_MODE, "live or non-live migration",
         cluster_global=True),
    spec("use_guest_agent", False, BOOL, "QEMU guest agent channel"),
    spec("use_localtime", False, BOOL, "guest clock in local time"),
    spec("disk_cache", "default", one_of("default", "none", "writethrough", "writeback"),
         "host cache mode for disks"),
    spec("disk_aio", "threads", one_of("threads", "native", "io_uring"), "disk AIO backend"),
    spec("security_model", "none", one_of("none", "user", "pool"), "user QEMU runs as"),
    spec("security_domain", "", NO_CHECK, "user for security_model=user"),
    spec("kvm_flag", "", one_of("", "enabled", "disabled"), "force KVM on or off (legacy)"),
    spec("vhost_net", True, BOOL, "vhost-net acceleration for NICs"),
    spec("virtio_net_queues", 1, int_range(1, 8), "virtio-net queues per NIC"),
    spec("use_chroot", False, BOOL, "run QEMU chrooted"),
    spec("user_shutdown", False, BOOL, "a guest-initiated shutdown counts as user down"),
    spec("mem_path", "", OPT_DIR, "hugepage mount for guest memory"),
    spec("reboot_behavior", "reboot", _REBOOT, "what a guest reboot does"),
    spec("cpu_mask", "all", CPU_MASK, "host CPUs the vCPUs may use"),
    spec("cpu_type", "", NO_CHECK, "QEMU -cpu model"),
    spec("cpu_cores", 0, NON_NEG_INT, "cores per socket (0: QEMU default)"),
    spec("cpu_threads", 0, NON_NEG_INT, "threads per core (0: QEMU default)"),
    spec("cpu_sockets", 0, NON_NEG_INT, "sockets (0: QEMU default)"),
    spec("soundhw", "", NO_CHECK, "QEMU sound hardware"),
    spec("usb_devices", "", NO_CHECK, "comma-separated USB devices"),
    spec("vga", "", NO_CHECK, "QEMU -vga type"),
    spec("kvm_extra", "", NO_CHECK, "extra QEMU arguments"),
    spec("machine_version", "", NO_CHECK, "QEMU -machine type"),
    spec("migration_caps", "", NO_CHECK, "':'-separated QEMU migration capabilities"),
    spec("kvm_pci_reservations", 12, int_range(0, 32), "PCI slots kept for hotplug"),
    spec("vnet_hdr", True, BOOL, "vnet_hdr on taps"),
)

_REQ_REBOOT = one_of("reboot", "exit", required=True)
_XEN_CMD = one_of("xl", "xm", required=True)
_XEN_CPUID = Rule(False, Check(is_cpuid, "must be a libxl string starting with 'host' or an "
                                         "xl list of strings like ['1:ecx=xxxx…']"))

_XEN_COMMON = (
    spec("migration_port", 8002, NET_PORT, "TCP port for migration", cluster_global=True),
    spec("reboot_behavior", "reboot", _REQ_REBOOT, "what a guest reboot does"),
    spec("cpu_mask", "all", CPU_MASK, "host CPUs the vCPUs may use"),
    spec("cpu_cap", 0, NON_NEG_INT, "CPU cap, percent of one CPU (0: none)"),
    spec("cpu_weight", 256, _CPU_WEIGHT, "scheduler weight"),
    spec("vif_script", "", OPT_FILE, "vif script"),
    spec("cpuid", "", _XEN_CPUID, "cpuid policy: 'host,…' or an xl list of xend strings"),
    spec("soundhw", "", NO_CHECK, "sound hardware"),
    spec("xen_cmd", "xl", _XEN_CMD, "the Xen toolstack command (xl; xm where installed)",
         cluster_global=True),
)

XEN_PVM = table(
    spec("use_bootloader", False, BOOL, "boot through a bootloader (pygrub)"),
    spec("bootloader_path", "", OPT_FILE, "the bootloader"),
    spec("bootloader_args", "", NO_CHECK, "bootloader arguments"),
    spec("kernel_path", "/boot/vmlinuz-3-xenU", REQ_FILE, "guest kernel"),
    spec("initrd_path", "", OPT_FILE, "guest initrd"),
    spec("root_path", "/dev/xvda1", NO_CHECK, "root= kernel argument"),
    spec("kernel_args", "ro", NO_CHECK, "extra kernel arguments"),
    spec("migration_mode", "live", _MIGRATION_MODE, "live or non-live",
         cluster_global=True),
    spec("blockdev_prefix", "sd", BLOCKDEV_PREFIX, "guest disk name prefix"),
    *_XEN_COMMON,
)

XEN_HVM = table(
    spec("acpi", True, BOOL, "enable ACPI"),
    spec("boot_order", "cd", XEN_BOOT_ORDER, "boot devices (a, c, d, n)"),
    spec("cdrom_image_path", "", OPT_FILE, "CD-ROM image"),
    spec("disk_type", "paravirtual", one_of("paravirtual", "ioemu", required=True),
         "disk type"),
    spec("nic_type", "rtl8139",
         one_of("rtl8139", "ne2k_pci", "ne2k_isa", "paravirtual", "e1000", required=True),
         "NIC model"),
    spec("pae", True, BOOL, "physical address extension"),
    spec("vnc_bind_address", "0.0.0.0", IPV4_ADDRESS, "VNC address"),
    spec("kernel_path", "/usr/lib/xen/boot/hvmloader", REQ_FILE, "HVM loader"),
    spec("device_model", "/usr/lib/xen/bin/qemu-dm", REQ_FILE, "device model"),
    spec("vnc_password_file", "/etc/corral/vnc-cluster-password", REQ_FILE,
         "file holding the VNC password"),
    spec("migration_mode", "non-live", _MIGRATION_MODE, "live or non-live",
         cluster_global=True),
    spec("use_localtime", False, BOOL, "guest clock in local time"),
    spec("blockdev_prefix", "hd", BLOCKDEV_PREFIX, "guest disk name prefix"),
    spec("pci_pass", "", NO_CHECK, "PCI devices passed through"),
    spec("vif_type", "ioemu", one_of("ioemu", "vif"), "vif type"),
    spec("viridian", False, BOOL, "Hyper-V enlightenments"),
    *_XEN_COMMON,
)

LXC = table(
    spec("cpu_mask", "", LXC_CPU_LIST, "host CPUs of the container's cpuset (one CPU per vCPU)"),
    spec("devices", "c 1:3 rw,c 1:5 rw,c 1:7 rw,c 1:8 rw,c 1:9 rw,c 1:10 rw,c 5:0 rw,"
         "c 5:1 rw,c 5:2 rw,c 136:* rw", LXC_DEVICES,
         "device nodes the container may use ('TYPE MAJOR:MINOR ACCESS', comma-separated)"),
    spec("drop_capabilities", "mac_override,sys_boot,sys_module,sys_time,sys_admin",
         LXC_CAPABILITIES, "capabilities dropped in the container (comma-separated)"),
    spec("extra_cgroups", "", LXC_CONTROLLERS,
         "cgroup controllers the node must offer the container (comma-separated)"),
    spec("extra_config", "", LXC_EXTRA_CONFIG,
         "extra LXC configuration lines 'lxc.KEY = VALUE', comma-separated"),
    spec("num_ttys", 6, NON_NEG_INT, "ttys in the container"),
    spec("startup_timeout", 30, NON_NEG_INT, "seconds to wait for the container to run"),
)

TABLES: Mapping[HvKind, Mapping[str, ParamSpec]] = {
    HvKind.FAKE: FAKE,
    HvKind.CHROOT: CHROOT,
    HvKind.KVM: KVM,
    HvKind.XEN_PVM: XEN_PVM,
    HvKind.XEN_HVM: XEN_HVM,
    HvKind.LXC: LXC,
}
"""Every hypervisor's parameter table, keyed by kind."""


# --- lookups, fill and checks ------------------------------------------------------------

def hv_kind(kind: str) -> HvKind:
    """``kind`` as an :class:`HvKind`. Raises ParameterError for an unknown hypervisor."""
    try:
        return HvKind(kind)
    except ValueError:
        raise ParameterError(f"unknown hypervisor '{kind}'") from None


def parameters(kind: str) -> Mapping[str, ParamSpec]:
    """The parameter table of one hypervisor."""
    return TABLES[hv_kind(kind)]


def defaults(kind: str) -> dict[str, Value]:
    """Every parameter of ``kind`` at its default."""
    return {name: p.default for name, p in parameters(kind).items()}


def global_params(kind: str) -> frozenset[str]:
    """Names that only the cluster may set (Ganeti's HVC_GLOBALS)."""
    return frozenset(n for n, p in parameters(kind).items() if p.cluster_global)


def fill_hvparams(kind: str, cluster_hvparams: Mapping[str, Any] | None,
                  instance_hvparams: Mapping[str, Any] | None) -> dict[str, Any]:
    """Effective hvparams: defaults < cluster < instance.

    Only known names are kept; cluster-global parameters come from the cluster
    level even if an instance carries them. Values are taken as given (run
    :func:`check_syntax` first to coerce them).
    """
    table_ = parameters(kind)
    filled: dict[str, Any] = {name: p.default for name, p in table_.items()}
    filled.update((k, v) for k, v in (cluster_hvparams or {}).items() if k in table_)
    filled.update((k, v) for k, v in (instance_hvparams or {}).items()
                  if k in table_ and not table_[k].cluster_global)
    return filled


def check_syntax(kind: str, hvparams: Mapping[str, Any], *, instance_level: bool = False,
                 complete: bool = False) -> dict[str, Value]:
    """Coerce and check ``hvparams`` on the master (no I/O); return the converted dict.

    ``instance_level`` rejects cluster-global names; ``complete`` also demands every
    required parameter to be present (use it on filled parameters).

    Raises:
        ParameterError: unknown name, unconvertible or invalid value, global name at
            instance level, or missing required parameter; the message names it.
    """
    table_ = parameters(kind)
    converted: dict[str, Value] = {}
    for name, raw in hvparams.items():
        param = table_.get(name)
        if param is None:
            raise ParameterError(f"unknown hypervisor parameter '{name}' for hypervisor {kind}")
        if instance_level and param.cluster_global:
            raise ParameterError(f"hypervisor parameter '{name}' is global and cannot be "
                                 "customized at instance level, please modify it at cluster "
                                 "level")
        value = param.coerce(raw)
        param.check_syntax(value)
        converted[name] = value
    if complete:
        for name in sorted(set(table_) - set(converted)):
            if table_[name].required:
                raise ParameterError(f"hypervisor parameter '{name}' is required")
    return converted


def check_node(kind: str, hvparams: Mapping[str, Any]) -> None:
    """Node-side checks of (filled, coerced) hvparams; blocking (stats files).

    Raises:
        HypervisorError: a check failed; the message names the parameter.
    """
    table_ = parameters(kind)
    for name, value in hvparams.items():
        param = table_.get(name)
        if param is not None:
            param.check_node(value)
