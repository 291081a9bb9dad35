"""The settings of a paravirtual (``xen-pvm``) domain, in Ganeti's order.

Ganeti's lines, in xl's spelling: ``type = 'pv'``; the kernel (``kernel``,
``ramdisk``) or the bootloader (``bootloader``, ``bootloader_args`` split at
whitespace: xl's list form of Ganeti's ``bootargs``); resources; name and uuid;
vifs and disks; ``root``; the events; ``extra`` (kernel_args); cpuid and soundhw.
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
from corral.hypervisor.xen.spec import XenDomainSpec


def _boot(hvp: Mapping[str, Any]) -> list[Setting]:
    if not hvp["use_bootloader"]:
        settings: list[Setting] = [("kernel", str(hvp["kernel_path"]))]
        if hvp["initrd_path"]:
            settings.append(("ramdisk", str(hvp["initrd_path"])))
        return settings
    if not hvp["bootloader_path"]:
        raise HypervisorError("hypervisor parameter 'bootloader_path' is required when "
                              "use_bootloader is true")
    settings = [("bootloader", str(hvp["bootloader_path"]))]
    args = str(hvp["bootloader_args"]).split()
    if args:
        settings.append(("bootloader_args", tuple(args)))
    return settings


def pv_settings(spec: XenDomainSpec) -> list[Setting]:
    """Every setting of ``spec``'s PV domain config.

    Raises:
        HypervisorError: a bad parameter, disk or NIC; the message names it.
    """
    hvp = checked_hvparams(HvKind.XEN_PVM, spec)
    settings: list[Setting] = [("type", "pv"), *_boot(hvp), *resources(spec, hvp),
                               *identity(spec), *devices(spec, hvp, None)]
    if hvp["root_path"]:
        settings.append(("root", str(hvp["root_path"])))
    settings += events(hvp)
    settings.append(("extra", str(hvp["kernel_args"])))
    return settings + tail(hvp)
