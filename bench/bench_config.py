"""Cost of one configuration commit with 10,000 instances and 200 nodes.

Part 1 drives a :class:`ConfigWriter` directly (no replication) over a store in a
temporary directory; part 2 times a real config-changing job (``OP_TAGS_SET`` on
the cluster) on a 3-node vcluster, where each commit is replicated to 2 master
candidates.

Run from the checkout: ``.venv/bin/python -m bench.bench_config``.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    NOOP_JOB_OP,
    BenchError,
    Figure,
    generate_config,
    median,
    percentile,
    report,
    temp_dir,
    vcluster,
)
from corral.clock import SystemClock
from corral.config.store import ConfigStore
from corral.config.writer import ConfigWriter
from corral.luxi.client import Client, wait_for_job

NODES = 200
BIG = 10_000
SMALL = 100
COMMITS = 200
WARMUP_COMMITS = 10
TARGET_MS = 5.0
SCALING_TARGET = 2.0
JOBS = 50
WARMUP_JOBS = 3


@dataclass
class Subject:
    """One configuration under test: its writer and the instances commits rotate over."""

    label: str
    writer: ConfigWriter
    uuids: list[str]
    times_ms: list[float]


def make_subject(directory: Path, instances: int) -> Subject:
    """Generate a configuration, write it to a fresh store, wrap it in a writer."""
    start = time.perf_counter()
    data = generate_config(NODES, instances)
    generated = time.perf_counter() - start
    store = ConfigStore(directory / f"config-{instances}.db")
    start = time.perf_counter()
    store.replace_all(data)
    written = time.perf_counter() - start
    objects = sum(1 for _ in data.all_objects())
    print(
        f"  ({instances:,} instances / {NODES} nodes: {objects:,} objects generated in "
        f"{generated:.2f} s, initial store write {written:.2f} s)",
        flush=True,
    )
    writer = ConfigWriter(store, data, SystemClock(), replicator=None)
    return Subject(f"{instances:,} instances", writer, list(data.instances), [])


async def commit_once(subject: Subject, k: int) -> float:
    """Change the tags of one instance and commit it; returns milliseconds."""
    writer = subject.writer
    inst = writer.data.instances[subject.uuids[k % len(subject.uuids)]]
    changed = inst.evolve(writer.clock.now(), tags=(f"bench-{k}",))
    start = time.perf_counter()
    await writer.commit(changed)
    return (time.perf_counter() - start) * 1000.0


async def measure_commits(subjects: list[Subject]) -> None:
    """Warm up, then interleave commits of the subjects (in alternating order) so
    that both see the same disk and machine conditions."""
    for k in range(WARMUP_COMMITS):
        for subject in subjects:
            await commit_once(subject, k)
    for k in range(WARMUP_COMMITS, WARMUP_COMMITS + COMMITS):
        for subject in subjects if k % 2 else reversed(subjects):
            subject.times_ms.append(await commit_once(subject, k))


def commit_figures(big: Subject, small: Subject) -> list[Figure]:
    detail = f"median of {COMMITS} commits, p90 {{:.2f}} ms; {NODES} nodes, no replication"
    big_ms, small_ms = median(big.times_ms), median(small.times_ms)
    return [
        report(
            Figure(
                f"config commit, {BIG:,} instances",
                big_ms,
                "ms",
                TARGET_MS,
                "max",
                detail.format(percentile(big.times_ms, 90)),
            )
        ),
        report(
            Figure(
                f"config commit, {SMALL} instances",
                small_ms,
                "ms",
                detail=detail.format(percentile(small.times_ms, 90)),
            )
        ),
        report(
            Figure(
                f"config commit {BIG:,} vs {SMALL} instances",
                big_ms / small_ms,
                "x",
                SCALING_TARGET,
                "max",
                "ratio of the two medians",
            )
        ),
    ]


def measure_local() -> list[Figure]:
    directory = temp_dir("config")
    subjects: list[Subject] = []
    try:
        subjects = [make_subject(directory, BIG), make_subject(directory, SMALL)]
        asyncio.run(measure_commits(subjects))
        return commit_figures(subjects[0], subjects[1])
    finally:
        for subject in subjects:
            subject.writer.store.close()
        shutil.rmtree(directory, ignore_errors=True)


def job_ms(client: Client, ops: list[dict[str, object]]) -> float:
    """Submit one job, follow it to success; milliseconds."""
    start = time.perf_counter()
    job_id = client.SubmitJob(ops)
    status, _, result = wait_for_job(client, job_id)
    elapsed = (time.perf_counter() - start) * 1000.0
    if status != "success":
        raise BenchError(f"job {job_id} {ops[0]['OP_ID']} ended with {status}: {result}")
    return elapsed


def tags_op(kind: str, i: int, name: str | None = None) -> dict[str, object]:
    op: dict[str, object] = {"OP_ID": "OP_TAGS_SET", "kind": kind, "tags": [f"t{i}"]}
    if name is not None:
        op["name"] = name
    return op


def series_ms(client: Client, make_op: Callable[[int], dict[str, object]]) -> list[float]:
    """Milliseconds of :data:`JOBS` one-opcode jobs (after a warm-up), ``make_op(i)`` each."""
    for i in range(WARMUP_JOBS):
        job_ms(client, [make_op(i)])
    return [job_ms(client, [make_op(i)]) for i in range(WARMUP_JOBS, WARMUP_JOBS + JOBS)]


def measure_replicated() -> list[Figure]:
    """Tag jobs end to end on a 3-node vcluster (node1 master, node2 and node3
    candidates), beside a no-op job: the difference is the replicated commit."""
    with vcluster(3, "config") as vc, Client(str(vc.luxi_socket)) as client:
        cluster_tags = series_ms(client, lambda i: tags_op("cluster", i))
        node_tags = series_ms(client, lambda i: tags_op("node", i, vc.nodes[1].name))
        noops = series_ms(client, lambda i: dict(NOOP_JOB_OP))
    replicated = f"median of {JOBS} jobs; commit replicated to 2 master candidates"
    return [
        report(
            Figure(
                "OP_TAGS_SET cluster job, 3 nodes",
                median(cluster_tags),
                "ms",
                detail=f"{replicated}, then ssconf (cluster_tags) pushed to 3 nodes",
            )
        ),
        report(
            Figure(
                "OP_TAGS_SET node job, 3 nodes",
                median(node_tags),
                "ms",
                detail=f"{replicated}; ssconf unchanged",
            )
        ),
        report(
            Figure(
                "no-op job, same vcluster",
                median(noops),
                "ms",
                detail=f"median of {JOBS}; subtract it from the tag jobs for the commit's cost",
            )
        ),
    ]


def run() -> list[Figure]:
    print(f"config: one commit with {BIG:,} instances and {NODES} nodes", flush=True)
    return measure_local() + measure_replicated()


def main() -> None:
    run()


if __name__ == "__main__":
    main()
