"""Job latency and throughput of no-op jobs over LUXI on a 3-node vcluster.

Run from the checkout: ``.venv/bin/python -m bench.bench_jobs``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from bench.common import (
    NOOP_JOB_OP,
    BenchError,
    Figure,
    fmt_list,
    median,
    percentile,
    report,
    vcluster,
)
from corral.daemon_control import read_pid_file
from corral.layout import NodeLayout
from corral.luxi.client import Client, wait_for_job
from corral.vcluster.cluster import VCluster, VNode

LATENCY_JOBS = 1000
WARMUP_JOBS = 20
THROUGHPUT_JOBS = 1000
THROUGHPUT_RUNS = 3
LATENCY_TARGET_MS = 10.0
STALLED_JOBS = 200
STALLED_TARGET_MS = 20.0
THROUGHPUT_TARGET = 500.0

# Ganeti 3.0.2 on this machine, /work/shared/anchors/ganeti/README.md (run 4).
GANETI_NOOP_CLI_S = 0.325
"""``gnt-debug delay --no-master 0.001``, CLI wall time."""
GANETI_RAPI_JOB_S = 0.248
"""RAPI tag job: submit and wait."""
GANETI_MANY_JOBS_PER_S = 6.96
"""100 jobs in one LUXI ``SubmitManyJobs``, wait for all."""
GANETI_CLI_JOBS_PER_S = 3.57
"""100 x ``gnt-debug delay --submit``, then ``gnt-job wait`` each."""


def run_noop(client: Client) -> float:
    """Submit one no-op job and follow it to success; returns wall seconds."""
    start = time.perf_counter()
    job_id = client.SubmitJob([dict(NOOP_JOB_OP)])
    status, _, result = wait_for_job(client, job_id)
    elapsed = time.perf_counter() - start
    if status != "success":
        raise BenchError(f"no-op job {job_id} ended with {status}: {result}")
    return elapsed


def measure_latency(client: Client) -> list[float]:
    """Milliseconds per job for :data:`LATENCY_JOBS` sequential jobs (after a warm-up)."""
    for _ in range(WARMUP_JOBS):
        run_noop(client)
    return [run_noop(client) * 1000.0 for _ in range(LATENCY_JOBS)]


def measure_throughput(client: Client) -> float:
    """Jobs per second: :data:`THROUGHPUT_JOBS` jobs in one SubmitManyJobs, all followed."""
    start = time.perf_counter()
    submitted = client.SubmitManyJobs([[dict(NOOP_JOB_OP)] for _ in range(THROUGHPUT_JOBS)])
    refused = [entry for entry in submitted if not entry[0]]
    if refused:
        raise BenchError(f"{len(refused)} jobs refused at submission, e.g. {refused[0][1]}")
    for _, job_id in submitted:
        status, _, result = wait_for_job(client, int(job_id))
        if status != "success":
            raise BenchError(f"no-op job {job_id} ended with {status}: {result}")
    return THROUGHPUT_JOBS / (time.perf_counter() - start)


def latency_figures(latencies: list[float]) -> list[Figure]:
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    detail = f"{len(latencies)} sequential jobs after {WARMUP_JOBS} warm-up"
    return [
        report(Figure("no-op job latency p50", p50, "ms", LATENCY_TARGET_MS, "max", detail)),
        report(Figure("no-op job latency p99", p99, "ms", detail=detail)),
    ]


def throughput_figure(runs: list[float]) -> Figure:
    detail = (
        f"median of {len(runs)} runs of {THROUGHPUT_JOBS} jobs, first included: "
        f"{fmt_list(runs, 'jobs/s')}"
    )
    return report(
        Figure("no-op job throughput", median(runs), "jobs/s", THROUGHPUT_TARGET, "min", detail)
    )


@contextlib.contextmanager
def stopped_noded(node: VNode) -> Iterator[None]:
    """SIGSTOP ``node``'s node daemon (by its pid file) for the block; SIGCONT always."""
    pid = read_pid_file(NodeLayout(Path(node.root)).pid_file("corral-noded"))
    if pid is None:
        raise BenchError(f"no node daemon pid for {node.name}")
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def stalled_figure(client: Client, vc: VCluster) -> Figure:
    """p50 of no-op jobs while one candidate's node daemon is stopped, after its first
    timeout (the first job, which pays the bound and marks it lagging, is not counted)."""
    with stopped_noded(vc.nodes[-1]):
        first = run_noop(client) * 1000.0
        latencies = [run_noop(client) * 1000.0 for _ in range(STALLED_JOBS)]
    detail = f"{STALLED_JOBS} sequential jobs after the first ({first:.0f} ms)"
    return report(Figure("no-op job p50, one candidate SIGSTOPped", percentile(latencies, 50),
                         "ms", STALLED_TARGET_MS, "max", detail))


def print_ganeti_reference(p50_ms: float, throughput: float) -> None:
    print(
        "  Ganeti 3.0.2 reference (same machine, anchors/ganeti/README.md, run 4): "
        f"one no-op job {GANETI_NOOP_CLI_S:.3f} s by CLI, {GANETI_RAPI_JOB_S:.3f} s by RAPI "
        f"(0.25-0.36 s over all runs); throughput {GANETI_MANY_JOBS_PER_S} jobs/s with "
        f"SubmitManyJobs, {GANETI_CLI_JOBS_PER_S} jobs/s by CLI (3-7 jobs/s over all runs)"
    )
    print(
        f"  Corral beside it: one job {p50_ms / 1000.0:.4f} s p50 "
        f"({GANETI_RAPI_JOB_S * 1000.0 / p50_ms:.0f}x faster than Ganeti's fastest), "
        f"{throughput:.0f} jobs/s ({throughput / GANETI_MANY_JOBS_PER_S:.0f}x Ganeti's "
        "SubmitManyJobs figure)"
    )


def run() -> list[Figure]:
    """Bring up a 3-node vcluster, measure, tear it down; returns the figures."""
    print("jobs: no-op jobs (OP_TEST_DELAY 0.001 s, no master, no nodes) over LUXI", flush=True)
    with vcluster(3, "jobs") as vc, Client(str(vc.luxi_socket)) as client:
        figures = latency_figures(measure_latency(client))
        runs = [measure_throughput(client) for _ in range(THROUGHPUT_RUNS)]
        figures.append(throughput_figure(runs))
        figures.append(stalled_figure(client, vc))
    print_ganeti_reference(figures[0].value, figures[2].value)
    return figures


def main() -> None:
    run()


if __name__ == "__main__":
    main()
