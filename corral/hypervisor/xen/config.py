"""Placeholder of the xl domain config writer/reader (replaced by the full module)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from corral.hypervisor.params import HvKind
from corral.hypervisor.xen.spec import XenDomainSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedDomainConfig:
    """What a domain config file says (the fields the driver reads back)."""

    name: str
    memory: int
    vcpus: int
    kernel: str = ""
    disks: tuple[str, ...] = ()
    vifs: tuple[str, ...] = ()
    extra: dict[str, object] = field(default_factory=dict)


def render_domain_config(kind: HvKind, spec: XenDomainSpec) -> str:
    """The text of the domain config file of ``spec``."""
    hv = spec.hvparams
    lines = [f"name = '{spec.name}'", f"uuid = '{spec.uuid}'", f"memory = {spec.memory_mib}",
             f"maxmem = {spec.max_memory_mib}", f"vcpus = {spec.vcpus}"]
    if kind == HvKind.XEN_HVM:
        lines += ["builder = 'hvm'", f"kernel = '{hv.get('kernel_path', '')}'",
                  f"boot = '{hv.get('boot_order', 'cd')}'"]
    elif hv.get("use_bootloader"):
        lines.append(f"bootloader = '{hv.get('bootloader_path', '')}'")
    else:
        lines += [f"kernel = '{hv.get('kernel_path', '')}'",
                  f"extra = 'root={hv.get('root_path', '')} {hv.get('kernel_args', '')}'"]
    disks = ", ".join(f"'{d.backend}:{d.path},{d.vdev},{d.access}'" for d in spec.disks)
    vifs = ", ".join(f"'mac={n.mac}" + (f", bridge={n.link}'" if n.link else "'")
                     for n in spec.nics)
    lines += [f"disk = [{disks}]", f"vif = [{vifs}]", "on_reboot = 'restart'"]
    return "\n".join(lines) + "\n"


def parse_domain_config(text: str) -> ParsedDomainConfig:
    """Read back a file written by :func:`render_domain_config`."""
    values: dict[str, object] = {}
    for line in text.splitlines():
        key, sep, raw = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            values[key.strip()] = ast.literal_eval(raw.strip())
    return ParsedDomainConfig(
        name=str(values.get("name", "")), memory=int(str(values.get("memory", 0))),
        vcpus=int(str(values.get("vcpus", 1))), kernel=str(values.get("kernel", "")),
        disks=tuple(map(str, values.get("disk", []) or [])),  # type: ignore[call-overload]
        vifs=tuple(map(str, values.get("vif", []) or [])),  # type: ignore[call-overload]
        extra=values)
