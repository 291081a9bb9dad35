"""Where a daemon's memory went: a tracemalloc report on SIGUSR1.

Only when the daemon runs under ``python -X tracemalloc=N``: the first SIGUSR1 takes a
baseline snapshot, each later one logs the allocation sites that grew most since it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import tracemalloc

log = logging.getLogger("corral.memtrace")

TOP = 15
_IGNORED = (tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap*>"))


class _Reporter:
    def __init__(self) -> None:
        self.base: tracemalloc.Snapshot | None = None

    def __call__(self) -> None:
        snapshot = tracemalloc.take_snapshot().filter_traces(_IGNORED)
        if self.base is None:
            self.base = snapshot
            log.warning("tracemalloc: baseline taken (%.1f MB traced)", _traced_mb(snapshot))
            return
        lines = [f"tracemalloc: {_traced_mb(snapshot):.1f} MB traced; top growth since "
                 "the baseline:"]
        lines += [f"  {stat}" for stat in snapshot.compare_to(self.base, "lineno")[:TOP]]
        for stat in snapshot.compare_to(self.base, "traceback")[:3]:
            lines.append(f"  {stat.size_diff / 1024:+.1f} KiB, {stat.count_diff:+d} blocks at:")
            lines += [f"    {line}" for line in stat.traceback.format()]
        log.warning("%s", "\n".join(lines))


def _traced_mb(snapshot: tracemalloc.Snapshot) -> float:
    return sum(stat.size for stat in snapshot.statistics("filename")) / 1e6


def install(loop: asyncio.AbstractEventLoop) -> None:
    """Report on SIGUSR1 when tracemalloc traces this process; nothing otherwise."""
    if tracemalloc.is_tracing():
        loop.add_signal_handler(signal.SIGUSR1, _Reporter())
