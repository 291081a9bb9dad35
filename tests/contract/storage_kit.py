"""Conformance kit for storage drivers, in the manner of trio's ``check_*_stream``.

``check_storage(make_driver, make_spec)`` runs every check against one driver:
``make_spec(index, size_mib)`` returns the spec of disk ``index`` (distinct
indices name distinct disks). Drivers declare what they can do with class
flags (``growable``, ``adopts``), and the kit holds them to it: a growable
driver must grow, the others must refuse clearly; a driver that allocates must
refuse more than its free space and leave nothing behind, while an adopting
driver must never destroy the device it adopted.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from corral.errors import BlockDeviceError
from corral.storage.base import (
    MIB,
    BlockDevice,
    DeviceInfo,
    DiskCreateSpec,
    DiskFormat,
    DiskRef,
    is_insufficient_space,
)
from corral.storage.rollback import create_disks_with_rollback

MakeDriver = Callable[[], BlockDevice]
MakeSpec = Callable[[int, int], DiskCreateSpec]
MARKER = b"corral-storage-kit"
MARKER_OFFSET = MIB
GROW_MIB = 4


async def check_storage(
    make_driver: MakeDriver, make_spec: MakeSpec, *, unit: str = "", size_mib: int = 8
) -> None:
    """Run every check; raises AssertionError on the first violation of the contract."""
    driver = make_driver()
    await check_storage_info(driver, unit)
    await check_lifecycle(driver, make_spec, size_mib)
    await check_too_large(driver, make_spec, unit)
    await check_rollback(driver, make_spec, unit, size_mib)


async def check_storage_info(driver: BlockDevice, unit: str) -> None:
    space = await driver.storage_info(unit)
    assert 0 <= space.free_mib <= space.size_mib, space
    if not driver.adopts:
        assert space.size_mib > 0, space


async def check_lifecycle(driver: BlockDevice, make_spec: MakeSpec, size_mib: int) -> None:
    """create → find → grow → shutdown/assemble → remove (twice)."""
    spec = make_spec(0, size_mib)
    info = await driver.create(spec)
    ref = spec.ref(info.logical_id)
    assert info.logical_id, "create must return the logical id to store"
    await _check_device(driver, spec, info, size_mib)
    found = await driver.find(ref)
    assert found is not None, "find lost the new disk"
    assert found.path == info.path, found
    if not driver.adopts:
        await _check_duplicate_refused(driver, spec)
        other = make_spec(1, size_mib)
        assert await driver.find(other.ref(driver.logical_id_for(other))) is None
    raw = spec.fmt is DiskFormat.RAW
    if raw:
        _write_marker(info.path)
    size_mib = await _check_grow(driver, spec, info, size_mib)
    await _check_cycle(driver, spec, info, size_mib, raw)
    status = await driver.sync_status(ref)
    assert not status.is_degraded, status
    assert status.sync_percent is None, status
    await _expect_refusal(driver.snapshot(ref, "snap"), "snapshot")
    await _check_remove(driver, spec, info)


async def _check_device(
    driver: BlockDevice, spec: DiskCreateSpec, info: DeviceInfo, size_mib: int
) -> None:
    ref = spec.ref(info.logical_id)
    if driver.adopts:
        assert info.size_mib >= size_mib, info
    else:
        assert info.size_mib == size_mib, info
    assert await driver.get_size(ref) == info.size_mib
    assert _exists(info.path), f"{info.path} does not exist"
    if spec.fmt is DiskFormat.RAW:
        assert _apparent_mib(info.path) == info.size_mib, info


async def _check_duplicate_refused(driver: BlockDevice, spec: DiskCreateSpec) -> None:
    try:
        await driver.create(spec)
    except BlockDeviceError:
        return
    raise AssertionError("creating an existing disk again must fail")


async def _check_grow(
    driver: BlockDevice, spec: DiskCreateSpec, info: DeviceInfo, size_mib: int
) -> int:
    ref = spec.ref(info.logical_id)
    before = await driver.get_size(ref)
    if not driver.growable:
        await _expect_refusal(driver.grow(ref, GROW_MIB, False), "grow")
        assert await driver.get_size(ref) == before
        return before
    await driver.grow(ref, GROW_MIB, True)
    assert await driver.get_size(ref) == before, "a dry-run grow must change nothing"
    await driver.grow(ref, GROW_MIB, False)
    after = await driver.get_size(ref)
    assert after == before + GROW_MIB, (before, after)
    return after


async def _check_cycle(
    driver: BlockDevice, spec: DiskCreateSpec, info: DeviceInfo, size_mib: int, raw: bool
) -> None:
    ref = spec.ref(info.logical_id)
    await driver.shutdown(ref)
    await driver.shutdown(ref)
    assembled = await driver.assemble(ref)
    assert assembled.path == info.path, assembled
    assert assembled.size_mib == size_mib, assembled
    assert _exists(assembled.path)
    if raw:
        assert _apparent_mib(assembled.path) == size_mib
        assert _read_marker(assembled.path) == MARKER, "data lost across shutdown/assemble"
    again = await driver.assemble(ref)
    assert again.path == assembled.path, "assemble must be repeatable"


async def _check_remove(driver: BlockDevice, spec: DiskCreateSpec, info: DeviceInfo) -> None:
    ref = spec.ref(info.logical_id)
    await driver.remove(ref)
    await driver.remove(ref)
    if driver.adopts:
        assert _exists(info.path), "remove must not destroy an adopted device"
    else:
        assert await driver.find(ref) is None, "removed disk still found"
        assert not _exists(info.path), f"{info.path} left behind"


async def check_too_large(driver: BlockDevice, make_spec: MakeSpec, unit: str) -> None:
    """More than the free space is refused, and nothing is left behind."""
    before = await driver.storage_info(unit)
    spec = make_spec(90, _too_large(driver, before.free_mib))
    err = await _refusal(driver.create(spec), "a disk larger than the free space")
    if not driver.adopts:
        assert is_insufficient_space(err), f"not an out-of-space error: {err}"
    if not driver.adopts:
        assert await driver.find(_ref(driver, spec)) is None, "a failed create left a disk"
    after = await driver.storage_info(unit)
    assert after.free_mib >= before.free_mib - 1, (before, after)


async def check_rollback(
    driver: BlockDevice, make_spec: MakeSpec, unit: str, size_mib: int
) -> None:
    """Three disks, the third fails: the first two are gone (or, adopted, untouched)."""
    free = (await driver.storage_info(unit)).free_mib
    specs = [make_spec(10, size_mib), make_spec(11, size_mib),
             make_spec(12, _too_large(driver, free))]
    await _refusal(create_disks_with_rollback(specs, lambda _spec: driver), "the third disk")
    for spec in specs[:2]:
        found = await driver.find(_ref(driver, spec))
        if driver.adopts:
            assert found is not None, "rollback destroyed an adopted device"
        else:
            assert found is None, f"rollback left disk {spec.index} behind"


def _ref(driver: BlockDevice, spec: DiskCreateSpec) -> DiskRef:
    return spec.ref(driver.logical_id_for(spec))


def _too_large(driver: BlockDevice, free_mib: int) -> int:
    return (1 << 30) if driver.adopts else free_mib + 64


async def _refusal(operation: Awaitable[object], what: str) -> BlockDeviceError:
    """The BlockDeviceError ``operation`` raises; an AssertionError if it succeeds."""
    try:
        await operation
    except BlockDeviceError as err:
        return err
    raise AssertionError(f"{what} should have been refused")


async def _expect_refusal(operation: Awaitable[object], what: str) -> None:
    err = await _refusal(operation, what)
    assert str(err), f"{what} refused without a message"


def _exists(path: str) -> bool:
    return os.path.exists(path)


def _apparent_mib(path: str) -> int:
    with open(path, "rb") as handle:
        return handle.seek(0, os.SEEK_END) // MIB


def _write_marker(path: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, MARKER, MARKER_OFFSET)
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_marker(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, len(MARKER), MARKER_OFFSET)
    finally:
        os.close(fd)
