"""Resident memory of masterd holding 10,000 instances and 200 nodes, and the time of
an instance query over all of them.

The master node's primary IP is 127.0.0.11 and the others 127.0.1.x, where nothing
listens: their RPCs fail at once with "connection refused", which masterd tolerates.

Run from the checkout: ``.venv/bin/python -m bench.bench_masterd_rss``.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import (
    BenchError,
    Figure,
    fmt_list,
    generate_config,
    generated_master_root,
    masterd_child,
    median,
    report,
    sample,
    temp_dir,
    wait_masterd,
)
from corral.layout import NodeLayout
from corral.luxi.client import Client

NODES = 200
INSTANCES = 10_000
MASTER_IP = "127.0.0.11"
RSS_TARGET_MB = 200.0
QUERY_TARGET_S = 0.3
QUERY_RUNS = 5
QUERY_FIELDS = ["name", "status", "pnode"]



def prepare_root(root: Path) -> NodeLayout:
    """A master node's root with the generated configuration (see generated_master_root)."""
    return generated_master_root(root, generate_config(NODES, INSTANCES, master_ip=MASTER_IP))


def proc_status_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of ``pid`` in MB (MiB, as /proc counts kB of 1024 bytes)."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024.0
    return values


def query_instances(client: Client) -> list[Any]:
    """All instance rows; BenchError unless there is one per instance."""
    rows: list[Any] = client.Query("instance", QUERY_FIELDS, None)["data"]
    if len(rows) != INSTANCES:
        raise BenchError(f"instance query returned {len(rows)} rows, not {INSTANCES}")
    return rows


def status_counts(rows: list[Any]) -> str:
    """How many rows have each status (shows whether live data from nodes was used)."""
    counts = Counter(str(row[1][1]) for row in rows)
    return ", ".join(f"{status} {count:,}" for status, count in counts.most_common())


def measure(layout: NodeLayout, output: Path) -> list[Figure]:
    with masterd_child(layout, output) as proc:
        started = wait_masterd(proc, layout)
        with Client(str(layout.luxi_socket)) as client:
            start = time.perf_counter()
            rows = query_instances(client)
            first = [time.perf_counter() - start]
            rss = proc_status_mb(proc.pid)["VmRSS"]
            queries = first + sample(lambda: query_instances(client), QUERY_RUNS - 1)
        peak = proc_status_mb(proc.pid)["VmHWM"]
    scale = f"{INSTANCES:,} instances / {NODES} nodes"
    return [
        report(Figure("masterd RSS", rss, "MB", RSS_TARGET_MB, "max", f"{scale}, after 1 query")),
        report(
            Figure("masterd peak RSS (VmHWM)", peak, "MB", detail=f"after {QUERY_RUNS} queries")
        ),
        report(
            Figure(
                f"instance query, {INSTANCES:,} rows",
                median(queries),
                "s",
                QUERY_TARGET_S,
                "max",
                f"median of {QUERY_RUNS}, first (cold) included: {fmt_list(queries, 's')}; "
                f"statuses: {status_counts(rows)}",
            )
        ),
        report(Figure("masterd start until LUXI answers", started, "s", detail=scale)),
    ]


def run() -> list[Figure]:
    print(f"masterd: RSS with {INSTANCES:,} instances and {NODES} nodes", flush=True)
    directory = temp_dir("masterd")
    try:
        layout = prepare_root(directory / "root")
        return measure(layout, directory / "masterd.out")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    run()


if __name__ == "__main__":
    main()
