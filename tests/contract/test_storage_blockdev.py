"""The storage kit against adopted block devices: real loop devices made for the test."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.objects import DiskTemplate
from corral.process import SubprocessRunner
from corral.storage.base import DiskCreateSpec
from corral.storage.blockdev import BLOCKDEV_DRIVER_MANUAL, AdoptedBlockDevice
from tests.contract.storage_kit import check_storage

LOOP_MIB = 16


@pytest.fixture
def loop_devices(tmp_path: Path) -> Iterator[list[str]]:
    if os.geteuid() != 0:
        pytest.skip("attaching loop devices needs root")
    if shutil.which("losetup") is None or shutil.which("blockdev") is None:
        pytest.skip("needs losetup and blockdev (Debian packages mount and util-linux)")
    devices: list[str] = []
    try:
        for number in range(2):
            backing = tmp_path / f"backing{number}.img"
            with open(backing, "wb") as handle:
                handle.truncate(LOOP_MIB * 1024 * 1024)
            done = subprocess.run(["losetup", "--find", "--show", str(backing)],
                                  capture_output=True, text=True, check=False)
            if done.returncode != 0:
                pytest.skip(f"cannot attach a loop device: {done.stderr.strip()}")
            devices.append(done.stdout.strip())
        yield devices
    finally:
        for device in devices:
            subprocess.run(["losetup", "--detach", device], check=False)


def test_blockdev_driver_passes_the_kit(loop_devices: list[str]) -> None:
    def make_spec(index: int, size_mib: int) -> DiskCreateSpec:
        device = loop_devices[index % len(loop_devices)]
        return DiskCreateSpec(uuid=f"adopted-{index}", instance="inst1", index=index,
                              size_mib=size_mib, template=DiskTemplate.BLOCKDEV,
                              logical_id=(BLOCKDEV_DRIVER_MANUAL, device))

    asyncio.run(check_storage(lambda: AdoptedBlockDevice(SubprocessRunner()), make_spec))
    for device in loop_devices:
        assert os.path.exists(device)
