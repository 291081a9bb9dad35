"""Duration of ``gnt-cluster master-failover`` on a 3-node virtual cluster, every node up.

Each sample times the command (a subprocess, run on the node that becomes master, as an
administrator would) from its start to its end; the master role alternates between node2
and node1, so every run moves it away from a master that has been serving. The command's
steps: the vote (one RPC round to the 3 nodes), a new master term announced to every node,
the old master daemon stopped (SIGTERM, its job queue and RPC client closed), the
configuration pushed to the other candidates and ssconf to every node, then the new
master daemon started (a Python process: imports, its own start-up vote, job queue
take-over, the full queue copy to the candidates, LUXI) and waited for until it answers.
The detail adds the time from the command's end to the first job finished by the new
master.

Target: 10 s. Ganeti's own ``MasterFailover`` does the same steps, but with
``daemon-util stop-master`` / ``start-master`` around them (several daemons stopped, then
started and each waited for) and TCP pings of the master IP until it is down: "seconds plus
daemon restarts". 10 s is that order of magnitude; Corral restarts one daemon.

Run from the checkout: ``.venv/bin/python -m bench.bench_master_failover``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench.common import (
    NOOP_JOB_OP,
    BenchError,
    Figure,
    fmt_list,
    load_average,
    median,
    report,
    run_job,
    vcluster_at,
)
from corral.layout import NodeLayout
from corral.luxi.client import Client
from corral.vcluster.cluster import VCluster, VNode

PORT = 18410
"""Node daemon port of this benchmark's vcluster (away from the tests' and other benches')."""
RUNS = 6
TARGET_S = 10.0
BIN = Path(sys.executable).parent
COMMAND_TIMEOUT_S = 180


def _env(node: VNode) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CORRAL_LUXI"}
    return {**env, "CORRAL_ROOT": node.root}


def one_failover(node: VNode) -> tuple[float, float]:
    """Seconds of ``gnt-cluster master-failover`` run on ``node``, then seconds from its
    end to the first job finished by the new master."""
    start = time.perf_counter()
    done = subprocess.run([str(BIN / "gnt-cluster"), "master-failover"], env=_env(node),
                          capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
                          check=False)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise BenchError(f"master-failover to {node.name} exited with {done.returncode}: "
                         f"{done.stderr.strip()[-800:]}")
    with Client(str(NodeLayout(Path(node.root)).luxi_socket)) as client:
        run_job(client, [dict(NOOP_JOB_OP)], "the first job on the new master")
    return took, time.perf_counter() - start - took


def measure(vc: VCluster) -> tuple[list[float], list[float]]:
    node1, node2 = vc.nodes[0], vc.nodes[1]
    commands: list[float] = []
    first_jobs: list[float] = []
    for run in range(RUNS):
        target = node2 if run % 2 == 0 else node1
        command_s, job_s = one_failover(target)
        commands.append(command_s)
        first_jobs.append(job_s)
    return commands, first_jobs


def run() -> list[Figure]:
    print(f"master_failover: gnt-cluster master-failover, 3-node vcluster, {RUNS} runs "
          "alternating node1 -> node2 -> node1", flush=True)
    with vcluster_at(3, "mfailover", PORT) as vc:
        commands, first_jobs = measure(vc)
    detail = (f"{RUNS} runs: {fmt_list(commands, 's')}; then first job done after "
              f"{fmt_list(first_jobs, 's')}; load {load_average()}")
    return [report(Figure("gnt-cluster master-failover (3 nodes)", median(commands), "s",
                          TARGET_S, "max", detail))]


def main() -> int:
    run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
