"""Cgroups as LXC containers use them: which hierarchy holds a controller, the limit
keys of the container config, and the figures read back from a running container.

A controller lives either on a legacy (v1) hierarchy or on the unified (v2) one;
LXC takes ``lxc.cgroup.<file>`` for the former and ``lxc.cgroup2.<file>`` for the
latter, and the file names differ (``memory.limit_in_bytes`` / ``memory.max``).
Parsers are pure; ``read_*`` helpers do blocking I/O (run them in a thread).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from corral.hypervisor.paramspec import parse_cpu_list
from corral.hypervisor.paramspec_lxc import DeviceRule

MIB = 1024 * 1024
CPU_PERIOD_US = 100_000
"""The CFS period of a container's CPU quota (its quota is ``vcpus`` times this)."""


@dataclass(frozen=True, slots=True)
class CgroupMount:
    """One mounted cgroup hierarchy: its root inside the hierarchy and where it is mounted."""

    root: str
    mount_point: str
    version: int
    controllers: frozenset[str]


@dataclass(frozen=True, slots=True)
class CgroupSystem:
    """What the node offers: controllers on legacy hierarchies, memory+swap accounting."""

    legacy: frozenset[str]
    memsw: bool = False

    def key(self, controller: str, v1_file: str, v2_file: str) -> str:
        """The container config key setting this limit on this node."""
        if controller in self.legacy:
            return f"lxc.cgroup.{v1_file}"
        return f"lxc.cgroup2.{v2_file}"


@dataclass(frozen=True, slots=True)
class CgroupFigures:
    """A running container's limits and usage, read from its cgroups."""

    memory_mib: int
    vcpus: int
    cpu_time_s: float


def parse_cgroup_mounts(mountinfo: str) -> list[CgroupMount]:
    """The cgroup and cgroup2 mounts of a ``/proc/<pid>/mountinfo`` text."""
    mounts = []
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        version = 2 if tail[0] == "cgroup2" else 1
        options = frozenset(tail[2].split(",")) if version == 1 else frozenset()
        mounts.append(CgroupMount(fields[3], fields[4], version, options))
    return mounts


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """``/proc/<pid>/cgroup`` as ``{controller: path}``; the unified hierarchy is ``""``."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[1] == "":
            paths[""] = parts[2]
        for controller in parts[1].split(","):
            if controller:
                paths[controller] = parts[2]
    return paths


def enabled_controllers(proc_cgroups: str) -> frozenset[str]:
    """Controllers the kernel has enabled, from ``/proc/cgroups``."""
    names = set()
    for line in proc_cgroups.splitlines():
        fields = line.split()
        if len(fields) >= 4 and not line.startswith("#") and fields[3] == "1":
            names.add(fields[0])
    return frozenset(names)


def system_from(mounts: list[CgroupMount], memsw: bool) -> CgroupSystem:
    legacy = frozenset().union(*(m.controllers for m in mounts if m.version == 1))
    return CgroupSystem(legacy=legacy, memsw=memsw)


def controller_dir(mounts: list[CgroupMount], paths: dict[str, str],
                   controller: str) -> Path | None:
    """The directory of a process's cgroup for ``controller`` (``""``: unified)."""
    legacy = [m for m in mounts if m.version == 1 and controller in m.controllers]
    candidates = legacy or [m for m in mounts if m.version == 2]
    key = controller if legacy else ""
    path = paths.get(key)
    if not candidates or path is None:
        return None
    mount = candidates[0]
    root = mount.root.rstrip("/")
    if root and not (path == root or path.startswith(root + "/")):
        return None
    return Path(mount.mount_point) / path[len(root):].lstrip("/")


# --- config lines ------------------------------------------------------------------------

def limit_lines(system: CgroupSystem, memory_mib: int, cpus: list[int] | None,
                vcpus: int, devices: list[DeviceRule]) -> list[str]:
    """``lxc.cgroup*`` lines: memory limit, CPUs (cpuset or CFS quota), device rules."""
    lines = [f"{system.key('memory', 'memory.limit_in_bytes', 'memory.max')} = {memory_mib}M"]
    if system.memsw and "memory" in system.legacy:
        lines.append(f"lxc.cgroup.memory.memsw.limit_in_bytes = {memory_mib}M")
    if cpus is not None:
        lines.append(f"{system.key('cpuset', 'cpuset.cpus', 'cpuset.cpus')} = "
                     + ",".join(str(c) for c in cpus))
    elif "cpu" in system.legacy:
        lines.append(f"lxc.cgroup.cpu.cfs_period_us = {CPU_PERIOD_US}")
        lines.append(f"lxc.cgroup.cpu.cfs_quota_us = {vcpus * CPU_PERIOD_US}")
    else:
        lines.append(f"lxc.cgroup2.cpu.max = {vcpus * CPU_PERIOD_US} {CPU_PERIOD_US}")
    devices_key = "lxc.cgroup.devices" if "devices" in system.legacy else "lxc.cgroup2.devices"
    lines.append(f"{devices_key}.deny = a")
    lines.extend(f"{devices_key}.allow = {rule}" for rule in devices)
    return lines


# --- reading a running container -----------------------------------------------------------

def _read(directory: Path | None, name: str) -> str:
    if directory is None:
        raise OSError(f"no cgroup directory for {name}")
    return (directory / name).read_text().strip()


def _vcpus(cpu_dir: Path | None, cpuset_dir: Path | None, legacy: bool) -> int:
    if legacy:
        quota, period = int(_read(cpu_dir, "cpu.cfs_quota_us")), int(
            _read(cpu_dir, "cpu.cfs_period_us"))
    else:
        text = _read(cpu_dir, "cpu.max").split()
        quota, period = (-1 if text[0] == "max" else int(text[0])), int(text[1])
    if quota > 0 and period > 0:
        return math.ceil(quota / period)
    cpuset = "cpuset.cpus" if cpuset_dir is not None and (cpuset_dir / "cpuset.cpus").exists() \
        else "cpuset.cpus.effective"
    return len(parse_cpu_list(_read(cpuset_dir, cpuset)))


def read_figures(pid: int, proc: Path = Path("/proc")) -> CgroupFigures:
    """Memory limit, vCPUs and CPU time of the container whose init is ``pid`` (blocking).

    Raises:
        OSError: the process or one of its cgroup files is gone.
        ValueError: a cgroup file holds something unexpected.
    """
    mounts = parse_cgroup_mounts((proc / "self" / "mountinfo").read_text())
    paths = parse_proc_cgroup((proc / str(pid) / "cgroup").read_text())
    system = system_from(mounts, memsw=False)
    mem_dir = controller_dir(mounts, paths, "memory")
    if "memory" in system.legacy:
        memory = int(_read(mem_dir, "memory.limit_in_bytes"))
    else:
        text = _read(mem_dir, "memory.max")
        memory = 0 if text == "max" else int(text)
    cpu_dir = controller_dir(mounts, paths, "cpu")
    vcpus = _vcpus(cpu_dir, controller_dir(mounts, paths, "cpuset"), "cpu" in system.legacy)
    if "cpuacct" in system.legacy:
        cpu_time = int(_read(controller_dir(mounts, paths, "cpuacct"), "cpuacct.usage")) / 1e9
    else:
        stat = dict(line.split() for line in _read(cpu_dir, "cpu.stat").splitlines())
        cpu_time = int(stat.get("usage_usec", 0)) / 1e6
    return CgroupFigures(memory_mib=memory // MIB, vcpus=vcpus, cpu_time_s=cpu_time)


def read_system(proc: Path = Path("/proc")) -> CgroupSystem:
    """The node's cgroup layout (blocking)."""
    mounts = parse_cgroup_mounts((proc / "self" / "mountinfo").read_text())
    memsw = any(m.version == 1 and "memory" in m.controllers and os.path.exists(
        os.path.join(m.mount_point, "memory.memsw.limit_in_bytes")) for m in mounts)
    return system_from(mounts, memsw)


def set_memory_limit(pid: int, memory_mib: int, proc: Path = Path("/proc")) -> None:
    """Change a running container's memory limit (and memory+swap limit, in the order
    the kernel accepts: the larger one first) (blocking).

    Raises:
        OSError: the kernel refused (e.g. EBUSY: the container uses more than that).
    """
    mounts = parse_cgroup_mounts((proc / "self" / "mountinfo").read_text())
    directory = controller_dir(mounts, parse_proc_cgroup((proc / str(pid) / "cgroup")
                                                         .read_text()), "memory")
    if directory is None:
        raise OSError(f"no memory cgroup for pid {pid}")
    value = str(memory_mib * MIB)
    if not (directory / "memory.limit_in_bytes").exists():
        (directory / "memory.max").write_text(value)
        return
    current = (directory / "memory.limit_in_bytes").read_text().strip()
    files = ["memory.limit_in_bytes"]
    if (directory / "memory.memsw.limit_in_bytes").exists():
        growing = memory_mib * MIB > int(current)
        files = (["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"] if growing
                 else ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"])
    done: list[str] = []
    try:
        for name in files:
            (directory / name).write_text(value)
            done.append(name)
    except OSError:
        for name in reversed(done):  # put back what was changed: both or neither
            (directory / name).write_text(current)
        raise
