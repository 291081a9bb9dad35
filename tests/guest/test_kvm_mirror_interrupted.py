"""Real QEMU ``mirror`` disk (TCG): a whole-disk resync cut by the secondary's export
dying half-way (as after ``replace-disks`` or ``activate-disks`` of a lost copy) is
never reported in sync; once the export is back, the incremental resync that
``activate-disks`` asks for completes it and both copies are equal.

The resync is throttled for this test (QEMU's ``speed`` on the mirror job, as a busy
link would be) so that the export can be killed while it copies.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral.backend.mirror_export import mirror_export_status, mirror_export_stop
from corral.hypervisor.base import MirrorSync
from corral.hypervisor.kvm import mirror
from corral.hypervisor.kvm.qmp import QmpSession
from tests.guest import mirror_kit
from tests.guest.kit import guest_hvparams, require_qemu
from tests.guest.mirror_kit import (
    SYNC_TIMEOUT,
    MirrorPair,
    boot,
    mirror_spec,
    record_write,
    start_export,
    timed,
    wait_sync,
)

MIB = 1024 * 1024
DISK_MIB = 48
SLOW = 6 * MIB
"""Bytes/s of the throttled whole-disk copy (8 s for the disk)."""


@pytest.fixture
def mirror_pair() -> Iterator[MirrorPair]:
    require_qemu()
    with mirror_kit.mirror_pair(DISK_MIB) as pair:
        yield pair


def digest(path: Path) -> str:
    found = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(MIB):
            found.update(chunk)
    return found.hexdigest()


def throttled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every mirror job started from now on copies at :data:`SLOW`."""
    original = QmpSession.execute

    async def execute(self: QmpSession, command: str, arguments: dict[str, Any] | None = None,
                      **kw: Any) -> Any:
        if command == "blockdev-mirror" and arguments is not None:
            arguments = {**arguments, "speed": SLOW}
        return await original(self, command, arguments, **kw)

    monkeypatch.setattr(QmpSession, "execute", execute)


async def full_speed(pair: MirrorPair, name: str) -> None:
    record = await pair.primary.require_live(name)
    async with QmpSession(Path(record.qmp_socket)) as qmp:
        await qmp.execute("block-job-set-speed", {"device": mirror.job_id(0), "speed": 0})


def test_interrupted_full_resync_is_never_in_sync_until_completed(
        mirror_pair: MirrorPair, monkeypatch: pytest.MonkeyPatch) -> None:
    hvparams = guest_hvparams()
    driver = mirror_pair.primary
    with mirror_pair.local.open("r+b") as f:  # data, not holes: the copy takes time
        for _ in range(DISK_MIB):
            f.write(os.urandom(MIB))

    async def scenario() -> None:
        uri = await start_export(mirror_pair)
        console = await boot(driver, mirror_spec("cut", mirror_pair, uri, hvparams))
        try:
            await wait_sync(driver, "cut", MirrorSync.IN_SYNC)
            await timed(console, record_write(7, "KEPT"), "W1")
            # The secondary lost its copy: a whole-disk resync, cut half-way.
            await mirror_export_stop(mirror_pair.secondary_ctx, mirror_pair.disk)
            os.truncate(mirror_pair.remote, 0)
            os.truncate(mirror_pair.remote, DISK_MIB * MIB)
            await start_export(mirror_pair)
            throttled(monkeypatch)
            await driver.mirror_resync("cut", [0], full=True)
            monkeypatch.undo()
            await _copying(driver, "cut")
            export = await mirror_export_status(mirror_pair.secondary_ctx, mirror_pair.disk)
            assert export.running
            assert export.pid > 0
            os.kill(export.pid, signal.SIGKILL)
            await timed(console, record_write(9, "WHILE"), "W2")
            states = await _states_for(driver, "cut", seconds=2.0)
            assert MirrorSync.IN_SYNC not in states
            assert states[-1] == MirrorSync.DEGRADED
            assert digest(mirror_pair.local) != digest(mirror_pair.remote)
            # The export back: the resync activate-disks asks for completes the copy.
            await start_export(mirror_pair)
            await full_speed(mirror_pair, "cut")
            await _resync_until_in_sync(driver, "cut")
            await timed(console, record_write(11, "AFTER"), "W3")
        finally:
            await console.close()
        assert digest(mirror_pair.local) == digest(mirror_pair.remote)
        assert mirror_pair.remote.read_bytes()[9 * 512:9 * 512 + 5] == b"WHILE"

    asyncio.run(scenario())


async def _copying(driver: Any, name: str) -> None:
    """Until the throttled copy has done part (not all) of the disk."""
    async with asyncio.timeout(SYNC_TIMEOUT):
        while True:
            status = (await driver.mirror_status(name))[0]
            assert status.state != MirrorSync.IN_SYNC, "the throttled copy ended already"
            if status.state == MirrorSync.RESYNCING and status.done >= 2 * MIB:
                return
            await asyncio.sleep(0.05)


async def _states_for(driver: Any, name: str, *, seconds: float) -> list[MirrorSync]:
    states = []
    for _ in range(int(seconds / 0.1)):
        states.append((await driver.mirror_status(name))[0].state)
        await asyncio.sleep(0.1)
    return states


async def _resync_until_in_sync(driver: Any, name: str) -> None:
    """As ``activate-disks``: an incremental resync asked while the disk is degraded."""
    async with asyncio.timeout(SYNC_TIMEOUT):
        while True:
            status = (await driver.mirror_status(name))[0]
            if status.state == MirrorSync.IN_SYNC:
                return
            if status.state == MirrorSync.DEGRADED:
                await driver.mirror_resync(name, [0])
            await asyncio.sleep(0.2)
