"""A ``mirror`` disk between two node roots of this host, for the real-QEMU tests and the
mirror write benchmark (:mod:`bench.bench_mirror_write`).

Two joined node roots (one cluster CA) hold both halves of one mirror disk, created
through ``blockdev_create``; the secondary serves its half with ``mirror_export_start``
(``qemu-storage-daemon``, NBD over TLS, only the primary's certificate let in) and the
primary is a :class:`KvmHypervisor`. Nothing here skips or asserts: callers check that
QEMU is installed first.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from corral.backend.blockdev import blockdev_create
from corral.backend.context import NodeContext
from corral.backend.mirror_export import (
    mirror_export_start,
    mirror_export_status,
    mirror_export_stop,
)
from corral.clock import SystemClock
from corral.errors import HypervisorError
from corral.guestkit import READY_MARKER
from corral.hypervisor.base import DiskSpec, InstanceSpec, MirrorSync
from corral.hypervisor.kvm.console import SerialConsole
from corral.hypervisor.kvm.driver import KvmHypervisor
from corral.layout import NodeLayout
from corral.objects.instance import Disk, DiskTemplate
from corral.process import SubprocessRunner
from corral.rpc import pki
from corral.storage.mirror import export_uri, parse_export_uri
from tests.guest.kit import BOOT_TIMEOUT, guest_spec, short_root, stop_everything
from tests.support.connections import joined_layout

SECONDARY_ADDRESS = "127.0.0.1"
DISK_MIB = 32
EXPORT = "3b7e-mirror-disk"
STORAGE_DIR = "/srv/disks"
SYNC_TIMEOUT = 60.0
COMMAND_TIMEOUT = 120.0


@dataclass
class MirrorPair:
    """The primary's driver and node context, the secondary's context, the mirror disk
    (both halves created through ``blockdev_create``) and their files."""

    primary: KvmHypervisor
    primary_ctx: NodeContext
    secondary_ctx: NodeContext
    disk: Disk
    local: Path
    remote: Path

    @property
    def secondary(self) -> NodeLayout:
        return self.secondary_ctx.layout

    @property
    def size_mib(self) -> int:
        return self.disk.size


def free_port() -> int:
    """A TCP port nothing listens on at the secondary's address right now."""
    with socket.socket() as sock:
        sock.bind((SECONDARY_ADDRESS, 0))
        return int(sock.getsockname()[1])


def _node(root: Path, name: str, ca_key: pki.PrivateKey, ca_cert: Any) -> NodeContext:
    layout = joined_layout(root, name, ca_key, ca_cert)
    layout.ssconf_file("file_storage_dir").write_text(STORAGE_DIR + "\n")
    (root / STORAGE_DIR.lstrip("/")).mkdir(parents=True)
    return NodeContext(layout=layout, node_name=name, address=SECONDARY_ADDRESS)


async def _create_halves(pair: MirrorPair) -> None:
    for ctx in (pair.primary_ctx, pair.secondary_ctx):
        await blockdev_create(ctx, pair.disk, pair.size_mib, "inst", ctx is pair.primary_ctx,
                              "", False)


@contextmanager
def mirror_pair(disk_mib: int = DISK_MIB) -> Iterator[MirrorPair]:
    """Two joined node roots (``node1`` the primary, ``node2`` the secondary) holding both
    halves of one ``disk_mib`` mirror disk; the export is stopped, the guests killed and
    both roots removed at the end."""
    ca_key, ca_cert = pki.create_ca("mirror.example")
    with short_root() as first, short_root() as second:
        primary = _node(first, "node1", ca_key, ca_cert)
        secondary = _node(second, "node2", ca_key, ca_cert)
        uri = export_uri(SECONDARY_ADDRESS, free_port(), EXPORT)
        disk = Disk(uuid=EXPORT, dev_type=DiskTemplate.MIRROR, size=disk_mib, iv_name="disk/0",
                    logical_id=("loop", f"{STORAGE_DIR}/inst/{EXPORT}.mirror", uri))
        driver = KvmHypervisor(primary.layout, SubprocessRunner(), SystemClock())
        relative = f"{STORAGE_DIR.lstrip('/')}/inst/{EXPORT}.mirror"
        pair = MirrorPair(primary=driver, primary_ctx=primary, secondary_ctx=secondary,
                          disk=disk, local=first / relative, remote=second / relative)
        asyncio.run(_create_halves(pair))
        try:
            yield pair
        finally:
            asyncio.run(stop_everything(driver))
            asyncio.run(mirror_export_stop(secondary, disk))


async def start_export(pair: MirrorPair, client: str = "node1") -> str:
    """Start the secondary's export as the master would (``mirror_export_start``), for the
    primary ``client``; its URI.

    Raises:
        HypervisorError: the export is not running afterwards or serves another URI.
    """
    _, port, _ = parse_export_uri(pair.disk.logical_id[2])
    started = await mirror_export_start(pair.secondary_ctx, pair.disk, SECONDARY_ADDRESS, port,
                                        client)
    status = await mirror_export_status(pair.secondary_ctx, pair.disk)
    if started.uri != pair.disk.logical_id[2] or not status.running:
        raise HypervisorError(f"export {started.uri} of {pair.disk.uuid} is not running")
    return started.uri


def mirror_spec(name: str, pair: MirrorPair, uri: str, hvparams: Mapping[str, Any], *,
                mirrored: bool = True, memory_mib: int = 96) -> InstanceSpec:
    """A guest with the pair's primary half as its disk: mirrored to ``uri``, or (not
    ``mirrored``) the very same file as a plain local ``file`` disk."""
    disk = DiskSpec(path=str(pair.local), uri=uri if mirrored else "", size_mib=pair.size_mib,
                    dev_type=DiskTemplate.MIRROR if mirrored else DiskTemplate.FILE)
    return replace(guest_spec(name, hvparams, memory_mib=memory_mib), disks=(disk,))


async def boot(driver: KvmHypervisor, spec: InstanceSpec) -> SerialConsole:
    """Start the guest and wait for its console marker; the open console."""
    await driver.start(spec)
    console = SerialConsole(driver.paths(spec.name).serial_socket)
    await console.open()
    await console.expect(READY_MARKER, timeout=BOOT_TIMEOUT)
    return console


async def wait_sync(driver: KvmHypervisor, name: str, want: MirrorSync) -> None:
    """Until every mirror disk of ``name`` is in state ``want`` (TimeoutError after
    :data:`SYNC_TIMEOUT`)."""
    async with asyncio.timeout(SYNC_TIMEOUT):
        while True:
            states = await driver.mirror_status(name)
            if all(s.state == want for s in states):
                return
            await asyncio.sleep(0.1)


async def timed(console: SerialConsole, command: str, marker: str) -> float:
    """Seconds from sending the guest shell ``command`` to its successful end on the
    console (``<marker>-0``)."""
    start = len(console.output)
    began = time.monotonic()
    await console.send(f"{command}; echo {marker}-$?\n")
    await console.expect(f"{marker}-0", timeout=COMMAND_TIMEOUT, start=start)
    return time.monotonic() - began


def sync_writes_command(count: int) -> str:
    """``count`` writes of 4 KiB to the guest's disk, each on its own with O_DIRECT; with
    the device's write cache off (``disk_cache=writethrough``) each is flushed."""
    return f"dd if=/dev/zero of=/dev/vda bs=4k count={count} oflag=direct 2>/dev/null"


def sequential_command(mib: int) -> str:
    """``mib`` MiB written in 1 MiB blocks with O_DIRECT, then a flush."""
    return (f"dd if=/dev/zero of=/dev/vda bs=1M count={mib} oflag=direct conv=fsync "
            "2>/dev/null")


async def measure_writes(console: SerialConsole, *, count: int = 200, seq_mib: int = 16,
                         overhead: float = 0.0) -> tuple[float, float]:
    """(4 KiB synchronous writes/s, sequential MiB/s) inside the guest, each command's time
    less ``overhead`` (the console's own round trip)."""
    small = await timed(console, sync_writes_command(count), "SMALL") - overhead
    big = await timed(console, sequential_command(seq_mib), "BIG") - overhead
    return count / small, seq_mib / big


def record_write(sector: int, text: str) -> str:
    """A guest command writing ``text`` (padded) to ``sector`` with O_DIRECT and a flush."""
    return (f"printf '{text}' | dd of=/dev/vda bs=512 seek={sector} oflag=direct "
            "conv=notrunc,sync,fsync 2>/dev/null")
