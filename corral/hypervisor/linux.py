"""Linux ``/proc`` readers shared by drivers: host memory/CPUs, mounts, process roots.

Parsers are pure functions of the file text; the ``read_*``/``scan_*`` helpers do
blocking I/O and are meant to run in a thread.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_NUMA_NODE = re.compile(r"node\d+")


@dataclass(frozen=True, slots=True)
class HostFigures:
    """Host memory (MiB) and CPU counts."""

    memory_total: int
    memory_free: int
    cpu_total: int
    cpu_nodes: int
    cpu_sockets: int


def parse_meminfo(text: str) -> dict[str, int]:
    """``/proc/meminfo`` as ``{field: kB}``."""
    fields: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        parts = rest.split()
        if sep and parts and parts[0].isdigit():
            fields[key.strip()] = int(parts[0])
    return fields


def memory_mib(text: str) -> tuple[int, int]:
    """``(total, free)`` MiB from ``/proc/meminfo`` text; free is ``MemAvailable``.

    Raises:
        ValueError: no ``MemTotal``.
    """
    fields = parse_meminfo(text)
    if "MemTotal" not in fields:
        raise ValueError("no MemTotal in /proc/meminfo")
    available = fields.get("MemAvailable")
    if available is None:
        available = sum(fields.get(k, 0) for k in ("MemFree", "Buffers", "Cached"))
    total = fields["MemTotal"] // 1024
    return total, min(available // 1024, total)


def count_sockets(cpuinfo: str) -> int:
    """Distinct ``physical id`` values in ``/proc/cpuinfo``; at least 1."""
    ids = {line.partition(":")[2].strip() for line in cpuinfo.splitlines()
           if line.partition(":")[0].strip() == "physical id"}
    return max(len(ids), 1)


def read_host(proc: Path = Path("/proc"), sys_dir: Path = Path("/sys")) -> HostFigures:
    """Read the running kernel's memory and CPU figures (blocking)."""
    total, free = memory_mib((proc / "meminfo").read_text())
    try:
        nodes = sum(1 for n in os.listdir(sys_dir / "devices/system/node")
                    if _NUMA_NODE.fullmatch(n))
    except OSError:
        nodes = 1
    try:
        cpuinfo = (proc / "cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    return HostFigures(total, free, os.cpu_count() or 1, max(nodes, 1), count_sockets(cpuinfo))


# --- mounts ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class MountEntry:
    """One line of ``/proc/<pid>/mountinfo`` (the fields drivers need)."""

    mount_id: int
    parent_id: int
    mount_point: str
    fs_type: str
    source: str


_OCTAL = re.compile(r"\\([0-7]{3})")


def unescape_mount_path(text: str) -> str:
    """Undo the kernel's octal escapes (``\\040`` for a space, …)."""
    return _OCTAL.sub(lambda m: chr(int(m[1], 8)), text)


def parse_mountinfo(text: str) -> list[MountEntry]:
    """``/proc/<pid>/mountinfo`` lines, in the kernel's (mount) order."""
    entries = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 2:
            continue
        entries.append(MountEntry(int(fields[0]), int(fields[1]),
                                  unescape_mount_path(fields[4]), tail[0],
                                  unescape_mount_path(tail[1])))
    return entries


def is_below(path: str, root: str) -> bool:
    """``path`` is ``root`` or inside it (string paths, normalised)."""
    root = root.rstrip("/") or "/"
    return path == root or path.startswith(root + "/") or root == "/"


def mounts_below(entries: list[MountEntry], root: str) -> list[str]:
    """Mount points at or under ``root``, in the order to unmount them (deepest first).

    Deeper paths come first; among equal depths, later mounts come first (a mount
    stacked on the same point is removed before the one under it).
    """
    found = [(e.mount_point.count("/"), index, e.mount_point)
             for index, e in enumerate(entries) if is_below(e.mount_point, root)]
    return [point for _, _, point in sorted(found, reverse=True)]


def read_mountinfo(proc: Path = Path("/proc")) -> list[MountEntry]:
    """The calling process's mount table (blocking)."""
    return parse_mountinfo((proc / "self" / "mountinfo").read_text())


# --- processes -------------------------------------------------------------------------

def iter_process_roots(proc: Path = Path("/proc")) -> Iterator[tuple[int, str]]:
    """``(pid, root directory)`` of every process we may inspect (blocking).

    Processes that vanish or hide their root are skipped.
    """
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            root = os.readlink(f"{entry.path}/root")
        except OSError:
            continue
        yield int(entry.name), root


_DELETED = " (deleted)"


def processes_below(base: str, proc: Path = Path("/proc")) -> list[tuple[int, str]]:
    """``(pid, root)`` of processes whose root directory is ``base`` or below it (blocking)."""
    found = []
    for pid, root in iter_process_roots(proc):
        root = root.removesuffix(_DELETED)
        if root != "/" and is_below(root, base):
            found.append((pid, root))
    return found


def signal_processes_below(base: str, sig: signal.Signals,
                           proc: Path = Path("/proc")) -> list[int]:
    """Send ``sig`` to every process rooted at or below ``base``; return their pids (blocking).

    Each pid's root is read just before it is signalled, which keeps the window
    for a reused pid small.
    """
    hit = []
    for pid, _ in processes_below(base, proc):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            continue
        hit.append(pid)
    return hit


def parse_stat_cpu_ticks(text: str) -> int:
    """utime + stime (clock ticks) from ``/proc/<pid>/stat`` text."""
    fields = text.rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def process_cpu_seconds(pids: list[int], proc: Path = Path("/proc")) -> float:
    """CPU time used by ``pids`` (seconds, blocking); vanished processes count 0."""
    ticks = 0
    for pid in pids:
        try:
            ticks += parse_stat_cpu_ticks((proc / str(pid) / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")
