"""The whole of ``gnt-instance migrate`` on a virtual cluster, for the migration figures.

A 3-node virtual cluster runs the same busybox guest as :mod:`bench.bench_migration`
(256 MiB, Debian cloud kernel, TCG) as instance ``vm1`` on ``sharedfile`` storage;
each sample times the whole command ``gnt-instance migrate -f -n NODE vm1`` as a
subprocess — the command's start, the job, every RPC between master and node daemons,
QEMU's transfer, and the command following the job to its end — moving the guest
between node2 and node3. :mod:`bench.bench_migration` sets these beside bare
QEMU-to-QEMU migrations of the same guest measured in the same run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench.common import BenchError, vcluster_at
from corral.guestkit import READY_MARKER
from corral.layout import NodeLayout
from corral.vcluster.cluster import VCluster

PORT = 18186
"""Node daemon port of this benchmark's vcluster (away from the tests' and other benches')."""
INSTANCE = "vm1"
BOOT_TIMEOUT_S = 60.0
SETTLE_S = 1.0
COMMAND_TIMEOUT_S = 180.0
BIN = Path(sys.executable).parent


def gnt(vc: VCluster, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CORRAL_ROOT": vc.master.root, "CORRAL_LUXI": str(vc.luxi_socket)}
    done = subprocess.run([str(BIN / tool), *args], env=env, capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise BenchError(f"{tool} {' '.join(args)} exited with {done.returncode}: "
                         f"{(done.stdout + done.stderr).strip()[-800:]}")
    return done


def wait_ready(vc: VCluster, node: str) -> None:
    """Until the guest's serial log on ``node`` shows the guest kit's ready marker."""
    root = next(n.root for n in vc.nodes if n.name == node)
    log = NodeLayout(Path(root)).log_dir / "kvm" / f"{INSTANCE}.serial.log"
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while time.monotonic() < deadline:
        if log.is_file() and READY_MARKER.encode() in log.read_bytes():
            return
        time.sleep(0.2)
    raise BenchError(f"{INSTANCE} did not reach its console marker on {node}")


def cli_samples(runs: int, memory_mib: int) -> list[float]:
    """Seconds of each ``gnt-instance migrate``, alternately node2 -> node3 -> node2."""
    with vcluster_at(3, "migration-cli", PORT) as vc:
        gnt(vc, "gnt-instance", "add", "-t", "sharedfile", "--disk", "0:size=64M",
            "-o", "busybox+default", "-H", "kvm", "-B",
            f"maxmem={memory_mib},minmem={memory_mib}", "-n", "node2", INSTANCE)
        wait_ready(vc, "node2")
        samples, target = [], "node3"
        for _ in range(runs):
            time.sleep(SETTLE_S)
            start = time.perf_counter()
            gnt(vc, "gnt-instance", "migrate", "-f", "-n", target, INSTANCE)
            samples.append(time.perf_counter() - start)
            where = gnt(vc, "gnt-instance", "list", "--no-headers", "-o", "pnode,status",
                        INSTANCE).stdout.split()
            if where != [target, "running"]:
                raise BenchError(f"after migrating to {target}, {INSTANCE} is {where}")
            target = "node2" if target == "node3" else "node3"
        gnt(vc, "gnt-instance", "remove", "-f", INSTANCE)
    return samples
