"""Wide ``|`` filters against masterd: a 20,000-term filter on job ids and on instance
names, QueryJobs with 200,000 ids, and how long a LUXI ping waits meanwhile.

masterd runs alone over a generated configuration (10,000 instances, 200 nodes; the
other nodes' addresses refuse connections at once) after 5,000 no-op jobs.

Run from the checkout: ``.venv/bin/python -m bench.bench_wide_filter``.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import (
    NOOP_JOB_OP,
    BenchError,
    Figure,
    fmt_list,
    generate_config,
    generated_master_root,
    masterd_child,
    median,
    report,
    run_jobs,
    sample,
    sole_candidate,
    temp_dir,
    wait_masterd,
)
from corral.luxi.client import Client

NODES = 200
INSTANCES = 10_000
JOBS = 5_000
JOB_BATCH = 1_000
TERMS = 20_000
QUERY_JOB_IDS = 200_000
RUNS = 3
TARGET_S = 1.0
MASTER_IP = "127.0.0.11"


def job_filter() -> list[Any]:
    """``|`` of TERMS ``=`` on ``id``: every other id, half of them beyond the last job."""
    return ["|", *(["=", "id", job_id] for job_id in range(2, 2 * TERMS + 1, 2))]


def instance_filter() -> list[Any]:
    """``|`` of TERMS ``=`` on ``name``: each instance by its full and its short name."""
    names = [f"inst{i:05d}" for i in range(INSTANCES)]
    terms = [["=", "name", f"{name}.example.com"] for name in names]
    terms += [["=", "name", name] for name in names]
    return ["|", *terms[:TERMS]]


def submit_jobs(client: Client) -> None:
    for _ in range(JOBS // JOB_BATCH):
        run_jobs(client, [[dict(NOOP_JOB_OP)] for _ in range(JOB_BATCH)], "no-op jobs")


def timed_query(client: Client, what: str, qfilter: list[Any], rows: int) -> None:
    data = client.Query(what, ["id" if what == "job" else "name", "status"], qfilter)["data"]
    if len(data) != rows:
        raise BenchError(f"{what} query returned {len(data)} rows, not {rows}")


def query_jobs(client: Client) -> None:
    rows = client.QueryJobs(list(range(1, QUERY_JOB_IDS + 1)), ["status"])
    known = sum(1 for row in rows if row is not None)
    if len(rows) != QUERY_JOB_IDS or known != JOBS:
        raise BenchError(f"QueryJobs: {len(rows)} rows, {known} known jobs")


def ping_during(socket_path: str, big: Any) -> float:
    """Seconds a QueryClusterInfo waits while ``big()`` runs on another connection."""
    started = threading.Event()

    def run_big() -> None:
        with Client(socket_path, timeout=300) as other:
            started.set()
            big(other)

    thread = threading.Thread(target=run_big)
    thread.start()
    started.wait()
    time.sleep(0.05)  # let the big request reach masterd
    with Client(socket_path) as client:
        begin = time.perf_counter()
        client.QueryClusterInfo()
        waited = time.perf_counter() - begin
    thread.join()
    return waited


def measure(layout_root: Path, output: Path) -> list[Figure]:
    layout = generated_master_root(
        layout_root, sole_candidate(generate_config(NODES, INSTANCES, master_ip=MASTER_IP))
    )
    socket_path = str(layout.luxi_socket)
    jobs_f, inst_f = job_filter(), instance_filter()
    with masterd_child(layout, output) as proc:
        wait_masterd(proc, layout)
        with Client(socket_path, timeout=300) as client:
            submit_jobs(client)
            job_runs = sample(lambda: timed_query(client, "job", jobs_f, TERMS), RUNS)
            inst_runs = sample(lambda: timed_query(client, "instance", inst_f, INSTANCES), RUNS)
            ids_runs = sample(lambda: query_jobs(client), RUNS)
        ping = ping_during(socket_path, lambda c: timed_query(c, "job", jobs_f, TERMS))
    scale = f"{JOBS:,} jobs, {INSTANCES:,} instances, {NODES} nodes"
    return [
        report(Figure(f"{TERMS:,}-term | filter, jobs", median(job_runs), "s", TARGET_S,
                      "max", f"LUXI Query; median of {RUNS}: {fmt_list(job_runs, 's')}; "
                      f"{scale}")),
        report(Figure(f"{TERMS:,}-term | filter, instances", median(inst_runs), "s",
                      TARGET_S, "max", f"full and short names; median of {RUNS}: "
                      f"{fmt_list(inst_runs, 's')}")),
        report(Figure(f"QueryJobs, {QUERY_JOB_IDS:,} ids", median(ids_runs), "s",
                      detail=f"median of {RUNS}: {fmt_list(ids_runs, 's')}")),
        report(Figure("LUXI ping during a wide-filter query", ping * 1000.0, "ms",
                      detail="QueryClusterInfo on a second connection")),
    ]


def run() -> list[Figure]:
    print(f"wide filters: {TERMS:,}-term | queries against masterd", flush=True)
    directory = temp_dir("widefilter")
    try:
        return measure(directory / "root", directory / "masterd.out")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    run()


if __name__ == "__main__":
    main()
