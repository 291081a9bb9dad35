"""The container's root file system: the instance's disk mounted on the node.

A disk holding a file system directly is mounted as it is (``-o loop`` for a file);
a partitioned disk (Debian's debootstrap OS writes an MBR) has its first partition
mounted through a loop device at the partition's offset, which needs neither
device-mapper (Ganeti's ``kpartx``) nor partition device nodes. Loop devices that
``mount`` sets up free themselves at unmount.
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from corral.errors import HypervisorError
from corral.hypervisor import linux
from corral.hypervisor.base import DiskSpec
from corral.hypervisor.lxc.tools import Partition, first_partition
from corral.objects.instance import DiskMode
from corral.process import CommandRunner

_TIMEOUT = 60.0


async def _partition(runner: CommandRunner, path: str) -> Partition | None:
    """The first partition of ``path``, or None when it has no partition table."""
    result = await runner.run(["sfdisk", "--json", path], timeout=_TIMEOUT)
    if result.failed:
        return None
    try:
        return first_partition(result.stdout)
    except ValueError as err:
        raise HypervisorError(f"reading the partition table of {path}: {err}") from err


async def mount_options(runner: CommandRunner, disk: DiskSpec) -> list[str]:
    """``mount -o`` options for ``disk`` (file or block device, whole or partitioned).

    Raises:
        HypervisorError: the disk is missing or neither a file nor a block device.
    """
    try:
        mode = (await asyncio.to_thread(os.stat, disk.path)).st_mode
    except OSError as err:
        raise HypervisorError(f"disk {disk.path}: {err}") from err
    if not (stat.S_ISREG(mode) or stat.S_ISBLK(mode)):
        raise HypervisorError(f"disk {disk.path} is neither a file nor a block device")
    options = ["ro"] if disk.mode == DiskMode.RO else []
    part = await _partition(runner, disk.path)
    if part is not None:
        options += ["loop", f"offset={part.offset}", f"sizelimit={part.size}"]
    elif stat.S_ISREG(mode):
        options.append("loop")
    return options


async def mount_root(runner: CommandRunner, disk: DiskSpec, target: Path) -> None:
    """Mount ``disk`` on ``target`` (created if missing).

    Raises:
        HypervisorError: the disk cannot be mounted.
    """
    options = await mount_options(runner, disk)
    await asyncio.to_thread(target.mkdir, parents=True, exist_ok=True)
    argv = ["mount", *(["-o", ",".join(options)] if options else []), disk.path, str(target)]
    result = await runner.run(argv, timeout=_TIMEOUT)
    if result.failed:
        raise HypervisorError(f"mounting {disk.path} on {target} failed: "
                              f"{result.fail_reason}: {result.output.strip()}")


async def unmount_below(runner: CommandRunner, target: Path) -> None:
    """Unmount everything at or below ``target``, deepest first (lazily if busy).

    Raises:
        HypervisorError: a mount point could not be unmounted even lazily.
    """
    entries = await asyncio.to_thread(linux.read_mountinfo)
    for point in linux.mounts_below(entries, str(target)):
        if not (await runner.run(["umount", point], timeout=_TIMEOUT)).failed:
            continue
        result = await runner.run(["umount", "--lazy", point], timeout=_TIMEOUT)
        if result.failed:
            raise HypervisorError(f"unmounting {point} failed: {result.output.strip()}")


def is_mounted(target: Path) -> bool:
    """Whether something is mounted exactly on ``target`` (blocking)."""
    return any(e.mount_point == str(target) for e in linux.read_mountinfo())
