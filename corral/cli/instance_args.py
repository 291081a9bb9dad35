"""Parsing ``gnt-instance`` option values into opcode fields.

``--disk N:size=…``, ``-s``, ``--net N:…``, ``-n PNODE[:SNODE]``, ``-H hv:k=v``,
``-B``, modification lists (``--disk add:size=1G``, ``--net 0:remove``) and
Ganeti's type enforcement of parameter dictionaries (ForceDictType): unknown
keys and unconvertible values become a one-line ``Parameter Error: …``; other
bad input becomes a one-line ``Error: …``.
"""

from __future__ import annotations

from corral.cli.errors import CliError, UsageError
from corral.cli.params import BEPARAM_TYPES, ParamError, coerce_params, parse_bool, parse_unit

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

VALUE_DEFAULT = "default"
"""A parameter value that resets the parameter to its inherited default (modify)."""

HYPERVISORS = ("xen-pvm", "xen-hvm", "kvm", "lxc", "chroot", "fake")
DDM_ADD, DDM_ATTACH, DDM_MODIFY, DDM_REMOVE, DDM_DETACH = (
    "add", "attach", "modify", "remove", "detach")
DDM_ACTIONS = (DDM_ADD, DDM_ATTACH, DDM_MODIFY, DDM_REMOVE, DDM_DETACH)

_HV_BOOL = (
    "use_bootloader acpi pae use_localtime vnc_tls vnc_x509_verify spice_playback_compression"
    " spice_use_tls spice_use_vdagent use_guest_agent use_chroot user_shutdown vhost_net"
    " viridian serial_console vnet_hdr")
_HV_INT = (
    "migration_port migration_bandwidth migration_downtime cpu_cap cpu_weight serial_speed"
    " spice_ip_version virtio_net_queues cpu_cores cpu_threads cpu_sockets"
    " kvm_pci_reservations num_ttys startup_timeout")
_HV_STR = (
    "kvm_path accel kernel_path initrd_path root_path kernel_args vnc_bind_address"
    " vnc_x509_path vnc_password_file spice_bind spice_password_file spice_image_compression"
    " spice_jpeg_wan_compression spice_zlib_glz_wan_compression spice_streaming_video"
    " spice_tls_ciphers floppy_image_path cdrom_image_path cdrom2_image_path boot_order"
    " nic_type disk_type scsi_controller_type disk_discard cdrom_disk_type usb_mouse keymap"
    " migration_mode disk_cache disk_aio security_model security_domain kvm_flag mem_path"
    " reboot_behavior cpu_mask cpu_type soundhw usb_devices vga kvm_extra machine_version"
    " migration_caps bootloader_path bootloader_args blockdev_prefix vif_script cpuid"
    " device_model pci_pass vif_type devices drop_capabilities extra_cgroups extra_config"
    " init_script xen_cmd")
HVPARAM_TYPES: dict[str, str] = {
    **dict.fromkeys(_HV_STR.split(), "str"),
    **dict.fromkeys(_HV_BOOL.split(), "bool"),
    **dict.fromkeys(_HV_INT.split(), "int"),
}
"""Every hypervisor parameter of every hypervisor and its type (Ganeti's HVS_PARAMETER_TYPES)."""

NICPARAM_KEYS = ("mac", "ip", "mode", "link", "name", "vlan", "bridge", "network")
INIC_TYPES = dict.fromkeys(NICPARAM_KEYS, "str")


def parameter_error(message: str) -> CliError:
    """Ganeti's text for a type enforcement failure."""
    return CliError(f"Parameter Error: {message}")


def _force_str(key: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is False or value is None:
        return ""
    raise parameter_error(f"'{key}' (value {value}) is not a valid string")


def _force_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in (None, ""):
        return False
    try:
        return parse_bool(str(value))
    except ParamError:
        raise parameter_error(f"'{key}' (value {value}) is not a valid boolean") from None


def _force_int(key: str, value: Any) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError(value)
        return int(value)
    except (TypeError, ValueError):
        raise parameter_error(f"'{key}' (value {value}) is not a valid integer") from None


_FORCERS = {"str": _force_str, "bool": _force_bool, "int": _force_int}


def force_types(params: Any, types: dict[str, str], allow_default: bool = False
                ) -> dict[str, Any]:
    """A copy of ``params`` with values converted to ``types``; unknown keys are refused."""
    if not isinstance(params, dict):
        raise parameter_error(f"Expected dictionary, got '{params}'")
    result: dict[str, Any] = {}
    for key, value in params.items():
        kind = types.get(key)
        if kind is None:
            raise parameter_error(f"Unknown parameter '{key}'")
        if allow_default and isinstance(value, str) and value.lower() == VALUE_DEFAULT:
            result[key] = VALUE_DEFAULT
        else:
            result[key] = _FORCERS[kind](key, value)
    return result


def hvparams_dict(params: Any, allow_default: bool = False) -> dict[str, Any]:
    """Hypervisor parameters with Ganeti's types; ``usb_devices`` may use spaces."""
    result = force_types(params, HVPARAM_TYPES, allow_default)
    if isinstance(result.get("usb_devices"), str):
        result["usb_devices"] = result["usb_devices"].replace(" ", ",")
    return result


def beparams_dict(params: Any, allow_default: bool = False) -> dict[str, Any]:
    """Backend parameters with Ganeti's types (``memory`` sets both minmem and maxmem)."""
    if params is None:
        return {}
    unknown = [key for key in params if key not in BEPARAM_TYPES]
    if unknown:
        raise parameter_error(f"Unknown parameter '{unknown[0]}'")
    defaults = {k: VALUE_DEFAULT for k, v in params.items()
                if allow_default and isinstance(v, str) and v.lower() == VALUE_DEFAULT}
    given = {k: v for k, v in params.items() if k not in defaults}
    try:
        converted = coerce_params("backend", given, BEPARAM_TYPES)
    except ParamError as err:
        raise parameter_error(str(err)) from None
    return {**converted, **defaults}


def hypervisor_option(value: Any) -> tuple[str | None, dict[str, Any]]:
    """``-H hv[:k=v,…]`` of ``add``: (hypervisor, its parameters)."""
    if value is None:
        return None, {}
    name, params = value
    if name not in HYPERVISORS:
        raise UsageError(f"Error: Unknown hypervisor '{name}' (one of {', '.join(HYPERVISORS)})")
    return name, hvparams_dict(params)


def split_node(value: str | None) -> tuple[str | None, str | None]:
    """``pnode[:snode]`` → (pnode, snode)."""
    if value is None:
        return None, None
    pnode, sep, snode = value.partition(":")
    return pnode, (snode if sep else None)


def _index(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise UsageError(f"Error: Invalid {what} index passed: '{text}'")
    return value


def _disk_size(idx: Any, value: Any) -> int:
    try:
        return parse_unit(value)
    except ParamError as err:
        raise UsageError(f"Error: Invalid disk size for disk {idx}: {err}") from None


def _spindles(idx: Any, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UsageError(f"Error: Invalid spindles for disk {idx}: '{value}'") from None


def _disk_numbers(idx: Any, ddict: dict[str, Any]) -> dict[str, Any]:
    result = dict(ddict)
    if "size" in result:
        result["size"] = _disk_size(idx, result["size"])
    if "spindles" in result:
        result["spindles"] = _spindles(idx, result["spindles"])
    return result


def _new_disk(idx: int, ddict: Any, importing: bool) -> dict[str, Any]:
    if not isinstance(ddict, dict):
        raise UsageError(f"Error: Invalid disk/{idx} value: expected dict, got {ddict}")
    if "size" in ddict and "adopt" in ddict:
        raise UsageError(f"Error: Only one of 'size' and 'adopt' allowed (disk {idx})")
    if "adopt" in ddict:
        if "spindles" in ddict:
            raise UsageError("Error: spindles is not a valid option when adopting a disk")
        if importing:
            raise UsageError("Error: Disk adoption not allowed for instance import")
        return {**ddict, "size": 0}
    if "size" not in ddict:
        raise UsageError(f"Error: Missing size or adoption source for disk {idx}")
    return _disk_numbers(idx, ddict)


def creation_disks(template: str | None, entries: list[tuple[str, Any]],
                   os_size: int | None, importing: bool = False) -> list[dict[str, Any]]:
    """The ``disks`` of a new instance from ``--disk`` (or ``-s``) options."""
    if template == "diskless":
        if entries or os_size is not None:
            raise UsageError("Error: Diskless instance but disk information passed")
        return []
    if not entries and os_size is None and not importing:
        raise UsageError("Error: No disk information specified")
    if entries and os_size is not None:
        raise UsageError("Error: Please use either the '--disk' or '-s' option")
    if os_size is not None:
        return [{"size": os_size}]
    indexed = {_index(ident, "disk"): ddict for ident, ddict in entries}
    disks: list[dict[str, Any]] = [{} for _ in range(max(indexed, default=-1) + 1)]
    for idx, ddict in indexed.items():
        disks[idx] = _new_disk(idx, ddict, importing)
    return disks


def creation_nics(entries: list[tuple[str, Any]], no_nics: bool, importing: bool = False
                  ) -> list[dict[str, Any]]:
    """The ``nics`` of a new instance: ``--net`` options, none, or one NIC with defaults."""
    if not entries:
        return [] if no_nics or importing else [{}]
    indexed = {_index(ident, "NIC"): ndict for ident, ndict in entries}
    nics: list[dict[str, Any]] = [{} for _ in range(max(indexed) + 1)]
    for idx, ndict in indexed.items():
        if not isinstance(ndict, dict):
            raise UsageError(f"Error: Invalid nic/{idx} value: expected dict, got {ndict}")
        nics[idx] = force_types(ndict, INIC_TYPES)
    return nics


def _action(params: dict[str, Any]) -> str:
    """Pop the action keys (``add``, ``remove``, …) of a modification and return the action."""
    found = [action for action in DDM_ACTIONS if params.pop(action, None) is not None]
    if not found:
        return DDM_MODIFY
    if len(found) == 1:
        return found[0]
    if DDM_MODIFY in found:
        raise UsageError("Error: Cannot modify and add/remove at the same time")
    if set(found) == {DDM_ADD, DDM_REMOVE}:
        raise UsageError("Error: Cannot add and remove at the same time")
    raise UsageError(f"Error: Cannot {' and '.join(found)} at the same time")


def _target(ident: str) -> int | str:
    try:
        return int(ident)
    except ValueError:
        return ident


def _modification(ident: str, params: Any, opt: str) -> list[Any]:
    if not isinstance(params, dict):
        raise UsageError(f"Error: Invalid {opt} value '{ident}': expected parameters")
    params = dict(params)
    target: int | str
    if ident in (DDM_ADD, DDM_REMOVE):
        action, target = ident, -1
    else:
        action, target = _action(params), _target(ident)
    if action in (DDM_REMOVE, DDM_DETACH) and params:
        raise UsageError("Error: Not accepting parameters on removal")
    return [action, target, params]


def disk_modifications(entries: list[tuple[str, Any]]) -> list[list[Any]]:
    """``--disk`` options of ``modify`` as Ganeti's ``[[action, index or name, params]]``."""
    mods = [_modification(ident, params, "--disk") for ident, params in entries]
    for action, target, params in mods:
        if action == DDM_ADD and "size" not in params:
            raise UsageError("Error: Missing required parameter 'size'")
        params.update(_disk_numbers(target, params))
    return mods


def nic_modifications(entries: list[tuple[str, Any]]) -> list[list[Any]]:
    """``--net`` options of ``modify`` as Ganeti's ``[[action, index or name, params]]``."""
    mods = [_modification(ident, params, "--net") for ident, params in entries]
    return [[action, target, force_types(params, INIC_TYPES)] for action, target, params in mods]


def recreate_disks(entries: list[tuple[str, Any]]) -> list[list[Any]]:
    """``--disk N[:params]`` of ``recreate-disks`` as ``[[index, params], …]``."""
    result: list[list[Any]] = []
    for ident, ddict in entries:
        idx = _index(ident, "disk")
        if not isinstance(ddict, dict):
            raise UsageError(f"Error: Invalid disk/{idx} value: expected dict, got {ddict}")
        result.append([idx, _disk_numbers(idx, ddict)])
    return result
