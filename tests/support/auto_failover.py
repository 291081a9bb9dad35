"""Helpers for automatic master failover on a live virtual cluster (tests and benchmark).

Clients find the master as an administrator's script would without a master IP: they try
each node's LUXI socket in turn (a standby master daemon serves none; a killed master's
socket refuses connections). A node "dies" by SIGKILL of its master and node daemons,
by their PIDs.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corral.daemon_control import MASTERD_MATCH, NODED_MATCH, daemon_pid
from corral.layout import NodeLayout
from corral.luxi.client import Client, wait_for_job
from corral.vcluster import cluster
from corral.vcluster.cluster import VCluster, VNode

DAEMONS = ("corral-masterd", "corral-noded")
CLIENT_TIMEOUT = 10.0
NOOP = {"OP_ID": "OP_TEST_DELAY", "duration": 0.01, "on_master": True, "on_nodes": []}


def layout(node: VNode) -> NodeLayout:
    return NodeLayout(Path(node.root))


def client(node: VNode, timeout: float = CLIENT_TIMEOUT) -> Client:
    return Client(str(layout(node).luxi_socket), timeout=timeout)


def answering_master(vc: VCluster) -> VNode | None:
    """The node whose LUXI socket answers a cluster query now (None when none does)."""
    for node in vc.nodes:
        try:
            with client(node, timeout=2.0) as c:
                c.QueryClusterInfo()
            return node
        except Exception:
            continue
    return None


def wait_for_master(vc: VCluster, bound: float, other_than: str | None = None) -> VNode:
    """The first node (not ``other_than``) that answers as master within ``bound`` seconds."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        node = answering_master(vc)
        if node is not None and node.name != other_than:
            return node
        time.sleep(0.05)
    raise AssertionError(f"no master answered within {bound} s")


def kill_node(node: VNode) -> list[int]:
    """SIGKILL the master and node daemons of ``node`` by PID; the PIDs killed."""
    killed = []
    for daemon in DAEMONS:
        match = MASTERD_MATCH if daemon == "corral-masterd" else NODED_MATCH
        pid = daemon_pid(layout(node).pid_file(daemon), match)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


def revive_node(node: VNode) -> None:
    """Start the node daemon again, then a standby master daemon."""
    cluster.start_noded(node)
    cluster.wait_until_listening(node)
    cluster.start_standby_master(node)


def submit_on_master(vc: VCluster, ops: list[dict[str, Any]]) -> tuple[VNode, int]:
    """Submit to whichever node answers as master; raises when none accepts it."""
    errors = []
    for node in vc.nodes:
        try:
            with client(node) as c:
                return node, int(c.SubmitJob([dict(op) for op in ops]))
        except Exception as err:
            errors.append(f"{node.name}: {err}")
    raise RuntimeError("; ".join(errors))


@dataclass
class Acknowledged:
    """What the clients were told succeeded."""

    jobs: set[int] = field(default_factory=set)
    tags: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Clients:
    """``count`` threads submitting jobs and cluster tag changes, retrying on any master."""

    def __init__(self, vc: VCluster, count: int = 4) -> None:
        self.vc = vc
        self.acked = Acknowledged()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(count)]

    def __enter__(self) -> Clients:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)

    def _run(self, index: int) -> None:
        steps: list[Callable[[], None]] = [self._job, lambda: self._tag(index)]
        turn = 0
        while not self.stop.is_set():
            try:
                steps[turn % 2]()
            except Exception:
                time.sleep(0.1)  # the master died or moved: retry on whoever is master now
            turn += 1

    def _job(self) -> None:
        _node, job_id = submit_on_master(self.vc, [NOOP])
        with self.acked.lock:
            self.acked.jobs.add(job_id)

    def _tag(self, index: int) -> None:
        tag = f"c{index}-{uuid.uuid4().hex[:8]}"
        op = {"OP_ID": "OP_TAGS_SET", "kind": "cluster", "name": None, "tags": [tag]}
        node, job_id = submit_on_master(self.vc, [op])
        with client(node, timeout=30.0) as c:
            status, _, _ = wait_for_job(c, job_id)
        if status == "success":
            with self.acked.lock:
                self.acked.tags.add(tag)


def missing_on(master: VNode, acked: Acknowledged) -> tuple[list[int], list[str]]:
    """Acknowledged jobs and tags the master does not have."""
    with acked.lock:
        jobs, tags = sorted(acked.jobs), set(acked.tags)
    with client(master, timeout=60.0) as c:
        found = c.QueryJobs(jobs, ["id"]) if jobs else []
        cluster_tags = set(c.QueryTags("cluster", ""))
    missing_jobs = [job for job, row in zip(jobs, found, strict=True) if row is None]
    return missing_jobs, sorted(tags - cluster_tags)


def masterd_running(node: VNode) -> bool:
    return daemon_pid(layout(node).pid_file("corral-masterd"), MASTERD_MATCH) is not None
