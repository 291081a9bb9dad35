"""Parsers and checks of the ``lxc`` hypervisor's list parameters (no I/O, master-safe).

Ganeti keeps these parameters as comma-separated strings and checks none of them;
Corral parses them here once, so that the master refuses a malformed value and
the driver renders the container configuration from the parsed form.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from corral.hypervisor.paramspec import Check, Rule, parse_cpu_list

CAPABILITIES = frozenset({
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid",
    "setuid", "setpcap", "linux_immutable", "net_bind_service", "net_broadcast",
    "net_admin", "net_raw", "ipc_lock", "ipc_owner", "sys_module", "sys_rawio",
    "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
    "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write",
    "audit_control", "setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
    "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
})
"""Linux capability names as LXC's ``lxc.cap.drop`` takes them (lower case, no ``cap_``)."""

_DEVICE = re.compile(r"(?P<kind>[abc]) (?P<major>\d+|\*):(?P<minor>\d+|\*) (?P<access>[rwm]+)")
_CONTROLLER = re.compile(r"[a-z][a-z0-9_]*")
_EXTRA_LINE = re.compile(r"(?P<key>lxc\.[a-z0-9_]+(?:\.[a-z0-9_]+)*)\s*=\s*(?P<value>.*)")


@dataclass(frozen=True, slots=True)
class DeviceRule:
    """One ``devices`` entry: the cgroup device rule ``KIND MAJOR:MINOR ACCESS``."""

    kind: str
    major: str
    minor: str
    access: str

    def __str__(self) -> str:
        return f"{self.kind} {self.major}:{self.minor} {self.access}"


def split_list(text: str) -> list[str]:
    """Comma-separated items, stripped; empty items dropped."""
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_devices(text: str) -> list[DeviceRule]:
    """``"c 1:3 rw,c 136:* rwm"`` → rules; ``a`` alone stands for every device.

    Raises:
        ValueError: an entry is not ``TYPE MAJOR:MINOR ACCESS`` (type a, b or c; access
            made of r, w and m).
    """
    rules = []
    for item in split_list(text):
        if item == "a":  # every device
            rules.append(DeviceRule("a", "*", "*", "rwm"))
            continue
        match = _DEVICE.fullmatch(" ".join(item.split()))
        if match is None or len(set(match["access"])) != len(match["access"]):
            raise ValueError(f"invalid device rule {item!r}")
        rules.append(DeviceRule(match["kind"], match["major"], match["minor"], match["access"]))
    return rules


def parse_capabilities(text: str) -> list[str]:
    """Capability names, lower case without ``cap_``.

    Raises:
        ValueError: an unknown capability.
    """
    caps = []
    for item in split_list(text):
        name = item.lower().removeprefix("cap_")
        if name not in CAPABILITIES:
            raise ValueError(f"unknown capability {item!r}")
        caps.append(name)
    return caps


def parse_controllers(text: str) -> list[str]:
    """Cgroup controller names (``memory``, ``net_cls``, …).

    Raises:
        ValueError: a name that cannot be a controller.
    """
    names = split_list(text)
    for name in names:
        if _CONTROLLER.fullmatch(name) is None:
            raise ValueError(f"invalid cgroup controller name {name!r}")
    return names


def parse_extra_config(text: str) -> list[tuple[str, str]]:
    """``"lxc.a = 1,lxc.b = x"`` → ``[("lxc.a", "1"), ("lxc.b", "x")]``.

    Raises:
        ValueError: an item is not ``lxc.KEY = VALUE``, or sets the root file system
            (Corral mounts the instance's disk there).
    """
    lines = []
    for item in split_list(text):
        match = _EXTRA_LINE.fullmatch(item)
        if match is None:
            raise ValueError(f"invalid configuration line {item!r}")
        if match["key"].startswith("lxc.rootfs"):
            raise ValueError(f"{match['key']} is set by Corral (the instance's disk)")
        lines.append((match["key"], match["value"].strip()))
    return lines


def parse_lxc_cpus(text: str) -> list[int]:
    """A plain CPU list (``"0-1,3"``), as a container's cpuset takes it.

    Raises:
        ValueError: malformed list, or a per-vCPU mask with ``:`` or ``all``.
    """
    if ":" in text or "all" in text:
        raise ValueError("containers take one CPU list, not per-vCPU masks")
    return parse_cpu_list(text)


def _parses(parser: Callable[[str], object], message: str) -> Rule:
    """An optional parameter whose value ``parser`` must accept."""
    def test(value: str) -> bool:
        try:
            parser(value)
        except ValueError:
            return False
        return True
    return Rule(False, Check(test, message))


LXC_DEVICES = _parses(parse_devices, "must be comma-separated device rules like 'c 1:3 rw' "
                      "(type a, b or c; MAJOR:MINOR numbers or '*'; access of r, w, m)")
LXC_CAPABILITIES = _parses(parse_capabilities,
                           "must be comma-separated Linux capability names like 'sys_admin'")
LXC_CONTROLLERS = _parses(parse_controllers,
                          "must be comma-separated cgroup controller names like 'net_cls'")
LXC_EXTRA_CONFIG = _parses(parse_extra_config, "must be comma-separated lines "
                           "'lxc.KEY = VALUE' (lxc.rootfs.* is set by Corral)")
LXC_CPU_LIST = _parses(parse_lxc_cpus,
                       "must be a CPU list like '0-1,3' (containers have no per-vCPU masks)")
