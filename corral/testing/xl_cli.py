"""Command-line side of the ``xl`` simulator: config files, output formats, messages.

Formats follow Xen 4.17's xl (``tools/xl``): ``xl list`` is ``%-40s %5d %5lu %5d``
then six state letters and ``%8.1f`` seconds; ``xl info`` is ``%-23s: %s`` per key;
``xl uptime`` is ``%-33s %4d %s``. The recorded samples in ``tests/data/xen/``
are checked against these functions.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from corral.hypervisor.xen.config import XlSyntaxError, read_config_settings
from corral.process import CommandResult
from corral.testing.xl_model import DOM0, Domain, XlHost

EXIT_FAILURE = 1
LIST_HEADER = "Name                                        ID   Mem VCPUs\tState\tTime(s)"
UPTIME_HEADER = f"{'Name':<33s} {'ID':>4s} Uptime"
XEN_VERSION = (4, 17, ".3")


@dataclass
class Outcome:
    """What a simulated command prints and returns."""

    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    code: int = 0

    def out(self, line: str) -> Outcome:
        self.stdout.append(line)
        return self

    def err(self, line: str, code: int | None = None) -> Outcome:
        self.stderr.append(line)
        if code is not None:
            self.code = code
        return self

    def result(self, argv: Sequence[str]) -> CommandResult:
        def text(lines: list[str]) -> str:
            return "".join(line + "\n" for line in lines)
        return CommandResult(tuple(argv), self.code, text(self.stdout), text(self.stderr))


class XlError(Exception):
    """A failure printed on stderr with exit status 1."""

    def __init__(self, *lines: str) -> None:
        super().__init__(lines[0] if lines else "xl failed")
        self.lines = list(lines)


# --- domain config files -------------------------------------------------------------

def parse_config(text: str, path: str) -> dict[str, object]:
    """An xl domain config file as a dict (strings, numbers, lists of strings), read with
    the xl syntax reader the driver uses (:func:`read_config_settings`).

    Raises:
        XlError: a syntax error, printed as xl prints it.
    """
    try:
        settings = read_config_settings(text)
    except XlSyntaxError as err:
        where = _WHERE.match(str(err))
        if where is None:
            raise _syntax(path, 1, str(err)) from None
        near = where.group(2).strip("'\"").split("\\")[0]  # the token, not its repr
        raise _syntax(path, int(where.group(1)), near) from None
    return {key: [str(item) for item in value] if isinstance(value, tuple) else value
            for key, value in settings.items()}


_WHERE = re.compile(r"line (\d+): config parsing error near (.*?)(?::|$)")
"""Line and token of a syntax error of the xl reader."""


def _syntax(path: str, number: int, near: str) -> XlError:
    token = near.split()[0] if near.split() else near
    return XlError(f"{path}:{number}: config parsing error near `{token}': syntax error",
                   "Failed to parse config: Invalid argument")


# --- outputs -------------------------------------------------------------------------

def state_letters(dom: Domain | None, crashed: bool = False) -> str:
    """The six letters r b p s c d (``None``: Domain-0, always running)."""
    if dom is None:
        return "r-----"
    if crashed:
        return "---sc-"
    if dom.shut:
        return "---s--"
    return "--p---" if dom.paused else "-b----"


def list_line(name: str, domid: int, memory: int, vcpus: int, state: str, cpu: float) -> str:
    return f"{name:<40s} {domid:5d} {memory:5d} {vcpus:5d}     {state}  {cpu:8.1f}"


def dom0_cpu(host: XlHost, now: float) -> float:
    return max(now - host.booted, 0.0) * 0.05 * host.nr_cpus


def list_lines(host: XlHost, domains: Sequence[Domain], now: float, dom0: bool) -> list[str]:
    lines = [LIST_HEADER]
    if dom0:
        lines.append(list_line(DOM0, 0, host.dom0_memory, host.nr_cpus, state_letters(None),
                               dom0_cpu(host, now)))
    lines.extend(list_line(dom.name, dom.domid, dom.memory, dom.vcpus, state_letters(dom),
                           dom.cpu_now(now)) for dom in sorted(domains, key=lambda d: d.domid))
    return lines


def list_json(host: XlHost, domains: Sequence[Domain], dom0: bool) -> str:
    """``xl list -l``: the libxl domain configurations as a JSON array (abbreviated)."""
    entries: list[dict[str, object]] = []
    if dom0:
        entries.append({"domid": 0, "config": {
            "c_info": {"type": "pv", "name": DOM0},
            "b_info": {"max_vcpus": host.nr_cpus, "max_memkb": host.dom0_memory * 1024,
                       "target_memkb": host.dom0_memory * 1024}}})
    entries.extend({"domid": dom.domid, "config": domain_json(dom)}
                   for dom in sorted(domains, key=lambda d: d.domid))
    return json.dumps(entries, indent=4)


def domain_json(dom: Domain) -> dict[str, object]:
    cfg = dom.config
    b_info: dict[str, object] = {
        "max_vcpus": dom.max_vcpus, "avail_vcpus": list(range(dom.vcpus)),
        "max_memkb": dom.maxmem * 1024, "target_memkb": dom.memory * 1024,
        "type.pv" if dom.kind == "pv" else "type.hvm": _type_info(dom)}
    return {"c_info": {"type": dom.kind, "name": dom.name, "uuid": dom.uuid},
            "b_info": b_info,
            "disks": [_disk_json(spec) for spec in _strings(cfg.get("disk"))],
            "nics": [_vif_json(spec) for spec in _strings(cfg.get("vif"))],
            "on_reboot": str(cfg.get("on_reboot", "restart"))}


def _type_info(dom: Domain) -> dict[str, object]:
    cfg = dom.config
    if dom.kind == "hvm":
        return {"boot": str(cfg.get("boot", "cd")), "acpi": bool(cfg.get("acpi", 1))}
    info = {"kernel": cfg.get("kernel"), "ramdisk": cfg.get("ramdisk"),
            "cmdline": cfg.get("extra"), "bootloader": cfg.get("bootloader")}
    return {k: v for k, v in info.items() if v}


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _disk_json(spec: str) -> dict[str, object]:
    target, vdev, access = [*spec.split(","), "", "", ""][:3]
    backend, _, path = target.rpartition(":")
    return {"pdev_path": path, "vdev": vdev, "backend": backend or "phy",
            "readwrite": 0 if access == "r" else 1}


def _vif_json(spec: str) -> dict[str, object]:
    pairs = dict(part.strip().partition("=")[::2] for part in spec.split(",") if part.strip())
    return {k: v for k, v in (("mac", pairs.get("mac")), ("ip", pairs.get("ip")),
                              ("bridge", pairs.get("bridge")), ("model", pairs.get("model")),
                              ("script", pairs.get("script"))) if v}


def info_lines(host: XlHost, now: float) -> list[str]:
    """``xl info``: every key Xen 4.17 prints, in its order."""
    major, minor, extra = XEN_VERSION
    uname = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(host.booted))
    pairs = [
        ("host", host.name), ("release", "6.1.0-13-amd64"),
        ("version", f"#1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 ({uname})"),
        ("machine", "x86_64"), ("nr_cpus", host.nr_cpus), ("max_cpu_id", host.nr_cpus - 1),
        ("nr_nodes", host.nr_nodes), ("cores_per_socket", host.cores_per_socket),
        ("threads_per_core", host.threads_per_core), ("cpu_mhz", "2394.374"),
        ("hw_caps", "178bf3ff:f6d8320b:2e500800:244037ff:0000000f:219c01a9:00400004:00000780"),
        ("virt_caps", "pv hvm hvm_directio pv_directio hap shadow iommu_hap_pt_share gnttab-v1"),
        ("total_memory", host.total_memory), ("free_memory", host.free_memory()),
        ("sharing_freed_memory", 0), ("sharing_used_memory", 0), ("outstanding_claims", 0),
        ("free_cpus", 0), ("xen_major", major), ("xen_minor", minor), ("xen_extra", extra),
        ("xen_version", f"{major}.{minor}{extra}"),
        ("xen_caps", "xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64"),
        ("xen_scheduler", "credit2"), ("xen_pagesize", 4096),
        ("platform_params", "virt_start=0xffff800000000000"), ("xen_changeset", ""),
        ("xen_commandline", f"placeholder dom0_mem={host.dom0_memory}M,max:"
                            f"{host.dom0_memory}M no-real-mode edd=off"),
        ("cc_compiler", "x86_64-linux-gnu-gcc (Debian 12.2.0-14) 12.2.0"),
        ("cc_compile_by", "pkg-xen-devel"), ("cc_compile_domain", "lists.alioth.debian.org"),
        ("cc_compile_date", "Fri Nov 24 10:41:03 UTC 2023"),
        ("build_id", "9b3b8a5b3c1e1c0d2f0f4b0e8a7c6d5e4f3a2b1c"),
        ("xend_config_format", 4),
    ]
    return [f"{key:<23s}: {value}".rstrip() for key, value in pairs]


def uptime_text(seconds: float) -> str:
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:2d}:{minutes:02d}:{secs:02d}"
    if days:
        return f"{days} day{'s' if days > 1 else ''}, {clock}"
    return clock


def uptime_lines(host: XlHost, domains: Sequence[Domain], now: float, dom0: bool) -> list[str]:
    lines = [UPTIME_HEADER]
    if dom0:
        lines.append(f"{DOM0:<33s} {0:4d} {uptime_text(now - host.booted)}")
    lines.extend(f"{dom.name:<33s} {dom.domid:4d} {uptime_text(now - dom.created)}"
                 for dom in sorted(domains, key=lambda d: d.domid))
    return lines


def parse_memory_mib(text: str) -> int | None:
    """``xl mem-set`` sizes: a number with an optional b/k/m/g/t suffix (default MiB)."""
    match = re.fullmatch(r"(\d+)([bBkKmMgGtT]?)", text)
    if match is None:
        return None
    factor = {"": 1.0, "b": 1 / 1048576, "k": 1 / 1024, "m": 1.0, "g": 1024.0,
              "t": 1048576.0}[match.group(2).lower()]
    return int(int(match.group(1)) * factor)


def invalid_domain(name: str) -> XlError:
    return XlError(f"{name} is an invalid domain identifier (rc=-6)")
