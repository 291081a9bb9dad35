"""Per-parameter fields: ``ndp/*`` (nodes, groups), ``be/*`` and ``hv/*`` (instances).

Kinds follow Ganeti's parameter types (string → other, int → number, size →
unit, bool → bool, float → float) and titles its *_PARAMETER_TITLES tables;
parameters without a listed title use the full field name as title.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from corral.query.fields import NODATA, FieldDef, FieldKind, Getter

_O, _N, _B, _U, _F = (
    FieldKind.OTHER,
    FieldKind.NUMBER,
    FieldKind.BOOL,
    FieldKind.UNIT,
    FieldKind.FLOAT,
)

ND_PARAMS: dict[str, tuple[FieldKind, str | None]] = {
    "exclusive_storage": (_B, "ExclusiveStorage"),
    "oob_program": (_O, "OutOfBandProgram"),
    "ovs": (_B, "OpenvSwitch"),
    "ovs_link": (_O, "OpenvSwitchLink"),
    "ovs_name": (_O, "OpenvSwitchName"),
    "spindle_count": (_N, "SpindleCount"),
    "ssh_port": (_N, None),
    "cpu_speed": (_F, None),
}

BE_PARAMS: dict[str, tuple[FieldKind, str | None]] = {
    "always_failover": (_B, None),
    "auto_balance": (_B, "Auto_balance"),
    "maxmem": (_U, "ConfigMaxMem"),
    "minmem": (_U, "ConfigMinMem"),
    "spindle_use": (_N, None),
    "vcpus": (_N, "ConfigVCPUs"),
}

HV_GLOBALS = frozenset({"migration_port", "migration_bandwidth", "migration_mode", "xen_cmd"})
"""Cluster-wide hypervisor parameters; not shown per instance."""

def _words(text: str) -> list[str]:
    return text.split()


_HV_TITLES = {
    "acpi": "ACPI",
    "boot_order": "Boot_order",
    "cdrom_image_path": "CDROM_image_path",
    "disk_type": "Disk_type",
    "initrd_path": "Initrd_path",
    "kernel_path": "Kernel_path",
    "nic_type": "NIC_type",
    "pae": "PAE",
    "vnc_bind_address": "VNC_bind_address",
    "pci_pass": "pci_pass",
    "cpu_type": "cpu_type",
}
_HV_BOOL = _words(
    "use_bootloader acpi pae use_localtime viridian serial_console vnc_tls vnc_x509_verify"
    " spice_playback_compression spice_use_tls spice_use_vdagent use_guest_agent vhost_net"
    " use_chroot user_shutdown vnet_hdr"
)
_HV_INT = _words(
    "cpu_cap cpu_weight serial_speed spice_ip_version migration_downtime virtio_net_queues"
    " cpu_cores cpu_threads cpu_sockets kvm_pci_reservations num_ttys startup_timeout"
)
_HV_STRING = _words(
    "bootloader_path bootloader_args kernel_path initrd_path root_path kernel_args"
    " blockdev_prefix reboot_behavior cpu_mask vif_script cpuid soundhw boot_order"
    " cdrom_image_path disk_type nic_type vnc_bind_address device_model vnc_password_file"
    " pci_pass vif_type kvm_path vnc_x509_path spice_bind spice_password_file"
    " spice_image_compression spice_jpeg_wan_compression spice_zlib_glz_wan_compression"
    " spice_streaming_video spice_tls_ciphers floppy_image_path cdrom2_image_path"
    " scsi_controller_type disk_discard cdrom_disk_type usb_mouse keymap disk_cache disk_aio"
    " security_model security_domain kvm_flag mem_path cpu_type usb_devices vga kvm_extra"
    " machine_version migration_caps devices drop_capabilities extra_cgroups extra_config"
    " init_script"
)

HV_PARAMS: dict[str, tuple[FieldKind, str | None]] = {
    **{name: (_O, _HV_TITLES.get(name)) for name in _HV_STRING},
    **{name: (_N, _HV_TITLES.get(name)) for name in _HV_INT},
    **{name: (_B, _HV_TITLES.get(name)) for name in _HV_BOOL},
}

ParamLookup = Callable[[Any, Any, str], Any]
"""``lookup(shared, item, name)``: the filled parameter's value, or an Abnormal marker."""


def dict_lookup(
    source: Callable[[Any, Any], Mapping[str, Any] | None], missing: Any
) -> ParamLookup:
    """Lookup in the dict ``source(shared, item)`` builds (NODATA if it cannot)."""

    def lookup(shared: Any, item: Any, name: str) -> Any:
        params = source(shared, item)
        return NODATA if params is None else params.get(name, missing)

    return lookup


def _param_getter(name: str, lookup: ParamLookup) -> Getter:
    return lambda shared, item: lookup(shared, item, name)


def param_fields(
    prefix: str,
    group_label: str,
    table: Mapping[str, tuple[FieldKind, str | None]],
    lookup: ParamLookup,
) -> list[FieldDef]:
    """``<prefix>/<param>`` fields, one per parameter of ``table``."""
    return [
        FieldDef(
            f"{prefix}/{name}",
            title or f"{prefix}/{name}",
            kind,
            f'The "{name}" {group_label} parameter',
            _param_getter(name, lookup),
        )
        for name, (kind, title) in sorted(table.items())
    ]
