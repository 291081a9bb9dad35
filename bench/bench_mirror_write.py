"""Write cost of a ``mirror`` disk inside a real guest, beside the same guest on a local
``file`` disk, in one run.

Two node roots of this machine (one cluster CA) hold both halves of one mirror disk
(:mod:`tests.guest.mirror_kit`, the pair the real-QEMU tests use): the secondary serves
its half with ``qemu-storage-daemon`` (NBD over TLS on 127.0.0.1, ``writethrough=on``),
the primary runs the guest through :class:`KvmHypervisor` — the busybox guest kit under
TCG, 128 MiB, ``disk_cache=writethrough`` so the guest sees no write cache and every
write is flushed before it is acknowledged. The local guest is the very same guest and
file with the disk as a plain ``file`` disk. Local and mirrored boots alternate
(:data:`ROUNDS` of each), :data:`RUNS_PER_BOOT` samples per boot; each sample is, inside
the guest, ``dd`` of :data:`SYNC_WRITES` writes of 4 KiB with ``oflag=direct`` (one
write in flight at a time), then :data:`SEQ_MIB` MiB in 1 MiB blocks with
``oflag=direct conv=fsync``. Times are taken on the host from sending the command to
its end marker on the serial console, less the console's own round trip (median of
an empty command, measured per boot). A mirrored boot counts only once the mirror
is in sync, and must still be in sync after its samples.

What bounds the synchronous write rate: the mirror job copies in ``write-blocking``
mode, so each guest write is acknowledged only after it is on the local file *and* on
the secondary. One 4 KiB write is then the local write and flush, followed by a whole
round trip to the NBD export — TLS record out, ``qemu-storage-daemon`` writes through
to its file (a flush there too), reply back — before the guest may issue the next one.
The added latency per write (reported) is that round trip plus the secondary's flush;
with one write in flight, the rate is the inverse of the sum. On this machine both
QEMUs, the TLS work and the guest's TCG share two cores; across a real network add
the network's round-trip time per write. Sequential 1 MiB writes amortise the round
trip over 256 times the data, but each is still written to the local file and then to
the export, one after the other: the sequential rate is bounded by the sum of both
legs (the export's leg alone — TLS on both ends, the secondary's write — is reported
as the time it adds per MiB).

Run from the checkout: ``.venv/bin/python -m bench.bench_mirror_write``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from dataclasses import dataclass, field
from typing import Any

from bench.bench_migration import guest_files
from bench.common import BenchError, Figure, fmt_list, load_average, median, report
from corral.hypervisor.base import MirrorSync
from corral.hypervisor.kvm.console import SerialConsole
from corral.hypervisor.params import defaults
from tests.guest.mirror_kit import (
    MirrorPair,
    boot,
    measure_writes,
    mirror_pair,
    mirror_spec,
    start_export,
    timed,
    wait_sync,
)

ROUNDS = 2
"""Boots of each kind, alternating local / mirror, so the machine's load drifts over both."""
RUNS_PER_BOOT = 3
SYNC_WRITES = 1000
SEQ_MIB = 128
DISK_MIB = 192
MEMORY_MIB = 128
SEQ_TARGET_PCT = 50.0
"""Sequential MiB/s of the mirror disk, in % of the local disk's (issue 14)."""
NAME = "wbench"
QSD = "/usr/bin/qemu-storage-daemon"


@dataclass
class Samples:
    """Per-sample rates of one kind of disk."""

    sync: list[float] = field(default_factory=list)
    """4 KiB synchronous writes per second."""
    seq: list[float] = field(default_factory=list)
    """Sequential MiB/s."""
    overhead: list[float] = field(default_factory=list)
    """The console round trip subtracted, per boot (seconds)."""


async def console_overhead(console: SerialConsole) -> float:
    """Median seconds of an empty command, from sending it to its marker."""
    return median([await timed(console, "true", f"NOP{n}") for n in range(5)])


async def boot_and_sample(pair: MirrorPair, hvparams: dict[str, Any], mirrored: bool,
                          into: Samples) -> None:
    """Boot the guest on the local or the mirror disk, take :data:`RUNS_PER_BOOT`
    samples, stop it."""
    driver = pair.primary
    spec = mirror_spec(NAME, pair, pair.disk.logical_id[2], hvparams, mirrored=mirrored,
                       memory_mib=MEMORY_MIB)
    console = await boot(driver, spec)
    try:
        if mirrored:
            await wait_sync(driver, NAME, MirrorSync.IN_SYNC)
        overhead = await console_overhead(console)
        into.overhead.append(overhead)
        for _ in range(RUNS_PER_BOOT):
            sync, seq = await measure_writes(console, count=SYNC_WRITES, seq_mib=SEQ_MIB,
                                             overhead=overhead)
            into.sync.append(sync)
            into.seq.append(seq)
        if mirrored:
            states = [s.state for s in await driver.mirror_status(NAME)]
            if states != [MirrorSync.IN_SYNC]:
                raise BenchError(f"the mirror left sync while measured: {states}")
    finally:
        await console.close()
        await driver.stop(NAME, force=True, timeout=5.0)
        await driver.cleanup(NAME)


async def measure(pair: MirrorPair, hvparams: dict[str, Any]) -> tuple[Samples, Samples]:
    """(local, mirror) samples of :data:`ROUNDS` alternating boots of each."""
    await start_export(pair)
    local, mirrored = Samples(), Samples()
    for _ in range(ROUNDS):
        await boot_and_sample(pair, hvparams, False, local)
        await boot_and_sample(pair, hvparams, True, mirrored)
    return local, mirrored


def figures(local: Samples, mirrored: Samples) -> list[Figure]:
    """The figures of one run: both rates of both disks, their ratios, the added latency."""
    sync_l, sync_m = median(local.sync), median(mirrored.sync)
    seq_l, seq_m = median(local.seq), median(mirrored.seq)
    runs = f"median of {len(local.sync)}"
    added_ms = 1000.0 / sync_m - 1000.0 / sync_l
    added_mib_ms = 1000.0 / seq_m - 1000.0 / seq_l
    leg = (f"the export's leg (NBD over TLS, its writethrough write) alone would run at "
           f"{1000 / added_mib_ms:.0f} MiB/s, and it follows the local write"
           if added_mib_ms > 0 else "none measured")
    console_ms = [1000 * o for o in local.overhead + mirrored.overhead]
    return [
        report(Figure("mirror: 4 KiB sync writes, local file disk", sync_l, "writes/s",
                      detail=f"{runs}: {fmt_list(local.sync, '/s')}")),
        report(Figure("mirror: 4 KiB sync writes, mirror disk", sync_m, "writes/s",
                      detail=f"{runs}: {fmt_list(mirrored.sync, '/s')}; "
                      f"{100 * sync_m / sync_l:.0f} % of local")),
        report(Figure("mirror: latency added per sync write", added_ms, "ms",
                      detail="1/rate mirror - 1/rate local: what bounds the rate is one NBD "
                      "round trip per write (write-blocking mirror, TLS on loopback) plus "
                      "the export's writethrough flush, one write in flight")),
        report(Figure("mirror: sequential writes, local file disk", seq_l, "MiB/s",
                      detail=f"{runs}: {fmt_list(local.seq, 'MiB/s')}")),
        report(Figure("mirror: sequential writes, mirror disk", seq_m, "MiB/s",
                      detail=f"{runs}: {fmt_list(mirrored.seq, 'MiB/s')}")),
        report(Figure("mirror: time added per 1 MiB sequential write", added_mib_ms, "ms",
                      detail=f"1/rate mirror - 1/rate local: {leg}")),
        report(Figure("mirror: sequential writes, mirror vs local", 100 * seq_m / seq_l, "%",
                      SEQ_TARGET_PCT, "min", f"ratio of the medians, {SEQ_MIB} MiB in 1 MiB "
                      "O_DIRECT blocks + fsync; console round trip subtracted "
                      f"({fmt_list(console_ms, 'ms')})")),
    ]


def hvparams() -> dict[str, Any]:
    """TCG busybox guest with the device's write cache off."""
    kernel, initrd = asyncio.run(guest_files())
    return {**defaults("kvm"), "kernel_path": str(kernel), "initrd_path": str(initrd),
            "accel": "tcg", "kernel_args": "ro quiet", "disk_cache": "writethrough"}


def run() -> list[Figure]:
    for tool in ("/usr/bin/qemu-system-x86_64", QSD):
        if not os.access(tool, os.X_OK):
            raise BenchError(f"{tool} is not installed")
    if shutil.which("cpio") is None:
        raise BenchError("cpio is needed to build the guest's initramfs")
    print(f"mirror_write: {SYNC_WRITES} sync 4 KiB writes and {SEQ_MIB} MiB sequential in a "
          f"TCG guest, mirror disk vs local file disk (load average {load_average()})",
          flush=True)
    params = hvparams()
    with mirror_pair(DISK_MIB) as pair:
        local, mirrored = asyncio.run(measure(pair, params))
    return figures(local, mirrored)


def main() -> int:
    run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
