"""Emptying a node: ``gnt-node migrate`` of a node with 100 running fake instances.

A 3-node vcluster; 100 fake instances (diskless, 64 MiB) run on one node. Each run times
the whole command ``gnt-node migrate -f -n TARGET NODE`` as a subprocess — the node
migrate job, the 100 per-instance migration jobs it submits, and the command following
them to their end — then checks that the source node runs nothing and every instance
runs on the target. The next run migrates them back.

Run from the checkout: ``.venv/bin/python -m bench.bench_node_migrate``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from typing import Any

from bench.common import (
    BenchError,
    Figure,
    fmt_list,
    median,
    report,
    run_jobs,
    vcluster_at,
)
from corral.luxi.client import Client
from corral.vcluster.cluster import VCluster

PORT = 18185
"""Node daemon port of this benchmark's vcluster (away from the tests' and other benches')."""
COUNT = 100
RUNS = 3
TARGET_S = 2.0
COMMAND_TIMEOUT = 300.0
GNT_NODE = os.path.join(os.path.dirname(sys.executable), "gnt-node")


def create_op(index: int, node: str) -> dict[str, Any]:
    return {"OP_ID": "OP_INSTANCE_CREATE", "instance_name": f"m{index}", "mode": "create",
            "disk_template": "diskless", "disks": [], "nics": [], "os_type": "noop",
            "hypervisor": "fake", "pnode": node, "start": True, "no_install": False,
            "beparams": {"maxmem": 64, "minmem": 64}, "ip_check": False,
            "name_check": False}


def placement(client: Client) -> Counter[tuple[str, str]]:
    """(primary node, status) of every instance, counted."""
    rows = client.Query("instance", ["pnode", "status"], None)["data"]
    return Counter((str(row[0][1]), str(row[1][1])) for row in rows)


def migrate_node(vc: VCluster, source: str, target: str) -> float:
    """Seconds ``gnt-node migrate -f -n target source`` takes; BenchError if it fails."""
    env = {**os.environ, "CORRAL_ROOT": vc.master.root, "CORRAL_LUXI": str(vc.luxi_socket)}
    start = time.perf_counter()
    done = subprocess.run([GNT_NODE, "migrate", "-f", "-n", target, source], env=env,
                          capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise BenchError(f"gnt-node migrate {source} exited with {done.returncode}: "
                         f"{(done.stdout + done.stderr).strip()[-800:]}")
    return elapsed


def run() -> list[Figure]:
    print(f"node_migrate: gnt-node migrate of a node running {COUNT} fake instances",
          flush=True)
    with vcluster_at(3, "node-migrate", PORT) as vc, Client(str(vc.luxi_socket)) as client:
        run_jobs(client, [[create_op(i, "node2")] for i in range(COUNT)], "create")
        times = []
        source, target = "node2", "node3"
        for _ in range(RUNS):
            times.append(migrate_node(vc, source, target))
            where = placement(client)
            if where != Counter({(target, "running"): COUNT}):
                raise BenchError(f"after migrating {source} to {target}: {dict(where)}")
            source, target = target, source
    detail = (f"{COUNT} running fake instances (diskless), 3-node vcluster, whole command "
              f"with -n as a subprocess, one job per instance; median of {RUNS}: "
              f"{fmt_list(times, 's')}")
    return [report(Figure(f"gnt-node migrate, {COUNT} fake instances", median(times), "s",
                          TARGET_S, "max", detail))]


if __name__ == "__main__":
    run()
