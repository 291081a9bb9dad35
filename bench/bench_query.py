"""Micro-benchmark of the in-process query engine on a generated large cluster.

Usage: ``python -m bench.bench_query [--instances N] [--nodes N] [--repeat N] [--profile]``.
Prints the median and best time of the RAPI bulk instance query (Ganeti's
I_FIELDS) and of ``gnt-instance list``'s six fields.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.common import generate_config
from corral.query import QueryContext, query
from corral.rapi.resources.instances import I_FIELDS

LIST_FIELDS = ["name", "hypervisor", "os", "pnode", "status", "oper_ram"]


def _context(nodes: int, instances: int) -> QueryContext:
    data = generate_config(nodes, instances)
    live = {
        uuid: {"state": "running", "memory": 512, "vcpus": 1}
        for i, uuid in enumerate(data.instances)
        if i % 3
    }
    return QueryContext(config=data, instance_live=live)


def _timed(run: Callable[[], Any], repeat: int) -> list[float]:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        timings.append(time.perf_counter() - started)
        del result  # freeing the previous answer is not part of the query
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    ctx = _context(args.nodes, args.instances)
    for label, fields in (("bulk (I_FIELDS)", I_FIELDS), ("list (6 fields)", LIST_FIELDS)):

        def run(fields: list[str] = fields) -> Any:
            return query("instance", fields, None, ctx)

        run()  # warm caches (nice_key) as a long-running master has them
        timings = _timed(run, args.repeat)
        print(f"{label:16} {len(fields):2} fields: median {statistics.median(timings):.4f} s,"
              f" best {min(timings):.4f} s  ({' '.join(f'{t:.3f}' for t in timings)})")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(run)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(18)


if __name__ == "__main__":
    main()
