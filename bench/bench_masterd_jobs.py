"""Resident memory of masterd after many no-op jobs, with finished jobs archived as they go
(as the watcher's auto-archiving does, here after every batch).

masterd runs alone on a one-node configuration (the master's IP has no node daemon, so
queue replication to candidates is a no-op). Jobs are ``OP_TEST_DELAY`` of 1 ms (the
smallest duration it accepts),
submitted ``BATCH`` at a time with ``SubmitManyJobs``; each job is followed to its end with
``WaitForJobChange`` (as the ``gnt-*`` commands do), then the batch is archived with
``AutoArchiveJobs(0)``.

Run from the checkout: ``.venv/bin/python -m bench.bench_masterd_jobs [JOBS]``. With
``--tracemalloc N``, masterd runs under ``-X tracemalloc=N`` and writes the top allocation
sites (grown since the first batch) to its log (see ``corral.daemons.memtrace``).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.bench_masterd_rss import proc_status_mb
from bench.common import (
    NOOP_JOB_OP,
    BenchError,
    Figure,
    generate_config,
    generated_master_root,
    report,
    stop_child,
    temp_dir,
    wait_masterd,
)
from corral.layout import NodeLayout
from corral.luxi.client import Client, wait_for_job

JOBS = 100_000
BATCH = 1_000
RSS_TARGET_MB = 150.0
MASTER_IP = "127.0.0.11"


def run_batch(client: Client, size: int) -> None:
    """Submit ``size`` no-op jobs, follow each to its end (as ``gnt-*`` commands and RAPI
    clients do, with ``WaitForJobChange``), archive them."""
    submitted = client.SubmitManyJobs([[dict(NOOP_JOB_OP)] for _ in range(size)])
    ids = [int(job_id) for ok, job_id in submitted if ok]
    if len(ids) != size:
        raise BenchError(f"{size - len(ids)} jobs refused: {submitted[:1]}")
    statuses = [wait_for_job(client, job_id)[0] for job_id in ids]
    failed = [job_id for job_id, s in zip(ids, statuses, strict=True) if s != "success"]
    if failed:
        why = client.QueryJobs(failed[:1], ["status", "opresult"])[0]
        raise BenchError(f"{len(failed)} no-op jobs did not succeed, e.g. {failed[0]}: {why}")
    client.AutoArchiveJobs(0, 60.0)


def masterd(layout: NodeLayout, output: Path, tracemalloc: int) -> subprocess.Popen[bytes]:
    """masterd as a child, optionally under tracemalloc."""
    flags = [f"-Xtracemalloc={tracemalloc}"] if tracemalloc else []
    argv = [sys.executable, *flags, "-m", "corral.daemons.masterd", "--root",
            str(layout.root), "--no-rapi"]
    with output.open("wb") as out:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)


def measure(layout: NodeLayout, output: Path, jobs: int, tracemalloc: int) -> list[Figure]:
    proc = masterd(layout, output, tracemalloc)
    samples: list[tuple[int, float]] = []
    try:
        wait_masterd(proc, layout)
        start = time.perf_counter()
        with Client(str(layout.luxi_socket), timeout=120) as client:
            done = 0
            while done < jobs:
                size = min(BATCH, jobs - done)
                run_batch(client, size)
                done += size
                if tracemalloc and done == size:
                    proc.send_signal(signal.SIGUSR1)  # the baseline, after warm-up
                if done % (jobs // 10 or 1) < BATCH:
                    samples.append((done, proc_status_mb(proc.pid)["VmRSS"]))
                    print(f"  {done:>7,} jobs: RSS {samples[-1][1]:.1f} MB", flush=True)
        elapsed = time.perf_counter() - start
        status = proc_status_mb(proc.pid)
        if tracemalloc:
            dump_tracemalloc(proc, layout)
    finally:
        stop_child(proc)
    first = samples[0][1] if samples else status["VmRSS"]
    detail = (f"archived after every {BATCH:,}; {jobs / elapsed:,.0f} jobs/s; "
              f"RSS {first:.1f} MB after the first tenth")
    return [
        report(Figure(f"masterd RSS after {jobs:,} no-op jobs", status["VmRSS"], "MB",
                      RSS_TARGET_MB, "max", detail)),
        report(Figure("masterd peak RSS (VmHWM), no-op jobs", status["VmHWM"], "MB")),
    ]


def dump_tracemalloc(proc: subprocess.Popen[bytes], layout: NodeLayout) -> None:
    """Ask masterd for its tracemalloc report (SIGUSR1) and print it from its log."""
    log = layout.log_file("corral-masterd")
    size = log.stat().st_size
    proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 120
    while "top growth" not in log.read_text(errors="replace")[size:]:
        if time.monotonic() > deadline:
            raise BenchError("masterd wrote no tracemalloc report")
        time.sleep(0.2)
    time.sleep(1)  # the rest of the report
    print(log.read_text(errors="replace")[size:], flush=True)


def run(jobs: int = JOBS, tracemalloc: int = 0) -> list[Figure]:
    print(f"masterd: RSS after {jobs:,} no-op jobs (archived as they go)", flush=True)
    directory = temp_dir("masterd-jobs")
    try:
        layout = generated_master_root(directory / "root",
                                       generate_config(1, 0, master_ip=MASTER_IP))
        return measure(layout, directory / "masterd.out", jobs, tracemalloc)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jobs", nargs="?", type=int, default=JOBS)
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES")
    args = parser.parse_args()
    run(args.jobs, args.tracemalloc)


if __name__ == "__main__":
    main()
