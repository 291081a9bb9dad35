"""Zeroing new disks (the cluster's ``prealloc_wipe_disks`` option).

Writes go in chunks from a worker thread so a large device never blocks the
event loop; nothing is written past the device's stated size.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence

from corral.errors import BlockDeviceError
from corral.storage.base import MIB, DeviceInfo

WIPE_CHUNK_MIB = 4
"""MiB written per call."""


def wipe_device(path: str, offset_mib: int, size_mib: int, chunk_mib: int = WIPE_CHUNK_MIB) -> None:
    """Zero ``size_mib`` MiB of ``path`` starting at ``offset_mib`` (blocking).

    Raises:
        BlockDeviceError: the device cannot be opened or written.
    """
    if offset_mib < 0 or size_mib < 0 or chunk_mib <= 0:
        raise BlockDeviceError(f"Invalid wipe of {path}: offset {offset_mib}, size {size_mib}")
    zeros = bytes(chunk_mib * MIB)
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as err:
        raise BlockDeviceError(f"Cannot open {path} for wiping: {err}") from err
    try:
        _write_zeros(fd, zeros, offset_mib * MIB, size_mib * MIB)
        os.fsync(fd)
    except OSError as err:
        raise BlockDeviceError(f"Cannot wipe {path}: {err}") from err
    finally:
        os.close(fd)


def _write_zeros(fd: int, zeros: bytes, start: int, length: int) -> None:
    done = 0
    view = memoryview(zeros)
    while done < length:
        step = min(len(zeros), length - done)
        done += os.pwrite(fd, view[:step], start + done)


async def prealloc_wipe_disks(
    devices: Sequence[DeviceInfo], first_mib: int | None = None
) -> None:
    """Zero each device completely, or only its first ``first_mib`` MiB.

    Raises:
        BlockDeviceError: a device cannot be written.
    """
    for dev in devices:
        size = dev.size_mib if first_mib is None else min(first_mib, dev.size_mib)
        await asyncio.to_thread(wipe_device, dev.path, 0, size)
