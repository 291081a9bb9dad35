"""Settings PV and HVM domain configs share: resources, CPU pinning, events, cpuid, sound.

Each builder returns ``(name, value)`` settings in the order Ganeti writes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from corral.errors import HypervisorError, ParameterError
from corral.hypervisor.params import HvKind, check_syntax, parse_cpu_mask
from corral.hypervisor.xen.config_devices import disk_entry, vif_entry
from corral.hypervisor.xen.config_values import XlValue, cpuid_value
from corral.hypervisor.xen.spec import XenDomainSpec

Setting = tuple[str, XlValue]

_UUID_HEX = frozenset("0123456789abcdefABCDEF")
_CPUID_FORMS = ("must be a libxl string starting with 'host' or an xl list of strings like "
                "['1:ecx=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx1']")


def checked_hvparams(kind: HvKind, spec: XenDomainSpec) -> dict[str, Any]:
    """The spec's hvparams coerced and syntax-checked against ``kind``'s table.

    Raises:
        HypervisorError: an unknown, missing or invalid parameter (named), memory,
            vCPUs or uuid out of range, or a CPU mask that does not fit the vCPUs.
    """
    try:
        hvp = check_syntax(kind, spec.hvparams, complete=True)
    except ParameterError as err:
        raise HypervisorError(f"instance {spec.name}: {err}") from err
    _check_resources(spec)
    masks = parse_cpu_mask(str(hvp.get("cpu_mask") or "all"))
    if len(masks) > 1 and len(masks) != spec.vcpus:
        raise HypervisorError(f"instance {spec.name}: hypervisor parameter 'cpu_mask' has "
                              f"{len(masks)} per-vCPU masks but the instance has "
                              f"{spec.vcpus} vCPUs")
    return hvp


def _check_resources(spec: XenDomainSpec) -> None:
    if spec.memory_mib < 1:
        raise HypervisorError(f"instance {spec.name}: memory must be at least 1 MiB, "
                              f"got {spec.memory_mib}")
    if spec.max_memory_mib < spec.memory_mib:
        raise HypervisorError(f"instance {spec.name}: maxmem ({spec.max_memory_mib} MiB) is "
                              f"below memory ({spec.memory_mib} MiB)")
    if spec.vcpus < 1:
        raise HypervisorError(f"instance {spec.name}: vcpus must be at least 1, "
                              f"got {spec.vcpus}")
    if spec.uuid and not _is_uuid(spec.uuid):
        raise HypervisorError(f"instance {spec.name}: invalid uuid {spec.uuid!r}")


def _is_uuid(text: str) -> bool:
    groups = text.split("-")
    return ([len(g) for g in groups] == [8, 4, 4, 4, 12]
            and all(set(g) <= _UUID_HEX for g in groups))


def cpus_setting(cpu_mask: str) -> list[Setting]:
    """``cpus`` from Ganeti's (multi) CPU mask; nothing for ``all``.

    One mask pins every vCPU to the same CPUs (``cpus = '0,1,2'``); per-vCPU masks give a
    list (``cpus = ['1', '2,3', 'all']``).
    """
    masks = parse_cpu_mask(cpu_mask or "all")

    def shown(mask: tuple[int, ...] | None) -> str:
        return "all" if mask is None else ",".join(str(cpu) for cpu in mask)

    if len(masks) == 1:
        return [] if masks[0] is None else [("cpus", shown(masks[0]))]
    return [("cpus", tuple(shown(m) for m in masks))]


def resources(spec: XenDomainSpec, hvp: Mapping[str, Any]) -> list[Setting]:
    """memory, maxmem, vcpus, cpus, cpu_cap (if set), cpu_weight (if set)."""
    settings: list[Setting] = [("memory", spec.memory_mib), ("maxmem", spec.max_memory_mib),
                               ("vcpus", spec.vcpus), *cpus_setting(str(hvp["cpu_mask"]))]
    if hvp["cpu_cap"]:
        settings.append(("cpu_cap", int(hvp["cpu_cap"])))
    if hvp["cpu_weight"]:
        settings.append(("cpu_weight", int(hvp["cpu_weight"])))
    return settings


def identity(spec: XenDomainSpec) -> list[Setting]:
    """name and (when known) uuid."""
    if not spec.name or "\n" in spec.name:
        raise HypervisorError(f"invalid instance name {spec.name!r}")
    return [("name", spec.name), *([("uuid", spec.uuid)] if spec.uuid else [])]


def devices(spec: XenDomainSpec, hvp: Mapping[str, Any], nic_type: str | None,
            extra_disks: tuple[str, ...] = ()) -> list[Setting]:
    """vif and disk lists (``extra_disks`` after the instance's own, e.g. the CD-ROM)."""
    vifs = tuple(vif_entry(i, nic, hvp, nic_type) for i, nic in enumerate(spec.nics))
    disks = tuple(disk_entry(i, disk) for i, disk in enumerate(spec.disks))
    return [("vif", vifs), ("disk", disks + extra_disks)]


def events(hvp: Mapping[str, Any]) -> list[Setting]:
    """on_poweroff, on_reboot (from reboot_behavior), on_crash."""
    on_reboot = "restart" if hvp["reboot_behavior"] == "reboot" else "destroy"
    return [("on_poweroff", "preserve"), ("on_reboot", on_reboot), ("on_crash", "restart")]


def tail(hvp: Mapping[str, Any]) -> list[Setting]:
    """cpuid and soundhw, when set."""
    settings: list[Setting] = []
    if hvp["cpuid"]:
        try:
            settings.append(("cpuid", cpuid_value(str(hvp["cpuid"]))))
        except ValueError as err:
            raise HypervisorError(f"hypervisor parameter 'cpuid' {_CPUID_FORMS}: {err}") from err
    if hvp["soundhw"]:
        settings.append(("soundhw", str(hvp["soundhw"])))
    return settings


_XM_NAMES = {"firmware_override": "kernel", "device_model_override": "device_model"}


def xm_spelling(settings: list[Setting]) -> list[Setting]:
    """``settings`` as Ganeti writes them for ``xen_cmd=xm``: xm's names for the loader
    (``kernel``), device model and bootloader arguments (one string, ``bootargs``),
    ``builder = 'hvm'`` for ``type`` (and nothing for PV, xm's default builder)."""
    spelled: list[Setting] = []
    for name, value in settings:
        if name == "type":
            spelled += [("builder", value)] if value == "hvm" else []
        elif name == "bootloader_args" and isinstance(value, tuple):
            spelled.append(("bootargs", " ".join(str(v) for v in value)))
        else:
            spelled.append((_XM_NAMES.get(name, name), value))
    return spelled
