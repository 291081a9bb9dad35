"""Creating several disks as one step: all are made, or none is left behind."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from corral.errors import BlockDeviceError
from corral.storage.base import BlockDevice, DeviceInfo, DiskCreateSpec, DiskRef

log = logging.getLogger(__name__)


async def create_disks_with_rollback(
    specs: Sequence[DiskCreateSpec], driver_for: Callable[[DiskCreateSpec], BlockDevice]
) -> list[DeviceInfo]:
    """Create ``specs`` in order; if one fails, remove every disk made so far and re-raise.

    The failing disk itself is not removed: its driver already cleaned up, and a
    disk that failed because it existed before must not be destroyed. Failures
    of the rollback are logged and added as notes to the original error.

    Raises:
        BlockDeviceError: the first failure (after rollback).
    """
    made: list[tuple[BlockDevice, DiskRef, DeviceInfo]] = []
    for spec in specs:
        driver = driver_for(spec)
        try:
            info = await driver.create(spec)
        except BaseException as err:
            for problem in await _remove_all(made):
                err.add_note(problem)
            raise
        made.append((driver, spec.ref(info.logical_id), info))
    return [info for _, _, info in made]


async def _remove_all(made: Sequence[tuple[BlockDevice, DiskRef, DeviceInfo]]) -> list[str]:
    problems = []
    for driver, ref, _ in reversed(made):
        try:
            await driver.remove(ref)
        except BlockDeviceError as err:
            log.warning("rollback: cannot remove disk %s: %s", ref.uuid, err)
            problems.append(f"rollback could not remove disk {ref.uuid}: {err}")
    return problems
