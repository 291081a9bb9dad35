"""Adopted block devices (template ``blockdev``).

The device exists before the instance and outlives it: ``create`` only checks
and measures it, ``remove`` leaves it untouched, and it can be neither grown
nor wiped. Logical id: ``("manual", "/dev/...")``; the path must resolve to a
block device under ``/dev``.
"""

from __future__ import annotations

import os
import posixpath
import stat
from pathlib import Path
from typing import ClassVar

from corral.errors import BlockDeviceError
from corral.objects import DiskTemplate
from corral.process import CommandRunner
from corral.storage.base import (
    MIB,
    BlockDevice,
    DeviceCommandError,
    DeviceInfo,
    DiskCreateSpec,
    DiskRef,
    StorageSpace,
)

BLOCKDEV_DRIVER_MANUAL = "manual"
BLOCKDEV_TIMEOUT = 30.0


class AdoptedBlockDevice(BlockDevice):
    """Pre-existing block devices under ``dev_dir`` (``/dev`` on a real node)."""

    template: ClassVar[DiskTemplate] = DiskTemplate.BLOCKDEV
    growable: ClassVar[bool] = False
    adopts: ClassVar[bool] = True

    def __init__(self, runner: CommandRunner, dev_dir: Path = Path("/dev")) -> None:
        self._runner = runner
        self._dev_dir = dev_dir

    def _path(self, logical_id: tuple[str, ...]) -> str:
        if len(logical_id) != 2 or logical_id[0] != BLOCKDEV_DRIVER_MANUAL:
            raise BlockDeviceError(f"Invalid blockdev logical id {logical_id!r}")
        path = logical_id[1]
        if not posixpath.isabs(path) or posixpath.normpath(path) != path:
            raise BlockDeviceError(f"Block device path {path!r} is not a normalised path")
        allowed = os.path.realpath(self._dev_dir) + os.sep
        if not os.path.realpath(path).startswith(allowed):
            raise BlockDeviceError(f"Block device {path} is not under {self._dev_dir}")
        return path

    def _ref_path(self, dev: DiskRef) -> str:
        if dev.template is not self.template:
            raise self.wrong_template(dev)
        return self._path(dev.logical_id)

    async def _measure(self, path: str) -> int:
        """Size in MiB of an existing block device."""
        if not _is_block_device(path):
            raise BlockDeviceError(f"{path} is not an existing block device")
        result = await self._runner.run(
            ["blockdev", "--getsize64", path], timeout=BLOCKDEV_TIMEOUT
        )
        if result.failed:
            raise DeviceCommandError.from_result(f"Cannot get the size of {path}", result)
        try:
            return int(result.stdout.strip()) // MIB
        except ValueError as err:
            raise BlockDeviceError(f"Unexpected blockdev output {result.stdout!r}") from err

    async def create(self, spec: DiskCreateSpec) -> DeviceInfo:
        if spec.template is not self.template:
            raise BlockDeviceError(f"Cannot create a {spec.template} disk with {self.template}")
        path = self._path(spec.logical_id)
        size = await self._measure(path)
        if spec.size_mib > size:
            raise BlockDeviceError(
                f"Device {path} has {size} MiB, less than the requested {spec.size_mib} MiB"
            )
        return DeviceInfo(logical_id=spec.logical_id, path=path, size_mib=size)

    async def remove(self, dev: DiskRef) -> None:
        self._ref_path(dev)

    async def assemble(self, dev: DiskRef) -> DeviceInfo:
        path = self._ref_path(dev)
        return DeviceInfo(logical_id=dev.logical_id, path=path, size_mib=await self._measure(path))

    async def shutdown(self, dev: DiskRef) -> None:
        self._ref_path(dev)

    async def grow(self, dev: DiskRef, amount_mib: int, dryrun: bool) -> None:
        path = self._ref_path(dev)
        raise BlockDeviceError(f"Cannot grow {path}: adopted block devices are not growable")

    async def find(self, dev: DiskRef) -> DeviceInfo | None:
        path = self._ref_path(dev)
        if not _is_block_device(path):
            return None
        return DeviceInfo(logical_id=dev.logical_id, path=path, size_mib=await self._measure(path))

    async def get_size(self, dev: DiskRef) -> int:
        return await self._measure(self._ref_path(dev))

    async def storage_info(self, unit: str) -> StorageSpace:
        """Adopted devices belong to no storage unit: no space to report."""
        return StorageSpace(0, 0)


def _is_block_device(path: str) -> bool:
    try:
        return stat.S_ISBLK(os.stat(path).st_mode)
    except OSError:
        return False
