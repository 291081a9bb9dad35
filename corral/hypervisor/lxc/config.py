"""The container configuration Corral writes for an ``lxc`` instance (pure, no I/O).

Keys are LXC 3+ names (``lxc.uts.name``, ``lxc.rootfs.path``, ``lxc.net.N.*``);
Ganeti's driver wrote the LXC 1.x names, which LXC 5 refuses. What goes in:

- the root file system: the instance's disk, mounted by Corral on the node;
- ``/proc``, ``/sys`` and the container's cgroups (LXC's ``mixed`` modes), tmpfs
  on ``/run``, ``/run/lock`` and ``/dev/shm`` (a guest without ``sys_admin``, as
  Ganeti's default ``drop_capabilities`` has it, cannot mount them itself; systemd
  boots then), a private ``/dev`` with ``num_ttys`` ttys, the console logged to a
  file and also reachable as ``/dev/ttyS0`` (so guests built for a serial console
  get their shell on it);
- cgroup limits: memory (``maxmem``; memory+swap too where the node accounts it),
  CPUs as a cpuset from ``cpu_mask`` or else a CFS quota of ``vcpus`` CPUs, device
  rules (deny all, allow ``devices``) — see :mod:`.cgroups`;
- one veth per NIC on the NIC's bridge with its MAC (no NIC: loopback only);
- ``drop_capabilities`` and the ``extra_config`` lines, last so they can override.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from corral.errors import HypervisorError
from corral.hypervisor.base import InstanceSpec, NicSpec
from corral.hypervisor.lxc.cgroups import CgroupSystem, limit_lines
from corral.hypervisor.paramspec_lxc import (
    parse_capabilities,
    parse_devices,
    parse_extra_config,
    parse_lxc_cpus,
)
from corral.objects.instance import NicMode

SERIAL_LINK_HOOK = "sh -c 'ln -sf console \"$LXC_ROOTFS_MOUNT/dev/ttyS0\"'"
"""Autodev hook: ``/dev/ttyS0`` points at the container's console."""


RUNTIME_MOUNTS = (
    "lxc.mount.entry = tmpfs run tmpfs rw,nosuid,nodev,mode=755,create=dir 0 0",
    "lxc.mount.entry = tmpfs run/lock tmpfs rw,nosuid,nodev,noexec,size=5m,create=dir 0 0",
    "lxc.mount.entry = tmpfs dev/shm tmpfs rw,nosuid,nodev,mode=1777,create=dir 0 0",
)
"""Mounted for the guest, which cannot mount them itself without ``sys_admin``."""


@dataclass(frozen=True, slots=True)
class ContainerPaths:
    """Host paths the configuration refers to."""

    rootfs: Path
    console_log: Path


def _param(spec: InstanceSpec, name: str, default: str = "") -> str:
    value = spec.hvparams.get(name, default)
    return "" if value is None else str(value)


def container_cpus(spec: InstanceSpec) -> list[int] | None:
    """The cpuset from ``cpu_mask`` (None: no mask), one CPU per vCPU.

    Raises:
        HypervisorError: the mask is malformed or its CPU count is not ``vcpus``.
    """
    mask = _param(spec, "cpu_mask")
    if not mask:
        return None
    try:
        cpus = sorted(set(parse_lxc_cpus(mask)))
    except ValueError as err:
        raise HypervisorError(f"hypervisor parameter 'cpu_mask': {err}") from err
    if len(cpus) != spec.vcpus:
        raise HypervisorError(f"number of vCPUs ({spec.vcpus}) does not match the number of "
                              f"CPUs in the cpu_mask ({len(cpus)})")
    return cpus


def nic_lines(index: int, nic: NicSpec) -> list[str]:
    """A veth on the NIC's bridge.

    Raises:
        HypervisorError: the NIC is not bridged, or has no bridge.
    """
    if nic.mode != NicMode.BRIDGED:
        raise HypervisorError(f"the lxc hypervisor only supports bridged NICs "
                              f"(NIC {index} has mode {nic.mode})")
    if not nic.link:
        raise HypervisorError(f"NIC {index} ({nic.mac}): bridged mode needs a bridge (link)")
    key = f"lxc.net.{index}"
    lines = [f"{key}.type = veth", f"{key}.link = {nic.link}", f"{key}.hwaddr = {nic.mac}",
             f"{key}.name = eth{index}", f"{key}.flags = up"]
    if nic.tap:
        lines.append(f"{key}.veth.pair = {nic.tap}")
    return lines


def render_config(spec: InstanceSpec, paths: ContainerPaths, system: CgroupSystem) -> str:
    """The configuration file text for ``spec``.

    Raises:
        HypervisorError: a parameter does not fit (cpu_mask against vcpus, a NIC mode,
            a malformed list parameter); the message names it.
    """
    try:
        devices = parse_devices(_param(spec, "devices"))
        caps = parse_capabilities(_param(spec, "drop_capabilities"))
        extra = parse_extra_config(_param(spec, "extra_config"))
    except ValueError as err:
        raise HypervisorError(f"lxc hypervisor parameters of {spec.name}: {err}") from err
    ttys = int(spec.hvparams.get("num_ttys", 6))
    lines = [
        f"# LXC container of the Corral instance {spec.name}; written at each start",
        f"lxc.uts.name = {spec.name}",
        f"lxc.rootfs.path = dir:{paths.rootfs}",
        "lxc.autodev = 1",
        "lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed",
        *RUNTIME_MOUNTS,
        f"lxc.hook.autodev = {SERIAL_LINK_HOOK}",
        "lxc.pty.max = 255",
        *([f"lxc.tty.max = {ttys}"] if ttys > 0 else []),
        f"lxc.console.logfile = {paths.console_log}",
        "# cgroup limits",
        *limit_lines(system, spec.memory_mib, container_cpus(spec), spec.vcpus, devices),
    ]
    for index, nic in enumerate(spec.nics):
        lines.append(f"# NIC {index}")
        lines.extend(nic_lines(index, nic))
    if not spec.nics:
        lines.append("lxc.net.0.type = empty")
    if caps:
        lines.append("lxc.cap.drop = " + " ".join(caps))
    if extra:
        lines.append("# extra_config")
        lines.extend(f"{key} = {value}" for key, value in extra)
    return "\n".join(lines) + "\n"
