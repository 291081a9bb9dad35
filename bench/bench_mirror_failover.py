"""Failover time of a ``mirror`` instance after its primary's death, on a virtual cluster.

A 3-node virtual cluster (node1 the master, untouched) runs a busybox KVM guest (TCG,
128 MiB) on a 64 MiB ``mirror`` disk, created with ``gnt-instance add -t mirror -n
node2:node3``. Once its primary's guest shows the console marker and its mirror is in
sync, node2 dies as in the durability test: its QEMU and its node daemon get SIGKILL.
Each sample times, from the start of ``gnt-instance failover -f --ignore-consistency``
(a subprocess) to the guest's console marker in its serial log on node3:

- the command itself: the job (locks, the failed calls to the dead node, the disks
  activated on node3 — the guest there runs on its own half, degraded), the
  configuration change, QEMU started on node3, the command following its job;
- then the guest's boot to its marker (busybox kit, ~3-4 s under TCG on this machine;
  :mod:`bench.bench_guests` measures that boot alone).

Each run uses a fresh instance; afterwards node2's daemon is started again and the
instance removed. node3 has started a guest before the first run (the accelerator
probe of ``accel=auto`` runs at a node's first KVM start and is cached afterwards).
No target is set by issue 14: the figures are context.

Run from the checkout: ``.venv/bin/python -m bench.bench_mirror_failover``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from bench.bench_migration_cli import gnt
from bench.common import BenchError, Figure, fmt_list, load_average, median, report
from bench.mirror_cluster import (
    MEMORY_MIB,
    add_mirror_instance,
    kill_node,
    mirror_vcluster,
    require_qemu,
    revive_node,
    wait_in_sync,
    wait_marker,
    where,
)
from corral.vcluster.cluster import VCluster

PORT = 18190
"""Node daemon port of this benchmark's vcluster (away from the tests' and other benches')."""
RUNS = 3
PRIMARY, SECONDARY = "node2", "node3"
DISK = "64M"


@dataclass(frozen=True)
class Sample:
    command_s: float
    """``gnt-instance failover`` from its start to its end."""
    marker_s: float
    """From the command's start to the console marker on the secondary."""


def one_failover(vc: VCluster, instance: str) -> Sample:
    """A fresh mirror instance on node2:node3, node2 killed, failed over to node3."""
    add_mirror_instance(vc, instance, f"{PRIMARY}:{SECONDARY}", DISK)
    wait_marker(vc, PRIMARY, instance)
    wait_in_sync(vc, PRIMARY, instance)
    kill_node(vc, PRIMARY, instance)
    start = time.monotonic()
    gnt(vc, "gnt-instance", "failover", "-f", "--ignore-consistency", instance)
    command = time.monotonic() - start
    seen = wait_marker(vc, SECONDARY, instance)
    state = where(vc, instance)
    if state != [SECONDARY, "running"]:
        raise BenchError(f"after the failover {instance} is {state}")
    revive_node(vc, PRIMARY)
    gnt(vc, "gnt-instance", "remove", "-f", instance)
    return Sample(command, seen - start)


def warm_up(vc: VCluster, node: str) -> None:
    """Start and remove a guest on ``node``: its first KVM start probes the accelerator
    (``accel=auto``, about 2 s here, cached in the node's run dir afterwards), which a
    node that has run guests before does not pay again."""
    gnt(vc, "gnt-instance", "add", "-t", "file", "--disk", "0:size=16M", "-o",
        "busybox+default", "-H", "kvm", "-B", f"maxmem={MEMORY_MIB},minmem={MEMORY_MIB}",
        "--no-nics", "-n", node, "warm")
    gnt(vc, "gnt-instance", "remove", "-f", "warm")


def samples(runs: int = RUNS) -> list[Sample]:
    with mirror_vcluster("mirror-failover", PORT) as vc:
        warm_up(vc, SECONDARY)
        return [one_failover(vc, f"mfo{n}") for n in range(1, runs + 1)]


def figures(found: list[Sample]) -> list[Figure]:
    marker = [s.marker_s for s in found]
    command = [s.command_s for s in found]
    return [
        report(Figure("mirror failover after the primary's death, command to console marker",
                      median(marker), "s", detail=f"gnt-instance failover "
                      f"--ignore-consistency, {DISK} mirror disk, TCG busybox guest; median "
                      f"of {len(found)}: {fmt_list(marker, 's')}")),
        report(Figure("mirror failover after the primary's death, the command alone",
                      median(command), "s", detail=f"job and command, guest started on "
                      f"{SECONDARY} (the rest is the guest's boot): "
                      f"{fmt_list(command, 's')}")),
    ]


def run() -> list[Figure]:
    require_qemu()
    print(f"mirror_failover: mirror instance failed over after its primary's death "
          f"(load average {load_average()})", flush=True)
    return figures(samples())


def main() -> int:
    run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
