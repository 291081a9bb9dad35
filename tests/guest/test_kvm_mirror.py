"""Real QEMU ``mirror`` disks (TCG): a primary's guest writes to its local file and to
the secondary's NBD-over-TLS export, on two node roots of this host.

The secondary node's export is a ``qemu-storage-daemon`` (``corral.storage.mirror``)
with the cluster's certificates; the primary is a :class:`KvmHypervisor`.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import Iterator
from dataclasses import replace

import msgspec
import pytest

from corral.backend.blockdev import blockdev_create
from corral.backend.mirror_export import (
    mirror_export_start,
    mirror_export_status,
    mirror_export_stop,
)
from corral.clock import SystemClock
from corral.hypervisor.base import InstanceSpec, MirrorDiskStatus, MirrorSync
from corral.hypervisor.kvm.console import SerialConsole
from corral.hypervisor.kvm.driver import KvmHypervisor
from corral.objects.instance import Disk, DiskTemplate
from corral.process import SubprocessRunner
from corral.storage.mirror import ExportState, export_status, export_uri, parse_export_uri
from tests.guest import mirror_kit
from tests.guest.kit import guest_hvparams, require_qemu, stop_everything
from tests.guest.mirror_kit import (
    DISK_MIB,
    EXPORT,
    SECONDARY_ADDRESS,
    STORAGE_DIR,
    SYNC_TIMEOUT,
    MirrorPair,
    boot,
    free_port,
    measure_writes,
    mirror_spec,
    record_write,
    start_export,
    timed,
    wait_sync,
)

MIB = 1024 * 1024


@pytest.fixture
def mirror_pair() -> Iterator[MirrorPair]:
    """Two joined node roots (one CA) holding both halves of one mirror disk; the export
    is stopped and guests killed at the end."""
    require_qemu()
    with mirror_kit.mirror_pair() as pair:
        yield pair


@pytest.mark.parametrize("mirrored", [False, True], ids=["local", "mirror"])
def test_write_figures(mirror_pair: MirrorPair, mirrored: bool) -> None:
    hvparams = guest_hvparams(disk_cache="writethrough")

    async def scenario() -> None:
        uri = await start_export(mirror_pair)
        spec = mirror_spec("fig", mirror_pair, uri, hvparams, mirrored=mirrored)
        console = await boot(mirror_pair.primary, spec)
        try:
            if mirrored:
                await wait_sync(mirror_pair.primary, "fig", MirrorSync.IN_SYNC)
            iops, mibs = await measure_writes(console)
            print(f"\nFIGURES {'mirror' if mirrored else 'local'}: {iops:.0f} sync 4 KiB "
                  f"writes/s, {mibs:.1f} MiB/s")
            await timed(console, record_write(100, "FIG-MARK"), "MARK")
        finally:
            await console.close()
        remote = mirror_pair.remote.read_bytes()[100 * 512:100 * 512 + 8]
        assert (remote == b"FIG-MARK") == mirrored
    asyncio.run(scenario())


RECORD_LOOP = ("i=0; while [ $i -lt 60000 ]; do printf 'record %08d\\n' $i | dd of=/dev/vda "
               "bs=512 seek=$i oflag=direct conv=notrunc,sync,fsync 2>/dev/null && "
               "echo ACK $i; i=$((i+1)); done\n")
_ACK = re.compile(r"^ACK (\d+)\r?$", re.MULTILINE)


@pytest.mark.parametrize("moment", [1, 7, 20, 45, 80])
def test_acknowledged_records_survive_a_killed_primary(mirror_pair: MirrorPair,
                                                        moment: int) -> None:
    """SIGKILL the primary QEMU after ACK ``moment``: every ACKed record is on the secondary."""
    hvparams = guest_hvparams()

    async def scenario() -> list[int]:
        uri = await start_export(mirror_pair)
        console = await boot(mirror_pair.primary, mirror_spec("dur", mirror_pair, uri, hvparams))
        try:
            await wait_sync(mirror_pair.primary, "dur", MirrorSync.IN_SYNC)
            start = len(console.output)
            await console.send(RECORD_LOOP)
            await console.expect(f"ACK {moment}\r", timeout=120, start=start)
            record = await mirror_pair.primary.require_live("dur")
            os.kill(record.pid, signal.SIGKILL)
            acked = [int(n) for n in _ACK.findall(console.text[start:])]
        finally:
            await console.close()
        state, _ = export_status(mirror_pair.secondary, EXPORT)
        assert state == ExportState.RUNNING
        return acked

    acked = asyncio.run(scenario())
    assert acked
    assert max(acked) >= moment
    data = mirror_pair.remote.read_bytes()
    missing = [n for n in acked
               if not data[n * 512:].startswith(f"record {n:08d}\n".encode())]
    assert missing == []


def test_guest_runs_on_without_secondary_and_resyncs(mirror_pair: MirrorPair) -> None:
    """Export killed: guest writes still succeed, status DEGRADED; export back + resync:
    IN_SYNC and both copies equal."""
    hvparams = guest_hvparams()

    async def scenario() -> None:
        uri = await start_export(mirror_pair)
        driver = mirror_pair.primary
        console = await boot(driver, mirror_spec("deg", mirror_pair, uri, hvparams))
        try:
            await wait_sync(driver, "deg", MirrorSync.IN_SYNC)
            await timed(console, record_write(10, "BEFORE"), "W1")
            await mirror_export_stop(mirror_pair.secondary_ctx, mirror_pair.disk)
            assert not (await mirror_export_status(mirror_pair.secondary_ctx,
                                                   mirror_pair.disk)).running
            for sector in range(20, 30):
                await timed(console, record_write(sector, f"WHILE-{sector}"), f"W{sector}")
            await wait_sync(driver, "deg", MirrorSync.DEGRADED)
            assert mirror_pair.remote.read_bytes()[20 * 512:20 * 512 + 8] != b"WHILE-20"
            before = (await driver.mirror_status("deg"))[0]
            await start_export(mirror_pair)
            after = await _resync(driver, "deg", full=False)
            assert before.total <= after.total < before.total + DISK_MIB * MIB // 4
            await timed(console, record_write(40, "AFTER"), "W2")
        finally:
            await console.close()
        assert mirror_pair.local.read_bytes() == mirror_pair.remote.read_bytes()

    asyncio.run(scenario())


async def _resync(driver: KvmHypervisor, name: str, *, full: bool) -> MirrorDiskStatus:
    """Ask for a resync until the disk is in sync (the NBD client reconnects in the
    background, so a resumed job may fail once more first); the final status."""
    if full:
        await driver.mirror_resync(name, [0], full=True)
    async with asyncio.timeout(SYNC_TIMEOUT):
        while True:
            status = (await driver.mirror_status(name))[0]
            if status.state == MirrorSync.IN_SYNC:
                return status
            if status.state == MirrorSync.DEGRADED:
                await driver.mirror_resync(name, [0])
            await asyncio.sleep(0.2)


def test_lost_secondary_copy_gets_a_full_resync(mirror_pair: MirrorPair) -> None:
    """The secondary's file is replaced by a blank one while degraded: a full resync makes
    it equal to the primary's again."""
    hvparams = guest_hvparams()

    async def scenario() -> None:
        uri = await start_export(mirror_pair)
        driver = mirror_pair.primary
        console = await boot(driver, mirror_spec("full", mirror_pair, uri, hvparams))
        try:
            await wait_sync(driver, "full", MirrorSync.IN_SYNC)
            await timed(console, record_write(3, "KEPT"), "W1")
            await mirror_export_stop(mirror_pair.secondary_ctx, mirror_pair.disk)
            mirror_pair.remote.write_bytes(bytes(DISK_MIB * MIB))
            await start_export(mirror_pair)
            status = await _resync(driver, "full", full=True)
            assert status.total >= DISK_MIB * MIB
        finally:
            await console.close()
        assert mirror_pair.remote.read_bytes()[3 * 512:3 * 512 + 4] == b"KEPT"
        assert mirror_pair.local.read_bytes() == mirror_pair.remote.read_bytes()

    asyncio.run(scenario())


def test_live_migration_swaps_the_roles(mirror_pair: MirrorPair) -> None:
    """Live migration with no disk copy: the secondary's QEMU opens its own half while its
    export still receives the mirrored writes; after the switch-over the old primary's file
    is exported and the moved guest mirrors to it from its first write."""
    hvparams = guest_hvparams(migration_port=free_port(), migration_bandwidth=0)
    target = KvmHypervisor(mirror_pair.secondary, SubprocessRunner(), SystemClock())
    old_primary_uri = export_uri(SECONDARY_ADDRESS, free_port(), EXPORT)
    swapped = msgspec.structs.replace(
        mirror_pair.disk, logical_id=(*mirror_pair.disk.logical_id[:2], old_primary_uri))

    async def scenario() -> None:
        spec = mirror_spec("mig", mirror_pair, await start_export(mirror_pair), hvparams)
        console = await boot(mirror_pair.primary, spec)
        try:
            await wait_sync(mirror_pair.primary, "mig", MirrorSync.IN_SYNC)
            await timed(console, record_write(5, "BEFORE-MOVE"), "W1")
        finally:
            await console.close()
        moved = replace(spec, disks=(replace(spec.disks[0], path=str(mirror_pair.remote),
                                             uri=old_primary_uri),))
        info = await mirror_pair.primary.migration_info(spec)
        endpoint = await target.accept_instance(moved, info, SECONDARY_ADDRESS)
        await mirror_pair.primary.migrate_instance("cluster", spec, endpoint, True)
        async with asyncio.timeout(SYNC_TIMEOUT):
            while (await mirror_pair.primary.migration_status(spec)).active:
                await asyncio.sleep(0.1)
        assert (await mirror_pair.primary.migration_status(spec)).state == "completed"
        await mirror_pair.primary.finalize_migration_src(spec, True, True)
        # the master's part: stop the new primary's export, export the old primary's file
        await mirror_export_stop(mirror_pair.secondary_ctx, mirror_pair.disk)
        started = await mirror_export_start(mirror_pair.primary_ctx, swapped,
                                            SECONDARY_ADDRESS, parse_export_uri(
                                                old_primary_uri)[1], "node2")
        assert started.uri == old_primary_uri
        await target.finalize_migration_dst(moved, "", True)
        assert [s.state for s in await target.mirror_status("mig")] == [MirrorSync.IN_SYNC]
        console = SerialConsole(target.paths("mig").serial_socket)
        await console.open()
        try:
            await timed(console, record_write(6, "AFTER-MOVE"), "W2")
        finally:
            await console.close()

    try:
        asyncio.run(scenario())
    finally:
        asyncio.run(stop_everything(target))
        asyncio.run(mirror_export_stop(mirror_pair.primary_ctx, swapped))
    for path in (mirror_pair.local, mirror_pair.remote):
        data = path.read_bytes()
        assert data[5 * 512:5 * 512 + 11] == b"BEFORE-MOVE"
        assert data[6 * 512:6 * 512 + 10] == b"AFTER-MOVE"
    assert mirror_pair.local.read_bytes() == mirror_pair.remote.read_bytes()


def test_start_without_secondary_runs_degraded(mirror_pair: MirrorPair) -> None:
    """A failover starts the guest on its own half while the other node is down: the disk
    is degraded until the export is back and a resync copied the whole disk."""
    hvparams = guest_hvparams()

    async def scenario() -> None:
        driver = mirror_pair.primary
        console = await boot(driver, mirror_spec("solo", mirror_pair,
                                            mirror_pair.disk.logical_id[2], hvparams))
        try:
            [status] = await driver.mirror_status("solo")
            assert status.state == MirrorSync.DEGRADED
            assert "not attached" in status.error
            await timed(console, record_write(8, "ALONE"), "W1")
            await start_export(mirror_pair)
            await _resync(driver, "solo", full=False)
        finally:
            await console.close()
        assert mirror_pair.remote.read_bytes()[8 * 512:8 * 512 + 5] == b"ALONE"

    asyncio.run(scenario())


def test_export_lets_in_only_its_primary(mirror_pair: MirrorPair) -> None:
    """An export started for another node refuses this primary's certificate: the disk
    stays degraded (nothing reaches the secondary's file)."""
    hvparams = guest_hvparams()

    async def scenario() -> None:
        uri = await start_export(mirror_pair, client="node9")
        driver = mirror_pair.primary
        console = await boot(driver, mirror_spec("authz", mirror_pair, uri, hvparams))
        try:
            [status] = await driver.mirror_status("authz")
            assert status.state == MirrorSync.DEGRADED
            await timed(console, record_write(8, "PRIVATE"), "W1")
        finally:
            await console.close()
        assert mirror_pair.remote.read_bytes()[8 * 512:8 * 512 + 7] != b"PRIVATE"

    asyncio.run(scenario())


def test_resync_switches_to_a_new_secondary_export(mirror_pair: MirrorPair) -> None:
    """replace-disks -n on the node: the master names another export (a new secondary's
    half, another port) in the instance it sends; a full resync drops the old export,
    copies the whole disk to the new one, and the runtime record keeps the new URI."""
    hvparams = guest_hvparams()
    new_export = "5c1d-new-secondary"
    port = free_port()
    new_uri = export_uri(SECONDARY_ADDRESS, port, new_export)
    new_disk = Disk(uuid=new_export, dev_type=DiskTemplate.MIRROR, size=DISK_MIB,
                    iv_name="disk/0",
                    logical_id=("loop", f"{STORAGE_DIR}/inst/{new_export}.mirror", new_uri))
    new_file = mirror_pair.remote.parent / f"{new_export}.mirror"
    secondary = mirror_pair.secondary_ctx

    async def scenario() -> None:
        uri = await start_export(mirror_pair)
        driver = mirror_pair.primary
        console = await boot(driver, mirror_spec("mv", mirror_pair, uri, hvparams))
        try:
            await wait_sync(driver, "mv", MirrorSync.IN_SYNC)
            await timed(console, record_write(5, "BEFORE"), "W1")
            await blockdev_create(secondary, new_disk, DISK_MIB, "inst", False, "", False)
            await mirror_export_start(secondary, new_disk, SECONDARY_ADDRESS, port, "node1")
            given = mirror_spec("mv", mirror_pair, new_uri, hvparams)
            await driver.mirror_resync("mv", [0], full=True, given=given)
            await wait_sync(driver, "mv", MirrorSync.IN_SYNC)
            await timed(console, record_write(6, "AFTER"), "W2")
            record = await driver.stored_record("mv")
            assert record is not None
            assert InstanceSpec.from_dict(record.instance).disks[0].uri == new_uri
        finally:
            await console.close()
            await mirror_export_stop(secondary, new_disk)
        assert new_file.read_bytes()[5 * 512:5 * 512 + 6] == b"BEFORE"
        assert new_file.read_bytes() == mirror_pair.local.read_bytes()
        assert mirror_pair.remote.read_bytes()[6 * 512:6 * 512 + 5] != b"AFTER"

    asyncio.run(scenario())
