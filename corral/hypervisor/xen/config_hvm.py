"""The settings of a fully virtualised (``xen-hvm``) domain, in Ganeti's order.

Ganeti's lines, in xl's spelling where xm's differ: ``firmware_override`` for
kernel_path (xl reads ``kernel`` on HVM as a guest kernel to boot directly, not as the
loader), ``type = 'hvm'`` (xm's ``builder``), ``device_model_override`` (xl
ignores ``device_model``); the rest as Ganeti writes them: pae/acpi/viridian/apic,
``boot``, no SDL, a USB tablet, VNC on ``vnclisten`` with the display of the
instance's network port (else any free one) and the password, a pty serial line,
``localtime``, vifs with their model, disks plus the CD-ROM, ``pci`` (pci_pass split
at ``;``), the events, cpuid and soundhw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from corral.errors import HypervisorError
from corral.hypervisor.params import HvKind
from corral.hypervisor.xen.config_common import (
    Setting,
    checked_hvparams,
    devices,
    events,
    identity,
    resources,
    tail,
)
from corral.hypervisor.xen.config_devices import cdrom_entry
from corral.hypervisor.xen.spec import XenDomainSpec

VNC_BASE_PORT = 5900
"""VNC display N listens on this port plus N."""
VNC_DEFAULT_BIND_ADDRESS = "0.0.0.0"


def _flags(hvp: Mapping[str, Any]) -> list[Setting]:
    return [("pae", int(bool(hvp["pae"]))), ("acpi", int(bool(hvp["acpi"]))),
            ("viridian", int(bool(hvp["viridian"]))), ("apic", 1)]


def _vnc(spec: XenDomainSpec, hvp: Mapping[str, Any], password: str) -> list[Setting]:
    """vnc, vnclisten, vncdisplay/vncunused and vncpasswd."""
    port = spec.network_port
    if port is not None and not 0 < port < 65536:
        raise HypervisorError(f"instance {spec.name}: VNC network port {port} is not a TCP "
                              "port (1-65535)")
    listen = str(hvp["vnc_bind_address"]) or VNC_DEFAULT_BIND_ADDRESS
    settings: list[Setting] = [("vnc", 1), ("vnclisten", listen)]
    if port is not None and port > VNC_BASE_PORT:
        settings += [("vncdisplay", port - VNC_BASE_PORT), ("vncunused", 0)]
    else:
        settings.append(("vncunused", 1))
    if "\n" in password.rstrip("\n"):
        raise HypervisorError("the VNC password file must hold a single line")
    return [*settings, ("vncpasswd", password.rstrip())]


def _disks(spec: XenDomainSpec, hvp: Mapping[str, Any]) -> tuple[str, ...]:
    iso = str(hvp["cdrom_image_path"])
    return (cdrom_entry(iso, spec.disks),) if iso else ()


def hvm_settings(spec: XenDomainSpec, vnc_password: str) -> list[Setting]:
    """Every setting of ``spec``'s HVM domain config.

    ``vnc_password`` is the content of ``vnc_password_file`` (read by the caller).

    Raises:
        HypervisorError: a bad parameter, disk, NIC or VNC port; the message names it.
    """
    hvp = checked_hvparams(HvKind.XEN_HVM, spec)
    settings: list[Setting] = [
        ("firmware_override", str(hvp["kernel_path"])), ("type", "hvm"),
        *resources(spec, hvp), *identity(spec), *_flags(hvp),
        ("device_model_override", str(hvp["device_model"])), ("boot", str(hvp["boot_order"])),
        ("sdl", 0), ("usb", 1), ("usbdevice", "tablet"), *_vnc(spec, hvp, vnc_password),
        ("serial", "pty"),
    ]
    if hvp["use_localtime"]:
        settings.append(("localtime", 1))
    settings += devices(spec, hvp, str(hvp["nic_type"]), _disks(spec, hvp))
    if hvp["pci_pass"]:
        settings.append(("pci", tuple(p.strip() for p in str(hvp["pci_pass"]).split(";")
                                      if p.strip())))
    return settings + events(hvp) + tail(hvp)
