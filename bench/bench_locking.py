"""Microbenchmark: one uncontended acquire + release of the BGL (shared) and two nodes.

Run from the checkout: ``.venv/bin/python -m bench.bench_locking``.  Prints the
median over 5 runs of 10,000 cycles, in µs per cycle, and its ratio to the
50 µs budget.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from corral.locking import Level, LockManager, LockPlan, exclusive

RUNS = 5
CYCLES = 10_000
BUDGET_US = 50.0


async def _run_once(manager: LockManager, plan: LockPlan) -> float:
    start = time.perf_counter()
    for _ in range(CYCLES):
        await manager.acquire("job/1", plan, timeout=10.0)
        manager.release("job/1")
    return (time.perf_counter() - start) / CYCLES * 1e6


async def measure() -> list[float]:
    """µs per cycle for each run."""
    manager = LockManager()
    manager.add(Level.NODE, ["node1", "node2", "node3"])
    plan = LockPlan.of({Level.NODE: exclusive(["node1", "node2"])})
    await _run_once(manager, plan)  # warm-up
    return [await _run_once(manager, plan) for _ in range(RUNS)]


def main() -> None:
    runs = asyncio.run(measure())
    median = statistics.median(runs)
    print(
        f"locking: uncontended acquire+release (BGL shared + 2 nodes exclusive): "
        f"{median:.2f} us/cycle (median of {RUNS} x {CYCLES}; runs "
        f"{', '.join(f'{r:.2f}' for r in runs)}); budget {BUDGET_US:.0f} us, "
        f"ratio {median / BUDGET_US:.2f}"
    )


if __name__ == "__main__":
    main()
