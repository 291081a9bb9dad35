"""Disk template → driver, built from the node's layout, runner and storage settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from corral.errors import BlockDeviceError
from corral.layout import NodeLayout
from corral.objects import DiskTemplate
from corral.process import CommandRunner
from corral.storage.base import BlockDevice
from corral.storage.blockdev import AdoptedBlockDevice
from corral.storage.diskless import Diskless
from corral.storage.drbd.driver import DrbdDriver, read_proc_drbd
from corral.storage.file import FileStorage, SharedFileStorage
from corral.storage.lvm.driver import DEFAULT_VG, LvmDriver
from corral.storage.mirror.local import MirrorStorage


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageSettings:
    """Cluster-wide storage settings a node's drivers need (cluster paths)."""

    file_storage_dir: str = ""
    shared_file_storage_dir: str = ""
    default_vg: str = DEFAULT_VG
    dev_dir: Path = Path("/dev")
    """Where active LVs appear (``<dir>/<vg>/<lv>``; a sandbox under the LVM simulator)."""
    adoptable_dir: Path = Path("/dev")
    """Block devices adopted by the ``blockdev`` template must resolve under this."""
    lvm_runner: CommandRunner | None = None
    """Runs the LVM tools for the volumes under DRBD (the node's runner when unset)."""
    drbd_dev_dir: Path = Path("/dev")
    """Where DRBD devices appear (``<dir>/drbd<minor>``; a sandbox under the simulator)."""
    drbd_proc_reader: Callable[[], str] = read_proc_drbd
    """Reads this node's ``/proc/drbd`` (the simulator's rendition in a virtual cluster)."""


_Factory = Callable[[NodeLayout, CommandRunner, StorageSettings], BlockDevice]


def _file(layout: NodeLayout, runner: CommandRunner, settings: StorageSettings) -> BlockDevice:
    if not settings.file_storage_dir:
        raise BlockDeviceError("The cluster has no file storage directory")
    return FileStorage(layout, settings.file_storage_dir, runner)


def _shared(layout: NodeLayout, runner: CommandRunner, settings: StorageSettings) -> BlockDevice:
    if not settings.shared_file_storage_dir:
        raise BlockDeviceError("The cluster has no shared file storage directory")
    return SharedFileStorage(layout, settings.shared_file_storage_dir, runner)


def _drbd(layout: NodeLayout, runner: CommandRunner, settings: StorageSettings) -> BlockDevice:
    lvm = LvmDriver(settings.lvm_runner or runner, default_vg=settings.default_vg,
                    dev_dir=settings.dev_dir)
    return DrbdDriver(runner, lvm, dev_dir=settings.drbd_dev_dir,
                      proc_reader=settings.drbd_proc_reader)
def _mirror(layout: NodeLayout, runner: CommandRunner, settings: StorageSettings) -> BlockDevice:
    if not settings.file_storage_dir:
        raise BlockDeviceError("The cluster has no file storage directory (mirror disks)")
    return MirrorStorage(layout, settings.file_storage_dir, runner)


_FACTORIES: dict[DiskTemplate, _Factory] = {
    DiskTemplate.DISKLESS: lambda layout, runner, settings: Diskless(),
    DiskTemplate.FILE: _file,
    DiskTemplate.SHAREDFILE: _shared,
    DiskTemplate.PLAIN: lambda layout, runner, settings: LvmDriver(
        runner, default_vg=settings.default_vg, dev_dir=settings.dev_dir
    ),
    DiskTemplate.MIRROR: _mirror,
    DiskTemplate.BLOCKDEV: lambda layout, runner, settings: AdoptedBlockDevice(
        runner, settings.adoptable_dir
    ),
    DiskTemplate.DRBD: _drbd,
}

SUPPORTED_TEMPLATES = frozenset(_FACTORIES)
"""Templates this node can serve."""


def make_driver(
    template: DiskTemplate, layout: NodeLayout, runner: CommandRunner, settings: StorageSettings
) -> BlockDevice:
    """The driver for ``template`` on this node.

    Raises:
        BlockDeviceError: the template is not supported, or not configured.
    """
    factory = _FACTORIES.get(template)
    if factory is None:
        raise BlockDeviceError(f"Disk template {template} is not supported by this node")
    return factory(layout, runner, settings)
