"""File-backed disks (templates ``file`` and ``sharedfile``): raw or qcow2 files.

A disk lives at ``<storage dir>/<instance>/<uuid>.file.disk<index>`` (one
directory per instance, as in Ganeti). Cluster paths are resolved under the
node's root (a vcluster node's root is not ``/``) and must stay inside the
driver's storage directory after symlinks are resolved. Raw files are sparse
unless the spec asks otherwise; qcow2 files are made by ``qemu-img``
(Debian package ``qemu-utils``), whose format is always named explicitly,
never probed from the file's contents.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import posixpath
import stat
from pathlib import Path
from typing import ClassVar

from corral.errors import BlockDeviceError, ErrorCode
from corral.layout import NodeLayout
from corral.objects import DiskTemplate
from corral.process import CommandRunner
from corral.storage import naming
from corral.storage.base import (
    MIB,
    BlockDevice,
    DeviceCommandError,
    DeviceInfo,
    DiskCreateSpec,
    DiskFormat,
    DiskRef,
    StorageSpace,
    insufficient_space,
)

QEMU_IMG = "qemu-img"
QEMU_IMG_TIMEOUT = 120.0


class FileDriverKind(enum.StrEnum):
    """First element of a file disk's logical id (Ganeti's file drivers)."""

    LOOP = "loop"
    BLKTAP = "blktap"
    BLKTAP2 = "blktap2"


class FileStorage(BlockDevice):
    """Disks as files under one storage directory of this node."""

    template: ClassVar[DiskTemplate] = DiskTemplate.FILE
    zero_on_create: ClassVar[bool] = True

    def __init__(self, layout: NodeLayout, storage_dir: str, runner: CommandRunner) -> None:
        if not posixpath.isabs(storage_dir):
            raise BlockDeviceError(f"File storage directory {storage_dir!r} is not absolute")
        self._layout = layout
        self._dir = posixpath.normpath(storage_dir)
        self._runner = runner

    @property
    def storage_dir(self) -> str:
        """The cluster path of this driver's storage directory."""
        return self._dir

    # --- paths ------------------------------------------------------------
    def _host(self, cluster_path: str) -> Path:
        return self._layout.root / cluster_path.lstrip("/")

    def _checked(self, cluster_path: str) -> Path:
        """Host path of ``cluster_path``, refused unless strictly inside the storage dir."""
        if not posixpath.isabs(cluster_path) or posixpath.normpath(cluster_path) != cluster_path:
            raise BlockDeviceError(f"File storage path {cluster_path!r} is not a normalised path")
        allowed = os.path.realpath(self._host(self._dir))
        host = self._host(cluster_path)
        if not os.path.realpath(host).startswith(allowed + os.sep):
            raise BlockDeviceError(
                f"File storage path {cluster_path} is not under the allowed directory {self._dir}"
            )
        return host

    def _ref_path(self, dev: DiskRef) -> Path:
        if dev.template is not self.template:
            raise self.wrong_template(dev)
        if len(dev.logical_id) != 2:
            raise BlockDeviceError(f"Invalid file logical id {dev.logical_id!r}")
        return self._checked(dev.logical_id[1])

    def _free_mib(self) -> int:
        return self._space(self._host(self._dir)).free_mib

    @staticmethod
    def _space(host_dir: Path) -> StorageSpace:
        try:
            st = os.statvfs(host_dir)
        except OSError as err:
            raise BlockDeviceError(f"Cannot stat file storage {host_dir}: {err}") from err
        return StorageSpace(st.f_blocks * st.f_frsize // MIB, st.f_bavail * st.f_frsize // MIB)

    # --- contract -----------------------------------------------------------
    async def create(self, spec: DiskCreateSpec) -> DeviceInfo:
        kind, cluster_path = self.logical_id_for(spec)
        host = self._checked(cluster_path)
        if spec.size_mib <= 0:
            raise BlockDeviceError(f"Invalid disk size {spec.size_mib} MiB")
        free = self._free_mib()
        if spec.size_mib > free:
            raise insufficient_space(spec.size_mib, free)
        self._reserve(host)
        try:
            await self._fill(host, spec)
        except BaseException:
            with contextlib.suppress(OSError):
                _remove_file(host)
            _prune_dir(host.parent, self._host(self._dir))
            raise
        return DeviceInfo(logical_id=(kind, cluster_path), path=str(host), size_mib=spec.size_mib)

    def logical_id_for(self, spec: DiskCreateSpec) -> tuple[str, str]:
        if spec.template is not self.template:
            raise BlockDeviceError(f"Cannot create a {spec.template} disk with {self.template}")
        if not spec.logical_id:
            path = naming.file_disk_path(self._dir, spec.instance, spec.uuid, spec.index)
            return FileDriverKind.LOOP.value, path
        if len(spec.logical_id) != 2 or spec.logical_id[0] not in set(FileDriverKind):
            raise BlockDeviceError(f"Invalid file logical id {spec.logical_id!r}")
        return spec.logical_id[0], spec.logical_id[1]

    def _reserve(self, host: Path) -> None:
        """Create the instance directory and claim the file name exclusively."""
        try:
            host.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
            self._checked_again(host)
            os.close(os.open(host, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError as err:
            raise DeviceCommandError(f"File already exists: {host}", code=ErrorCode.EXISTS) from err
        except OSError as err:
            raise BlockDeviceError(f"Cannot create file {host}: {err}") from err

    def _checked_again(self, host: Path) -> None:
        """After mkdir, the directory itself must still resolve inside the storage dir."""
        allowed = os.path.realpath(self._host(self._dir))
        if not os.path.realpath(host.parent).startswith(allowed + os.sep):
            raise BlockDeviceError(f"{host.parent} resolves outside {self._dir}")

    async def _fill(self, host: Path, spec: DiskCreateSpec) -> None:
        if spec.fmt is DiskFormat.QCOW2:
            prealloc = "off" if spec.sparse else "falloc"
            argv = [QEMU_IMG, "create", "-q", "-f", "qcow2", "-o", f"preallocation={prealloc}",
                    str(host), f"{spec.size_mib}M"]
            await self._qemu_img(argv, f"Cannot create qcow2 file {host}")
            return
        try:
            with open(host, "r+b") as handle:
                handle.truncate(spec.size_mib * MIB)
                if not spec.sparse:
                    os.posix_fallocate(handle.fileno(), 0, spec.size_mib * MIB)
        except OSError as err:
            raise BlockDeviceError(f"Cannot size file {host}: {err}") from err

    async def _qemu_img(self, argv: list[str], message: str) -> str:
        result = await self._runner.run(argv, timeout=QEMU_IMG_TIMEOUT)
        if result.failed:
            raise DeviceCommandError.from_result(message, result)
        return result.stdout

    async def remove(self, dev: DiskRef) -> None:
        host = self._ref_path(dev)
        try:
            _remove_file(host)
        except OSError as err:
            raise BlockDeviceError(f"Cannot remove file {host}: {err}") from err
        _prune_dir(host.parent, self._host(self._dir))

    async def assemble(self, dev: DiskRef) -> DeviceInfo:
        found = await self.find(dev)
        if found is None:
            raise BlockDeviceError(f"File device {dev.logical_id[1]} is missing")
        return found

    async def shutdown(self, dev: DiskRef) -> None:
        self._ref_path(dev)

    async def grow(self, dev: DiskRef, amount_mib: int, dryrun: bool) -> None:
        host = self._ref_path(dev)
        if amount_mib < 0:
            raise BlockDeviceError(f"Cannot shrink a disk (amount {amount_mib} MiB)")
        if not _is_file(host):
            raise BlockDeviceError(f"File device {dev.logical_id[1]} is missing")
        free = self._free_mib()
        if amount_mib > free:
            raise insufficient_space(amount_mib, free)
        if dryrun or amount_mib == 0:
            return
        if dev.fmt is DiskFormat.QCOW2:
            argv = [QEMU_IMG, "resize", "-q", "-f", "qcow2", str(host), f"+{amount_mib}M"]
            await self._qemu_img(argv, f"Cannot grow qcow2 file {host}")
            return
        try:
            os.truncate(host, os.stat(host).st_size + amount_mib * MIB)
        except OSError as err:
            raise BlockDeviceError(f"Cannot grow file {host}: {err}") from err

    async def find(self, dev: DiskRef) -> DeviceInfo | None:
        host = self._ref_path(dev)
        if not _is_file(host):
            return None
        size = await self._size_mib(host, dev.fmt)
        return DeviceInfo(logical_id=dev.logical_id, path=str(host), size_mib=size)

    async def get_size(self, dev: DiskRef) -> int:
        host = self._ref_path(dev)
        if not _is_file(host):
            raise BlockDeviceError(f"File device {dev.logical_id[1]} is missing")
        return await self._size_mib(host, dev.fmt)

    async def _size_mib(self, host: Path, fmt: DiskFormat) -> int:
        if fmt is DiskFormat.QCOW2:
            argv = [QEMU_IMG, "info", "--output=json", "-f", "qcow2", str(host)]
            return qemu_img_virtual_size(await self._qemu_img(argv, f"Cannot inspect {host}"))
        return os.stat(host).st_size // MIB

    async def storage_info(self, unit: str) -> StorageSpace:
        return self._space(self._host(unit or self._dir))


class SharedFileStorage(FileStorage):
    """The same files on a directory every node of the group mounts."""

    template: ClassVar[DiskTemplate] = DiskTemplate.SHAREDFILE


def qemu_img_virtual_size(output: str) -> int:
    """Virtual size in MiB from ``qemu-img info --output=json``.

    Raises:
        BlockDeviceError: the output is not what qemu-img prints.
    """
    try:
        return int(json.loads(output)["virtual-size"]) // MIB
    except (ValueError, KeyError, TypeError) as err:
        raise BlockDeviceError(f"Unexpected qemu-img info output: {output[:200]!r}") from err


def _is_file(host: Path) -> bool:
    try:
        return stat.S_ISREG(host.lstat().st_mode)
    except OSError:
        return False


def _remove_file(host: Path) -> None:
    if host.is_dir() and not host.is_symlink():
        raise IsADirectoryError(f"{host} is a directory")
    host.unlink(missing_ok=True)


def _prune_dir(directory: Path, storage_root: Path) -> None:
    """Remove an instance directory left empty (never the storage root itself)."""
    if directory == storage_root or storage_root not in directory.parents:
        return
    try:
        directory.rmdir()
    except OSError:
        pass
