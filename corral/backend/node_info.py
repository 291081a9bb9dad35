"""The ``node_info`` call: memory, CPUs, storage space and hypervisor view of the node.

Memory figures are MiB. Parsers of ``/proc`` text are pure functions.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from corral.backend.context import NodeContext
from corral.backend.handlers import handles
from corral.backend.services import hypervisor, storage
from corral.errors import CorralError, OpExecError
from corral.hypervisor.linux import memory_mib, read_host
from corral.layout import NodeLayout
from corral.objects.instance import DiskTemplate
from corral.rpc.payloads import HvNodeSpace, NodeInfo, StorageSpace

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class MemoryInfo:
    """Host memory in MiB; ``dom0`` is what the host itself uses."""

    total: int
    free: int
    dom0: int


@dataclass(frozen=True, slots=True)
class HostInfo:
    """What the node reports about itself, independent of hypervisors."""

    bootid: str
    memory: MemoryInfo
    cpu_total: int
    cpu_nodes: int
    cpu_sockets: int


def memory_from_meminfo(text: str) -> MemoryInfo:
    """Total and available memory from ``/proc/meminfo`` text (MiB; dom0 is the rest).

    Raises:
        ValueError: the text has no ``MemTotal``.
    """
    total, free = memory_mib(text)
    return MemoryInfo(total=total, free=free, dom0=total - free)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def read_host_info(proc: Path = Path("/proc"), sys_dir: Path = Path("/sys")) -> HostInfo:
    """Read boot id, memory and CPU figures from the running kernel (blocking).

    Raises:
        ValueError: ``/proc/meminfo`` is unreadable.
    """
    try:
        host = read_host(proc, sys_dir)
    except OSError as err:
        raise ValueError(f"cannot read {proc / 'meminfo'}: {err}") from err
    return HostInfo(
        bootid=_read(proc / "sys" / "kernel" / "random" / "boot_id").strip(),
        memory=MemoryInfo(
            total=host.memory_total,
            free=host.memory_free,
            dom0=host.memory_total - host.memory_free,
        ),
        cpu_total=host.cpu_total,
        cpu_nodes=host.cpu_nodes,
        cpu_sockets=host.cpu_sockets,
    )


def file_storage_info(kind: str, name: str, path: Path) -> StorageSpace:
    """Size and free space of a directory's file system, MiB (blocking)."""
    try:
        st = os.statvfs(path)
    except OSError as err:
        return StorageSpace(kind, name, error=f"Cannot get space of {path}: {err.strerror}")
    return StorageSpace(
        kind,
        name,
        storage_size=st.f_blocks * st.f_frsize // MIB,
        storage_free=st.f_bavail * st.f_frsize // MIB,
    )


def storage_unit_info(layout: NodeLayout, unit: Any) -> StorageSpace:
    """One storage unit ``[type, key, params]``; problems go in an ``error`` entry.

    File directories are taken relative to the node root, like every other
    node path (with root ``/`` they are the plain absolute paths).
    """
    if not isinstance(unit, list | tuple) or len(unit) < 2:
        return StorageSpace(None, None, error=f"Malformed storage unit {unit!r}")
    kind, name = str(unit[0]), str(unit[1])
    if kind == "file":
        return file_storage_info(kind, name, layout.root / name.lstrip("/"))
    if kind == "lvm-vg":
        return StorageSpace(kind, name)  # filled in by lvm_unit_info, asynchronously
    return StorageSpace(kind, name, error=f"Unknown storage type {kind!r}")


def collect_node_info(layout: NodeLayout, storage_units: list[Any]) -> NodeInfo:
    """The ``node_info`` payload without LVM and hypervisor figures (blocking)."""
    host = read_host_info()
    return NodeInfo(
        bootid=host.bootid,
        memory_total=host.memory.total,
        memory_free=host.memory.free,
        memory_dom0=host.memory.dom0,
        cpu_total=host.cpu_total,
        cpu_nodes=host.cpu_nodes,
        cpu_sockets=host.cpu_sockets,
        storage=[storage_unit_info(layout, unit) for unit in storage_units],
    )


async def hypervisor_info(ctx: NodeContext, spec: Any) -> tuple[str, HvNodeSpace]:
    """``(name, info)`` for one ``[name, hvparams]``; problems go in an ``error`` entry."""
    if not isinstance(spec, list | tuple) or len(spec) != 2:
        return str(spec), HvNodeSpace(error=f"Malformed hypervisor spec {spec!r}")
    name = str(spec[0])
    try:
        info = await hypervisor(ctx, name).node_info()
    except CorralError as err:
        return name, HvNodeSpace(error=str(err))
    return name, HvNodeSpace(
        memory_total=info.memory_total,
        memory_free=info.memory_free,
        memory_dom0=info.memory_dom0,
        cpu_total=info.cpu_total,
        cpu_nodes=info.cpu_nodes,
        cpu_sockets=info.cpu_sockets,
        cpu_dom0=info.cpu_dom0,
        hv_version=list(info.hv_version),
    )


async def lvm_unit_info(ctx: NodeContext, unit: Any) -> StorageSpace:
    """Size and free space of a volume group, through the LVM driver."""
    kind, name = "lvm-vg", str(unit[1])
    try:
        space = await storage(ctx, DiskTemplate.PLAIN).storage_info(name)
    except CorralError as err:
        return StorageSpace(kind, name, error=str(err))
    return StorageSpace(kind, name, storage_size=space.size_mib, storage_free=space.free_mib)


@handles("node_info")
async def node_info(ctx: NodeContext, storage_units: list[Any], hv_specs: list[Any]) -> NodeInfo:
    """Memory (MiB), CPUs, boot id, storage space per unit and info per hypervisor.

    Per-unit and per-hypervisor problems are reported in an ``error`` entry of
    that unit instead of failing the call.

    Raises:
        OpExecError: ``/proc/meminfo`` cannot be read.
    """
    try:
        payload = await asyncio.to_thread(collect_node_info, ctx.layout, storage_units)
    except ValueError as err:
        raise OpExecError(f"Cannot read the node's memory figures: {err}") from err
    for index, unit in enumerate(storage_units):
        if isinstance(unit, list | tuple) and unit and unit[0] == "lvm-vg":
            payload.storage[index] = await lvm_unit_info(ctx, unit)
    hv = dict([await hypervisor_info(ctx, spec) for spec in hv_specs])
    return msgspec.structs.replace(payload, hv=hv)
