"""gnt-cluster verify and the candidates' job queue replicas: the node's answer (highest
job id, missing job files) and the findings about a replica that is behind."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from corral.backend.queue_replica import replica_state
from corral.clock import FakeClock
from corral.cmdlib.common.verification.replication import queue_findings, queue_replica_findings
from corral.cmdlib.context import MasterContext
from corral.layout import NodeLayout
from corral.rpc.payloads import QueueReplicaState
from tests.support.config import standard_cluster
from tests.support.fake_rpc import FakeNodeRpc


def _replica(tmp_path: Path) -> NodeLayout:
    layout = NodeLayout(tmp_path)
    layout.queue_dir.mkdir(parents=True)
    for job_id in (7, 9):
        (layout.queue_dir / f"job-{job_id}").write_text("{}")
    (layout.queue_archive_dir / "0").mkdir(parents=True)
    (layout.queue_archive_dir / "0" / "job-3").write_text("{}")
    return layout


def test_replica_state_names_the_newest_job_and_the_missing_files(tmp_path: Path) -> None:
    layout = _replica(tmp_path)
    assert replica_state(layout, [3, 7, 8, 9, 10]) == QueueReplicaState(9, [8, 10])
    (layout.queue_dir / "serial").write_text("12\n")
    assert replica_state(layout, [3, 7, 9]) == QueueReplicaState(12, [])
    (layout.queue_archive_dir / "1").mkdir()
    (layout.queue_archive_dir / "1" / "job-10001").write_text("{}")
    assert replica_state(layout, [10001]) == QueueReplicaState(10001, [])


def test_replica_state_of_a_node_without_a_replica(tmp_path: Path) -> None:
    assert replica_state(NodeLayout(tmp_path), [1, 2]) == QueueReplicaState(0, [1, 2])


def test_findings_name_the_candidate_and_what_it_lacks() -> None:
    states = {"node2": QueueReplicaState(40, [33, 34]), "node3": QueueReplicaState(41),
              "node4": None, "node5": QueueReplicaState(41, list(range(1, 8)))}
    found = [(f.item, f.message) for f in queue_findings(41, states)]
    assert found == [
        ("node2", "candidate node2 is behind: job queue serial 40 of 41, 2 job file(s)"
                  " missing (jobs 33, 34)"),
        ("node4", "candidate node4 did not report its job queue replica"),
        ("node5", "candidate node5 is behind: 7 job file(s) missing (jobs 1, 2, 3, 4, 5, ...)"),
    ]


def _context(rpc: FakeNodeRpc) -> MasterContext:
    data = standard_cluster(nodes=3, pool_size=3).data
    saver = SimpleNamespace(serial=12, replicator=None)
    queue = SimpleNamespace(jobs={10: object(), 12: object()}, saver=saver)
    config = SimpleNamespace(data=data)
    return cast(MasterContext, SimpleNamespace(queue=queue, config=config, rpc=rpc))


def test_a_candidate_behind_is_asked_again_then_reported() -> None:
    rpc = FakeNodeRpc(FakeClock())
    answers = iter([QueueReplicaState(11, [12]), QueueReplicaState(11, [12])])
    rpc.script("jobqueue_replica_state", "node3", fn=lambda _n, _a: next(answers))
    found = asyncio.run(queue_replica_findings(_context(rpc), settle=0.01))
    assert [(f.item, f.message) for f in found] == [
        ("node3", "candidate node3 is behind: job queue serial 11 of 12, 1 job file(s)"
                  " missing (jobs 12)")]
    calls = rpc.calls_of("jobqueue_replica_state")
    assert sorted(c.node for c in calls) == ["node2", "node3", "node3"]
    assert all(c.args == ([10, 12],) for c in calls)


def test_a_candidate_that_caught_up_meanwhile_is_not_reported() -> None:
    rpc = FakeNodeRpc(FakeClock())
    answers = iter([QueueReplicaState(11, [12]), QueueReplicaState(12, [])])
    rpc.script("jobqueue_replica_state", "node3", fn=lambda _n, _a: next(answers))
    assert asyncio.run(queue_replica_findings(_context(rpc), settle=0.01)) == []
