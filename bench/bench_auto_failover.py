"""Automatic master failover RTO: SIGKILL of the master node's daemons to the first job
accepted by the new master.

A 3-node virtual cluster started with ``--auto-failover`` (3 etcd members on loopback, lease
TTL 5 s, a standby master daemon on each candidate). Each run kills the master node's master
and node daemons (by PID) at a varying phase of the keep-alive cycle, then submits a no-op
job to each node's LUXI socket in turn until one accepts it; the killed node is revived
(node daemon, standby master daemon) before the next run.

What bounds it, from the new master's log: *detection* (kill to lease won: the lease
outliving the last keep-alive, between 2/3 TTL and TTL, etcd's expiry check, the watch
event and the ranked campaign delay, 0 s for the best-informed candidate) and *take-over*
(lease won to LUXI serving: catch-up RPCs, new term, queue copy, ssconf); the rest is the
client finding the new socket.

Run from the checkout: ``.venv/bin/python -m bench.bench_auto_failover``.
"""

from __future__ import annotations

import datetime
import sys
import time
from pathlib import Path

from bench.common import Figure, fmt_list, median, report, temp_dir
from corral.testing.etcd_cluster import etcd_available
from corral.vcluster import cluster
from corral.vcluster.cluster import VCluster, VNode
from tests.support.auto_failover import (
    NOOP,
    kill_node,
    layout,
    revive_node,
    submit_on_master,
    wait_for_master,
)

PORT = 18390
RUNS = 5
TARGET_S = 10.0
TTL = 5
BOUND_S = 60.0


def _log_time(node: VNode, marker: str, after: float) -> float | None:
    """Wall time of the first log line of ``node``'s master daemon with ``marker`` after
    ``after`` (the log's timestamps are local time, to the millisecond)."""
    try:
        lines = layout(node).log_file("corral-masterd").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if marker not in line:
            continue
        try:
            stamp = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        except ValueError:
            continue
        if stamp >= after - 0.01:
            return stamp
    return None


def one_failover(vc: VCluster, run: int) -> tuple[float, float, float]:
    """(RTO, detection, take-over) seconds of one kill."""
    old = wait_for_master(vc, BOUND_S)
    time.sleep(0.5 + (run * 0.37) % 1.0)  # kill at varying phases of the keep-alive cycle
    killed_wall, killed = time.time(), time.monotonic()
    kill_node(old)
    deadline = killed + BOUND_S
    while True:
        try:
            new, _job = submit_on_master(vc, [NOOP])
            break
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    rto = time.monotonic() - killed
    won = _log_time(new, "won the master lease", killed_wall)
    serving = _log_time(new, "serving LUXI", killed_wall)
    revive_node(old)
    if won is None or serving is None:
        return rto, float("nan"), float("nan")
    return rto, won - killed_wall, serving - won


def run() -> list[Figure]:
    if not etcd_available():
        raise RuntimeError("etcd is not installed (Debian package etcd-server)")
    print(f"auto_failover: RTO of automatic master failover, 3 nodes, 3 etcd members, "
          f"lease TTL {TTL} s", flush=True)
    directory = temp_dir("auto-failover") / "vc"
    try:
        vc = cluster.up(directory, 3, feedback=lambda _msg: None, port=PORT,
                        auto_failover=True)
        samples = [one_failover(vc, run) for run in range(RUNS)]
    finally:
        cluster.down(directory, feedback=lambda _msg: None)
        Path(directory).parent.rmdir()
    rtos = [s[0] for s in samples]
    detection, takeover = median([s[1] for s in samples]), median([s[2] for s in samples])
    detail = (f"{RUNS} runs: {fmt_list(rtos, 's')}; max {max(rtos):.2f} s; bounded by "
              f"detection (lease TTL {TTL} s, expiry, watch, ranked campaign) median "
              f"{detection:.2f} s + take-over (catch-up, new term, queue copy, ssconf) median "
              f"{takeover:.2f} s + the client finding the new master")
    return [report(Figure("automatic failover RTO (kill to first job accepted)",
                          median(rtos), "s", TARGET_S, "max", detail))]


def main() -> int:
    run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
