"""Contract values, naming, symlinks, wiping, rollback, the registry and diskless."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from corral.errors import BlockDeviceError, ErrorCode
from corral.layout import NodeLayout
from corral.objects import Disk, DiskTemplate
from corral.process import CommandResult, SubprocessRunner
from corral.storage import naming
from corral.storage.base import (
    MIB,
    DeviceCommandError,
    DeviceInfo,
    DiskCreateSpec,
    DiskFormat,
    DiskRef,
    StorageSpace,
    insufficient_space,
    is_insufficient_space,
)
from corral.storage.blockdev import AdoptedBlockDevice
from corral.storage.diskless import Diskless
from corral.storage.drbd.driver import DrbdDriver
from corral.storage.file import FileStorage, SharedFileStorage
from corral.storage.lvm.driver import LvmDriver
from corral.storage.mirror import MirrorStorage
from corral.storage.registry import SUPPORTED_TEMPLATES, StorageSettings, make_driver
from corral.storage.rollback import create_disks_with_rollback
from corral.storage.symlinks import (
    instance_disk_link,
    link_instance_disk,
    unlink_instance_disks,
)
from corral.storage.wipe import prealloc_wipe_disks, wipe_device


def test_naming_follows_ganeti() -> None:
    assert naming.lv_name("u-1", 2) == "u-1.disk2"
    assert naming.file_disk_path("/srv/f", "inst1", "u-1", 0) == "/srv/f/inst1/u-1.file.disk0"


def test_ref_from_config_disk() -> None:
    disk = Disk(uuid="d1", dev_type=DiskTemplate.FILE, size=128,
                logical_id=("loop", "/srv/f/i/d"), params={"format": "qcow2"})
    ref = DiskRef.from_disk(disk)
    assert ref.logical_id == ("loop", "/srv/f/i/d")
    assert (ref.size_mib, ref.fmt) == (128, DiskFormat.QCOW2)


def test_command_error_carries_details_and_ganetis_name() -> None:
    result = CommandResult(("lvcreate", "-L", "1m"), 5, "", "  Volume group \"x\" not found\n")
    err = DeviceCommandError.from_result("Cannot create", result)
    assert (err.command, err.exit_code, err.code) == (result.argv, 5, ErrorCode.FAULT)
    assert str(err) == 'Cannot create: lvcreate exited with status 5: Volume group "x" not found'
    assert err.encode() == ["BlockDeviceError", [str(err)]]


def test_insufficient_space_is_recognisable_in_rpc_messages() -> None:
    err = insufficient_space(100, 50)
    assert err.code is ErrorCode.NORES
    assert is_insufficient_space(str(err))
    assert not is_insufficient_space(BlockDeviceError("other"))


def test_symlinks(tmp_path: Path) -> None:
    layout = NodeLayout(tmp_path)
    link = link_instance_disk(layout, "inst1", 0, "/dev/xenvg/a")
    assert link == instance_disk_link(layout, "inst1", 0)
    assert link == layout.run_dir / "instance-disks" / "inst1:0"
    assert link.readlink() == Path("/dev/xenvg/a")
    link_instance_disk(layout, "inst1", 0, "/dev/xenvg/b")
    assert link.readlink() == Path("/dev/xenvg/b")
    link_instance_disk(layout, "inst1", 1, "/dev/xenvg/c")
    other = link_instance_disk(layout, "inst10", 0, "/dev/xenvg/d")
    assert sorted(p.name for p in unlink_instance_disks(layout, "inst1")) == ["inst1:0", "inst1:1"]
    assert other.is_symlink(), "another instance's link must stay"
    assert unlink_instance_disks(layout, "inst1") == []
    assert unlink_instance_disks(NodeLayout(tmp_path / "empty"), "x") == []


def test_wipe_device_zeroes_a_range(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    dev.write_bytes(b"\xff" * (3 * MIB))
    wipe_device(str(dev), 1, 1, chunk_mib=1)
    data = dev.read_bytes()
    assert len(data) == 3 * MIB, "never writes past the range"
    assert data[:MIB] == b"\xff" * MIB
    assert data[MIB:2 * MIB] == bytes(MIB)
    assert data[2 * MIB:] == b"\xff" * MIB
    with pytest.raises(BlockDeviceError, match="Cannot open"):
        wipe_device(str(tmp_path / "missing"), 0, 1)


def test_prealloc_wipe_whole_or_start(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for dev in (first, second):
        dev.write_bytes(b"\x01" * (2 * MIB))
    infos = [DeviceInfo(logical_id=("x",), path=str(p), size_mib=2) for p in (first, second)]
    asyncio.run(prealloc_wipe_disks(infos[:1]))
    asyncio.run(prealloc_wipe_disks(infos[1:], first_mib=1))
    assert first.read_bytes() == bytes(2 * MIB)
    assert second.read_bytes() == bytes(MIB) + b"\x01" * MIB


class RecordingDriver(Diskless):
    """Creates in memory; the spec with index 2 fails; removal of index 0 fails if told."""

    def __init__(self, fail_remove: bool = False) -> None:
        self.created: list[int] = []
        self.removed: list[str] = []
        self.fail_remove = fail_remove

    async def create(self, spec: DiskCreateSpec) -> DeviceInfo:
        if spec.index == 2:
            raise BlockDeviceError("third disk failed")
        self.created.append(spec.index)
        return DeviceInfo(logical_id=("vg", f"lv{spec.index}"), path="/x", size_mib=1)

    async def remove(self, dev: DiskRef) -> None:
        if self.fail_remove and dev.logical_id == ("vg", "lv0"):
            raise BlockDeviceError("busy")
        self.removed.append(dev.logical_id[1])


def _specs(count: int) -> list[DiskCreateSpec]:
    return [DiskCreateSpec(uuid=f"u{i}", instance="i", index=i, size_mib=1,
                           template=DiskTemplate.DISKLESS) for i in range(count)]


def test_rollback_removes_made_disks_in_reverse() -> None:
    driver = RecordingDriver()
    with pytest.raises(BlockDeviceError, match="third disk failed"):
        asyncio.run(create_disks_with_rollback(_specs(4), lambda _s: driver))
    assert driver.created == [0, 1]
    assert driver.removed == ["lv1", "lv0"]


def test_rollback_reports_what_it_could_not_remove() -> None:
    driver = RecordingDriver(fail_remove=True)
    with pytest.raises(BlockDeviceError) as caught:
        asyncio.run(create_disks_with_rollback(_specs(3), lambda _s: driver))
    assert driver.removed == ["lv1"]
    assert any("could not remove disk u0" in note for note in caught.value.__notes__)


def test_rollback_success_returns_every_disk() -> None:
    infos = asyncio.run(create_disks_with_rollback(_specs(2), lambda _s: RecordingDriver()))
    assert [info.logical_id for info in infos] == [("vg", "lv0"), ("vg", "lv1")]


def test_registry(tmp_path: Path) -> None:
    layout, runner = NodeLayout(tmp_path), SubprocessRunner()
    settings = StorageSettings(file_storage_dir="/srv/f", shared_file_storage_dir="/srv/s")
    kinds = {t: type(make_driver(t, layout, runner, settings)) for t in SUPPORTED_TEMPLATES}
    assert kinds == {DiskTemplate.DISKLESS: Diskless, DiskTemplate.FILE: FileStorage,
                     DiskTemplate.SHAREDFILE: SharedFileStorage, DiskTemplate.PLAIN: LvmDriver,
                     DiskTemplate.BLOCKDEV: AdoptedBlockDevice, DiskTemplate.DRBD: DrbdDriver,
                     DiskTemplate.MIRROR: MirrorStorage}
    with pytest.raises(BlockDeviceError, match="not supported"):
        make_driver(DiskTemplate.RBD, layout, runner, settings)
    with pytest.raises(BlockDeviceError, match="no file storage directory"):
        make_driver(DiskTemplate.FILE, layout, runner, StorageSettings())


def test_diskless() -> None:
    driver = Diskless()
    ref = DiskRef(uuid="u", template=DiskTemplate.DISKLESS, logical_id=())
    with pytest.raises(BlockDeviceError, match="diskless"):
        asyncio.run(driver.create(_specs(1)[0]))
    with pytest.raises(BlockDeviceError):
        asyncio.run(driver.assemble(ref))
    assert asyncio.run(driver.find(ref)) is None
    asyncio.run(driver.remove(ref))
    assert asyncio.run(driver.storage_info("")) == StorageSpace(0, 0)
    with pytest.raises(BlockDeviceError, match="not supported"):
        asyncio.run(driver.snapshot(ref, "s"))


def test_ref_with_unknown_format_refused() -> None:
    disk = Disk(uuid="d1", dev_type=DiskTemplate.FILE, size=1, params={"format": "vmdk"})
    with pytest.raises(BlockDeviceError, match="Unknown disk format"):
        DiskRef.from_disk(disk)
