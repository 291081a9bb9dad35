"""The plain driver's commands and error mapping, against the LVM simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from corral.errors import BlockDeviceError, ErrorCode
from corral.objects import DiskTemplate
from corral.process import CommandResult
from corral.storage.base import (
    DeviceCommandError,
    DiskCreateSpec,
    DiskRef,
    LDiskStatus,
    StorageSpace,
    is_insufficient_space,
)
from corral.storage.lvm.driver import LvmDriver
from corral.testing.lvm import LvmSimulator

UUID = "0c6ecb1e-5c5b-4b37-9a63-2f1b1d0f0a11"


@pytest.fixture
def sim(tmp_path: Path) -> LvmSimulator:
    return LvmSimulator(tmp_path / "dev", pvs=[("/dev/sdb", 1024)])


def _driver(sim: Any, tmp_path: Path) -> LvmDriver:
    return LvmDriver(sim, dev_dir=tmp_path / "dev")


def _spec(size_mib: int = 8, **changes: Any) -> DiskCreateSpec:
    fields: dict[str, Any] = {"uuid": UUID, "instance": "inst1", "index": 0,
                              "size_mib": size_mib, "template": DiskTemplate.PLAIN}
    return DiskCreateSpec(**{**fields, **changes})


def test_create_runs_lvcreate_with_ganeti_names(sim: LvmSimulator, tmp_path: Path) -> None:
    info = asyncio.run(_driver(sim, tmp_path).create(_spec(6)))
    lv = f"{UUID}.disk0"
    assert ("lvcreate", "--yes", "-L", "6m", "-n", lv, "xenvg") in sim.calls
    assert info.logical_id == ("xenvg", lv)
    assert info.path == str(tmp_path / "dev" / "xenvg" / lv)
    assert (info.size_mib, info.active) == (8, True), "rounded up to a 4 MiB extent"


def test_stripes_parameter(tmp_path: Path) -> None:
    sim = LvmSimulator(tmp_path / "dev", pvs=[("/dev/sdb", 1024), ("/dev/sdc", 1024)])
    asyncio.run(_driver(sim, tmp_path).create(_spec(params={"stripes": 2})))
    assert any(call[0] == "lvcreate" and "-i" in call for call in sim.calls)


def test_not_enough_space_has_ganetis_message(sim: LvmSimulator, tmp_path: Path) -> None:
    with pytest.raises(DeviceCommandError) as caught:
        asyncio.run(_driver(sim, tmp_path).create(_spec(2000)))
    assert str(caught.value) == "Not enough free space: required 2000, available 1020"
    assert caught.value.code is ErrorCode.NORES
    assert not any(call[0] == "lvcreate" for call in sim.calls)


class LyingVgs:
    """Reports plenty of free space, so lvcreate itself has to refuse (a race)."""

    def __init__(self, sim: LvmSimulator) -> None:
        self.sim = sim

    async def run(self, argv: Sequence[str], **kwargs: Any) -> CommandResult:
        if argv[0] == "vgs":
            return CommandResult(tuple(argv), 0, "  xenvg|99999.00|99999.00\n", "")
        return await self.sim.run(argv, **kwargs)


def test_lvcreate_out_of_space_is_coded(sim: LvmSimulator, tmp_path: Path) -> None:
    with pytest.raises(DeviceCommandError) as caught:
        asyncio.run(_driver(LyingVgs(sim), tmp_path).create(_spec(2000)))
    err = caught.value
    assert (err.code, err.exit_code, err.command[0]) == (ErrorCode.NORES, 5, "lvcreate")
    assert "insufficient free space (255 extents): 500 required" in str(err)
    assert is_insufficient_space(err)


def test_existing_lv_is_coded(sim: LvmSimulator, tmp_path: Path) -> None:
    driver = _driver(sim, tmp_path)
    asyncio.run(driver.create(_spec()))
    with pytest.raises(DeviceCommandError) as caught:
        asyncio.run(driver.create(_spec()))
    assert caught.value.code is ErrorCode.EXISTS


def test_missing_vg(sim: LvmSimulator, tmp_path: Path) -> None:
    with pytest.raises(BlockDeviceError, match='Volume group "novg" not found'):
        asyncio.run(_driver(sim, tmp_path).create(_spec(logical_id=("novg", "lv"))))


@pytest.mark.parametrize("lv", ["-rf", "a/b", "..", "x" * 200, "a b"], ids=str)
def test_bad_names_never_reach_lvm(sim: LvmSimulator, tmp_path: Path, lv: str) -> None:
    with pytest.raises(BlockDeviceError, match="Invalid logical volume name"):
        asyncio.run(_driver(sim, tmp_path).create(_spec(logical_id=("xenvg", lv))))
    assert sim.calls == []


class Scribbler:
    """Writes junk into every new LV, as stale data from an old LV would be."""

    def __init__(self, sim: LvmSimulator) -> None:
        self.sim = sim

    async def run(self, argv: Sequence[str], **kwargs: Any) -> CommandResult:
        result = await self.sim.run(argv, **kwargs)
        if argv[0] == "lvcreate" and result.exit_code == 0:
            name = argv[argv.index("-n") + 1]
            with open(self.sim.device(argv[-1], name), "r+b") as handle:
                handle.write(b"\xff" * (1024 * 1024))
        return result


def test_wipe_zeroes_the_new_lv(sim: LvmSimulator, tmp_path: Path) -> None:
    driver = _driver(Scribbler(sim), tmp_path)
    dirty = asyncio.run(driver.create(_spec(index=1)))
    clean = asyncio.run(driver.create(_spec(index=2, wipe=True)))
    assert Path(dirty.path).read_bytes()[:4] == b"\xff" * 4
    assert Path(clean.path).read_bytes() == bytes(8 * 1024 * 1024)


def test_missing_lv_behaviour(sim: LvmSimulator, tmp_path: Path) -> None:
    driver = _driver(sim, tmp_path)
    ref = DiskRef(uuid="u", template=DiskTemplate.PLAIN, logical_id=("xenvg", "gone"))
    assert asyncio.run(driver.find(ref)) is None
    asyncio.run(driver.remove(ref))
    asyncio.run(driver.shutdown(ref))
    with pytest.raises(DeviceCommandError, match="Failed to find logical volume"):
        asyncio.run(driver.assemble(ref))
    with pytest.raises(BlockDeviceError, match="not found"):
        asyncio.run(driver.grow(ref, 4, False))
    status = asyncio.run(driver.sync_status(ref))
    assert status.is_degraded
    assert status.ldisk_status is LDiskStatus.FAULTY
    gone_vg = DiskRef(uuid="u", template=DiskTemplate.PLAIN, logical_id=("novg", "x"))
    asyncio.run(driver.remove(gone_vg))


def test_grow_checks_space_and_dry_run(sim: LvmSimulator, tmp_path: Path) -> None:
    driver = _driver(sim, tmp_path)
    info = asyncio.run(driver.create(_spec()))
    ref = _spec().ref(info.logical_id)
    with pytest.raises(DeviceCommandError, match="Not enough free space: required 5000"):
        asyncio.run(driver.grow(ref, 5000, True))
    asyncio.run(driver.grow(ref, 4, True))
    assert any("--test" in call for call in sim.calls)
    assert asyncio.run(driver.get_size(ref)) == 8


def test_inventory(sim: LvmSimulator, tmp_path: Path) -> None:
    driver = _driver(sim, tmp_path)
    asyncio.run(driver.create(_spec()))
    assert asyncio.run(driver.storage_info("xenvg")) == StorageSpace(1020, 1012)
    (pv,) = asyncio.run(driver.physical_volumes())
    assert (pv.name, pv.free_mib) == ("/dev/sdb", 1012)
    (lv,) = asyncio.run(driver.logical_volumes("xenvg"))
    assert lv.name == f"{UUID}.disk0"
    assert lv.attr.active
    with pytest.raises(BlockDeviceError, match="not found"):
        asyncio.run(driver.storage_info("novg"))


@pytest.mark.parametrize("stripes", ["two", -1], ids=["text", "negative"])
def test_bad_stripes_refused(sim: LvmSimulator, tmp_path: Path, stripes: object) -> None:
    with pytest.raises(BlockDeviceError, match="Invalid stripes"):
        asyncio.run(_driver(sim, tmp_path).create(_spec(params={"stripes": stripes})))
    assert not any(call[0] == "lvcreate" for call in sim.calls)


def test_rename_keeps_the_data_under_the_new_name(sim: LvmSimulator, tmp_path: Path) -> None:
    driver = _driver(sim, tmp_path)
    info = asyncio.run(driver.create(_spec()))
    Path(info.path).write_bytes(b"data")
    ref = DiskRef(uuid=UUID, template=DiskTemplate.PLAIN, logical_id=info.logical_id)
    asyncio.run(driver.rename(ref, ("xenvg", "moved")))
    assert ("lvrename", "xenvg", info.logical_id[1], "moved") in sim.calls
    assert asyncio.run(driver.find(ref)) is None
    moved = DiskRef(uuid=UUID, template=DiskTemplate.PLAIN, logical_id=("xenvg", "moved"))
    found = asyncio.run(driver.find(moved))
    assert found is not None
    assert found.active
    assert Path(found.path).read_bytes()[:4] == b"data"


def test_rename_refusals(sim: LvmSimulator, tmp_path: Path) -> None:
    driver = _driver(sim, tmp_path)
    info = asyncio.run(driver.create(_spec()))
    asyncio.run(driver.create(_spec(index=1)))
    ref = DiskRef(uuid=UUID, template=DiskTemplate.PLAIN, logical_id=info.logical_id)
    with pytest.raises(BlockDeviceError, match="across volume groups"):
        asyncio.run(driver.rename(ref, ("othervg", "x")))
    with pytest.raises(BlockDeviceError, match="Invalid logical volume name"):
        asyncio.run(driver.rename(ref, ("xenvg", "-x")))
    with pytest.raises(DeviceCommandError, match=r'"[^"]*disk1" already exists'):
        asyncio.run(driver.rename(ref, ("xenvg", f"{UUID}.disk1")))
    gone = DiskRef(uuid=UUID, template=DiskTemplate.PLAIN, logical_id=("xenvg", "gone"))
    with pytest.raises(DeviceCommandError, match='Existing logical volume "gone" not found'):
        asyncio.run(driver.rename(gone, ("xenvg", "other")))
