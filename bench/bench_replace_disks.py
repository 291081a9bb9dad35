"""``gnt-instance replace-disks -n NODE`` of a 1 GiB ``mirror`` disk on a virtual cluster.

A 3-node virtual cluster runs a busybox KVM guest (TCG, 128 MiB) on one 1 GiB ``mirror``
disk, primary node2, created with ``gnt-instance add -t mirror -n node2:node3
--no-start``; the primary's half is then filled with non-zero data on the host (so no
copy can skip it as zeroes), the instance started, and its initial full copy awaited.
Each sample moves the secondary with ``gnt-instance replace-disks -n NODE`` (a
subprocess), alternately to node1 and back to node3, the guest running: the new
secondary's half created and exported, the primary's QEMU mirroring to it and copying
the whole disk, the old half removed. It is timed from the command's start to the
mirror in sync again (asked of the primary's QEMU every 0.1 s; normally the command
itself waits for the sync, as Ganeti's does), and the rate is 1024 MiB over that time.
Afterwards 16 spaced 1 MiB chunks of the new secondary's half must equal the primary's.

Run from the checkout: ``.venv/bin/python -m bench.bench_replace_disks``.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.bench_migration_cli import gnt
from bench.common import BenchError, Figure, fmt_list, load_average, median, report
from bench.mirror_cluster import (
    MEMORY_MIB,
    layout,
    mirror_vcluster,
    require_qemu,
    wait_in_sync,
    wait_marker,
)
from corral.vcluster.cluster import FILE_STORAGE_DIR, VCluster

PORT = 18195
"""Node daemon port of this benchmark's vcluster (away from the tests' and other benches')."""
RUNS = 3
INSTANCE = "rd1"
PRIMARY = "node2"
TARGETS = ("node1", "node3")
"""The new secondary of each run in turn (the instance starts on node2:node3)."""
DISK_MIB = 1024
CHECKED_CHUNKS = 16
_MIB = 1024 * 1024


@dataclass(frozen=True)
class Sample:
    command_s: float
    """``gnt-instance replace-disks`` from its start to its end."""
    synced_s: float
    """From the command's start to the mirror in sync on the new secondary."""

    @property
    def mib_s(self) -> float:
        return DISK_MIB / self.synced_s


def disk_half(vc: VCluster, node: str) -> Path:
    """The file of the instance's (only) mirror disk in ``node``'s root."""
    directory = layout(vc, node).root / FILE_STORAGE_DIR.lstrip("/") / INSTANCE
    found = sorted(directory.glob("*.disk0"))
    if len(found) != 1:
        raise BenchError(f"expected one disk file of {INSTANCE} in {directory}, found "
                         f"{[p.name for p in found]}")
    return found[0]


def fill(path: Path) -> None:
    """``DISK_MIB`` of non-zero data (1 MiB of random bytes, each MiB numbered)."""
    chunk = bytearray(os.urandom(_MIB))
    with path.open("r+b") as handle:
        for index in range(DISK_MIB):
            chunk[:8] = index.to_bytes(8, "little")
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())


def digest(path: Path) -> str:
    """A hash of :data:`CHECKED_CHUNKS` MiB spread over the disk."""
    hashed = hashlib.sha256()
    with path.open("rb") as handle:
        for index in range(CHECKED_CHUNKS):
            handle.seek(index * (DISK_MIB // CHECKED_CHUNKS) * _MIB)
            hashed.update(handle.read(_MIB))
    return hashed.hexdigest()


def prepare(vc: VCluster) -> None:
    """The instance created, its primary half filled, started and in sync."""
    gnt(vc, "gnt-instance", "add", "-t", "mirror", "--disk", f"0:size={DISK_MIB}M",
        "-o", "busybox+default", "-H", "kvm", "-B",
        f"maxmem={MEMORY_MIB},minmem={MEMORY_MIB}", "--no-start", "-n",
        f"{PRIMARY}:node3", INSTANCE)
    fill(disk_half(vc, PRIMARY))
    gnt(vc, "gnt-instance", "startup", INSTANCE)
    wait_marker(vc, PRIMARY, INSTANCE)
    wait_in_sync(vc, PRIMARY, INSTANCE)


def one_replace(vc: VCluster, target: str) -> Sample:
    start = time.monotonic()
    gnt(vc, "gnt-instance", "replace-disks", "-n", target, INSTANCE)
    command = time.monotonic() - start
    synced = wait_in_sync(vc, PRIMARY, INSTANCE) - start
    secondary = gnt(vc, "gnt-instance", "list", "--no-headers", "-o", "snodes",
                    INSTANCE).stdout.strip()
    if secondary != target:
        raise BenchError(f"after replace-disks -n {target} the secondary is {secondary!r}")
    if digest(disk_half(vc, target)) != digest(disk_half(vc, PRIMARY)):
        raise BenchError(f"the new secondary {target}'s half differs from the primary's")
    return Sample(command, synced)


def samples(runs: int = RUNS) -> list[Sample]:
    with mirror_vcluster("replace-disks", PORT) as vc:
        prepare(vc)
        found = [one_replace(vc, TARGETS[n % 2]) for n in range(runs)]
        gnt(vc, "gnt-instance", "remove", "-f", INSTANCE)
    return found


def figures(found: list[Sample]) -> list[Figure]:
    synced = [s.synced_s for s in found]
    rates = [s.mib_s for s in found]
    return [
        report(Figure("replace-disks -n of a 1 GiB mirror disk, to in sync", median(synced),
                      "s", detail=f"guest running, new secondary alternately node1/node3; "
                      f"median of {len(found)}: {fmt_list(synced, 's')}; the command "
                      f"alone {fmt_list([s.command_s for s in found], 's')}")),
        report(Figure("replace-disks -n of a 1 GiB mirror disk, copy rate", median(rates),
                      "MiB/s", detail=f"{DISK_MIB} MiB over the time to in sync: "
                      f"{fmt_list(rates, 'MiB/s')}")),
    ]


def run() -> list[Figure]:
    require_qemu()
    print(f"replace_disks: gnt-instance replace-disks -n of a 1 GiB mirror disk "
          f"(load average {load_average()})", flush=True)
    return figures(samples())


def main() -> int:
    run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
