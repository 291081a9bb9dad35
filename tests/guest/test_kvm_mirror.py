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
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from corral.clock import SystemClock
from corral.guestkit import READY_MARKER
from corral.hypervisor.base import DiskSpec, InstanceSpec, MirrorSync
from corral.hypervisor.kvm.console import SerialConsole
from corral.hypervisor.kvm.driver import KvmHypervisor
from corral.layout import NodeLayout
from corral.objects.instance import DiskTemplate
from corral.process import SubprocessRunner
from corral.rpc import pki
from corral.storage.mirror import ExportState, export_status, start_export, stop_export
from tests.guest.kit import (
    BOOT_TIMEOUT,
    guest_hvparams,
    guest_spec,
    require_qemu,
    short_root,
    stop_everything,
)
from tests.support.connections import joined_layout

SECONDARY_ADDRESS = "127.0.0.1"
DISK_MIB = 32
EXPORT = "disk0-mirror"
SYNC_TIMEOUT = 60.0


@dataclass
class MirrorPair:
    """The primary's driver and disk file, the secondary's layout and disk file."""

    primary: KvmHypervisor
    secondary: NodeLayout
    local: Path
    remote: Path
    port: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((SECONDARY_ADDRESS, 0))
        return int(sock.getsockname()[1])


def _blank(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.truncate(DISK_MIB * 1024 * 1024)
    return path


@pytest.fixture
def mirror_pair() -> Iterator[MirrorPair]:
    """Two joined node roots (one CA); the export is stopped and guests killed at the end."""
    require_qemu()
    ca_key, ca_cert = pki.create_ca("mirror.example")
    with short_root() as first, short_root() as second:
        joined_layout(first, "node1", ca_key, ca_cert)
        secondary = joined_layout(second, "node2", ca_key, ca_cert)
        driver = KvmHypervisor(NodeLayout(first), SubprocessRunner(), SystemClock())
        pair = MirrorPair(primary=driver, secondary=secondary,
                          local=_blank(first / "disks" / "local.img"),
                          remote=_blank(second / "disks" / "remote.img"), port=_free_port())
        try:
            yield pair
        finally:
            asyncio.run(stop_everything(driver))
            stop_export(secondary, EXPORT)


async def _export(pair: MirrorPair) -> str:
    record = await start_export(pair.secondary, SubprocessRunner(), EXPORT, str(pair.remote),
                                SECONDARY_ADDRESS, pair.port)
    return record.uri


def _spec(name: str, pair: MirrorPair, uri: str, hvparams: dict[str, Any], *,
          mirrored: bool = True) -> InstanceSpec:
    disk = DiskSpec(path=str(pair.local), uri=uri if mirrored else "", size_mib=DISK_MIB,
                    dev_type=DiskTemplate.MIRROR if mirrored else DiskTemplate.FILE)
    return replace(guest_spec(name, hvparams, memory_mib=96), disks=(disk,))


async def _boot(driver: KvmHypervisor, spec: InstanceSpec) -> SerialConsole:
    await driver.start(spec)
    console = SerialConsole(driver.paths(spec.name).serial_socket)
    await console.open()
    await console.expect(READY_MARKER, timeout=BOOT_TIMEOUT)
    return console


async def _wait_sync(driver: KvmHypervisor, name: str, want: MirrorSync) -> None:
    async with asyncio.timeout(SYNC_TIMEOUT):
        while True:
            states = await driver.mirror_status(name)
            if all(s.state == want for s in states):
                return
            await asyncio.sleep(0.1)


async def _timed(console: SerialConsole, command: str, marker: str) -> float:
    start = len(console.output)
    began = time.monotonic()
    await console.send(f"{command}; echo {marker}-$?\n")
    await console.expect(f"{marker}-0", timeout=120, start=start)
    return time.monotonic() - began


async def _measure(console: SerialConsole) -> tuple[float, float]:
    """(4 KiB writes/s with a flush after each, sequential MiB/s) inside the guest."""
    count = 200
    small = await _timed(console, f"dd if=/dev/zero of=/dev/vda bs=4k count={count} "
                         "oflag=direct 2>/dev/null", "SMALL")
    big = await _timed(console, "dd if=/dev/zero of=/dev/vda bs=1M count=16 oflag=direct "
                       "conv=fsync 2>/dev/null", "BIG")
    return count / small, 16 / big


@pytest.mark.parametrize("mirrored", [False, True], ids=["local", "mirror"])
def test_write_figures(mirror_pair: MirrorPair, mirrored: bool) -> None:
    hvparams = guest_hvparams(disk_cache="writethrough")

    async def scenario() -> None:
        uri = await _export(mirror_pair)
        spec = _spec("fig", mirror_pair, uri, hvparams, mirrored=mirrored)
        console = await _boot(mirror_pair.primary, spec)
        try:
            if mirrored:
                await _wait_sync(mirror_pair.primary, "fig", MirrorSync.IN_SYNC)
            iops, mibs = await _measure(console)
            print(f"\nFIGURES {'mirror' if mirrored else 'local'}: {iops:.0f} sync 4 KiB "
                  f"writes/s, {mibs:.1f} MiB/s")
            await _timed(console, _record_write(100, "FIG-MARK"), "MARK")
        finally:
            await console.close()
        remote = mirror_pair.remote.read_bytes()[100 * 512:100 * 512 + 8]
        assert (remote == b"FIG-MARK") == mirrored
    asyncio.run(scenario())


def _record_write(sector: int, text: str) -> str:
    """A guest command writing ``text`` (padded) to ``sector`` with O_DIRECT and a flush."""
    return (f"printf '{text}' | dd of=/dev/vda bs=512 seek={sector} oflag=direct "
            "conv=notrunc,sync,fsync 2>/dev/null")


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
        uri = await _export(mirror_pair)
        console = await _boot(mirror_pair.primary, _spec("dur", mirror_pair, uri, hvparams))
        try:
            await _wait_sync(mirror_pair.primary, "dur", MirrorSync.IN_SYNC)
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
        uri = await _export(mirror_pair)
        driver = mirror_pair.primary
        console = await _boot(driver, _spec("deg", mirror_pair, uri, hvparams))
        try:
            await _wait_sync(driver, "deg", MirrorSync.IN_SYNC)
            await _timed(console, _record_write(10, "BEFORE"), "W1")
            assert stop_export(mirror_pair.secondary, EXPORT)
            for sector in range(20, 30):
                await _timed(console, _record_write(sector, f"WHILE-{sector}"), f"W{sector}")
            await _wait_sync(driver, "deg", MirrorSync.DEGRADED)
            assert mirror_pair.remote.read_bytes()[20 * 512:20 * 512 + 8] != b"WHILE-20"
            await _export(mirror_pair)
            async with asyncio.timeout(SYNC_TIMEOUT):
                while (await driver.mirror_status("deg"))[0].state != MirrorSync.IN_SYNC:
                    await driver.mirror_resync("deg")
                    await asyncio.sleep(0.2)
            await _timed(console, _record_write(40, "AFTER"), "W2")
        finally:
            await console.close()
        assert mirror_pair.local.read_bytes() == mirror_pair.remote.read_bytes()

    asyncio.run(scenario())
