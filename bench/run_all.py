"""Run every benchmark in sequence and print a summary table (``make bench``).

Exit status: 0 when every benchmark produced its figures, whether or not they meet
their targets (benchmarks report, they do not gate); 1 when a benchmark crashed or
left a process running.
"""

from __future__ import annotations

import asyncio
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from bench import (
    bench_allocator,
    bench_auto_failover,
    bench_cli,
    bench_config,
    bench_connections,
    bench_guests,
    bench_instances,
    bench_jobs,
    bench_lease_failover,
    bench_locking,
    bench_master_failover,
    bench_masterd_jobs,
    bench_masterd_rss,
    bench_migration,
    bench_mirror_failover,
    bench_mirror_write,
    bench_node_migrate,
    bench_rapi,
    bench_replace_disks,
    bench_wide_filter,
)
from bench.common import (
    Figure,
    fmt_list,
    leftover_processes,
    median,
    report,
    summary_table,
    time_limit,
)


def run_locking() -> list[Figure]:
    """The lock manager microbenchmark of :mod:`bench.bench_locking`, as a figure."""
    print("locking: uncontended acquire + release (BGL shared + 2 nodes exclusive)", flush=True)
    runs = asyncio.run(bench_locking.measure())
    detail = (
        f"median of {bench_locking.RUNS} runs x {bench_locking.CYCLES:,} cycles: "
        f"{fmt_list(runs, 'µs')}"
    )
    figure = Figure(
        "lock acquire+release", median(runs), "µs", bench_locking.BUDGET_US, "max", detail
    )
    return [report(figure)]


@dataclass(frozen=True)
class Benchmark:
    name: str
    run: Callable[[], list[Figure]]
    time_limit: int
    """Seconds after which the benchmark is interrupted (and counts as crashed)."""


BENCHMARKS = [
    Benchmark("locking", run_locking, 60),
    Benchmark("jobs", bench_jobs.run, 180),
    Benchmark("cli", bench_cli.run, 90),
    Benchmark("config", bench_config.run, 120),
    Benchmark("masterd_rss", bench_masterd_rss.run, 150),
    Benchmark("masterd_jobs", bench_masterd_jobs.run, 600),
    Benchmark("instances", bench_instances.run, 360),
    Benchmark("guests", bench_guests.run, 360),
    Benchmark("migration", bench_migration.run, 300),
    Benchmark("rapi", bench_rapi.run, 300),
    Benchmark("connections", bench_connections.run, 120),
    Benchmark("wide_filter", bench_wide_filter.run, 300),
    Benchmark("allocator", bench_allocator.run, 300),
    Benchmark("node_migrate", bench_node_migrate.run, 300),
    Benchmark("mirror_write", bench_mirror_write.run, 300),
    Benchmark("mirror_failover", bench_mirror_failover.run, 300),
    Benchmark("replace_disks", bench_replace_disks.run, 300),
    Benchmark("lease_failover", bench_lease_failover.run, 120),
    Benchmark("auto_failover", bench_auto_failover.run, 240),
    Benchmark("master_failover", bench_master_failover.run, 300),
]


def run_one(bench: Benchmark) -> list[Figure] | None:
    """The benchmark's figures, or None (after printing the traceback) if it crashed."""
    start = time.perf_counter()
    try:
        with time_limit(bench.time_limit, f"benchmark {bench.name}"):
            figures = bench.run()
    except Exception:
        print(f"  benchmark {bench.name} CRASHED:", flush=True)
        traceback.print_exc(file=sys.stdout)
        return None
    finally:
        print(f"  ({bench.name}: {time.perf_counter() - start:.1f} s)\n", flush=True)
    return figures


def check_leftovers() -> bool:
    """Report processes still running from a benchmark's directory; True if none."""
    leftovers = leftover_processes()
    for pid, cmdline in leftovers:
        print(f"LEFT RUNNING: pid {pid}: {cmdline}")
    return not leftovers


def selected(names: list[str]) -> list[Benchmark]:
    """The benchmarks named on the command line (all of them when none is named)."""
    known = {bench.name: bench for bench in BENCHMARKS}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[name] for name in names] if names else list(BENCHMARKS)


def main(names: list[str]) -> int:
    """Run the named benchmarks (``python -m bench.run_all rapi instances``), or all."""
    start = time.perf_counter()
    figures: list[Figure] = []
    crashed: list[str] = []
    for bench in selected(names):
        result = run_one(bench)
        if result is None:
            crashed.append(bench.name)
        else:
            figures.extend(result)
    print(summary_table(figures))
    clean = check_leftovers()
    if crashed:
        print(f"\nCRASHED: {', '.join(crashed)}")
    missed = sum(1 for f in figures if f.verdict == "misses")
    print(
        f"\n{len(figures)} figures, {missed} missing their target; "
        f"total {time.perf_counter() - start:.0f} s"
    )
    return 1 if crashed or not clean else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
