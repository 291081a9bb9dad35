"""Adopted block devices: what is refused, and how size is read (no root needed)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from corral.errors import BlockDeviceError
from corral.objects import DiskTemplate
from corral.process import CommandResult
from corral.storage.base import DiskCreateSpec, DiskRef, StorageSpace
from corral.storage.blockdev import AdoptedBlockDevice


class FakeBlockdev:
    def __init__(self, stdout: str = "16777216\n", code: int = 0) -> None:
        self.stdout, self.code = stdout, code
        self.calls: list[tuple[str, ...]] = []

    async def run(self, argv: Sequence[str], **_kwargs: Any) -> CommandResult:
        self.calls.append(tuple(argv))
        return CommandResult(tuple(argv), self.code, self.stdout, "blockdev: failed\n")


def _a_block_device() -> str:
    for name in sorted(os.listdir("/dev")):
        path = f"/dev/{name}"
        if name.startswith("loop") and name[4:].isdigit():
            return path
    pytest.skip("no /dev/loopN node on this machine")


def _spec(path: str, size_mib: int = 8) -> DiskCreateSpec:
    return DiskCreateSpec(uuid="a", instance="i", index=0, size_mib=size_mib,
                          template=DiskTemplate.BLOCKDEV, logical_id=("manual", path))


def test_adopt_measures_with_blockdev() -> None:
    runner = FakeBlockdev()
    path = _a_block_device()
    info = asyncio.run(AdoptedBlockDevice(runner).create(_spec(path)))
    assert (info.path, info.size_mib) == (path, 16)
    assert runner.calls == [("blockdev", "--getsize64", path)]


def test_too_small_device_refused() -> None:
    with pytest.raises(BlockDeviceError, match="less than the requested 32 MiB"):
        asyncio.run(AdoptedBlockDevice(FakeBlockdev()).create(_spec(_a_block_device(), 32)))


@pytest.mark.parametrize(
    ("logical_id", "message"),
    [(("manual", "/tmp/x"), "not under /dev"), (("manual", "/dev/../etc/passwd"), "normalised"),
     (("auto", "/dev/loop0"), "Invalid blockdev logical id"),
     (("manual", "/dev/null"), "not an existing block device")],
    ids=["outside-dev", "dotdot", "driver", "char-device"],
)
def test_refusals(logical_id: tuple[str, str], message: str) -> None:
    spec = DiskCreateSpec(uuid="a", instance="i", index=0, size_mib=1,
                          template=DiskTemplate.BLOCKDEV, logical_id=logical_id)
    with pytest.raises(BlockDeviceError, match=message):
        asyncio.run(AdoptedBlockDevice(FakeBlockdev()).create(spec))


def test_regular_file_in_dev_dir_refused(tmp_path: Path) -> None:
    fake = tmp_path / "disk"
    fake.write_bytes(b"")
    driver = AdoptedBlockDevice(FakeBlockdev(), dev_dir=tmp_path)
    with pytest.raises(BlockDeviceError, match="not an existing block device"):
        asyncio.run(driver.create(_spec(str(fake))))


def test_never_grown_removed_or_measured_wrongly() -> None:
    path = _a_block_device()
    ref = DiskRef(uuid="a", template=DiskTemplate.BLOCKDEV, logical_id=("manual", path))
    runner = FakeBlockdev()
    driver = AdoptedBlockDevice(runner)
    with pytest.raises(BlockDeviceError, match="not growable"):
        asyncio.run(driver.grow(ref, 4, False))
    asyncio.run(driver.remove(ref))
    asyncio.run(driver.shutdown(ref))
    assert runner.calls == []
    assert os.path.exists(path)
    assert asyncio.run(driver.storage_info("")) == StorageSpace(0, 0)
    with pytest.raises(BlockDeviceError, match="Unexpected blockdev output"):
        asyncio.run(AdoptedBlockDevice(FakeBlockdev("junk")).get_size(ref))
    with pytest.raises(BlockDeviceError, match="Cannot get the size"):
        asyncio.run(AdoptedBlockDevice(FakeBlockdev(code=1)).get_size(ref))
