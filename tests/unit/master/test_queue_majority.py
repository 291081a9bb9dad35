"""Job submissions are acknowledged by a majority of the candidate pool; a hung candidate
lags (with the jobs it misses), is skipped, and gets those jobs in the background."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from corral.clock import FakeClock, SystemClock
from corral.cmdlib.common.verification.replication import lag_findings
from corral.cmdlib.common.verification.report import format_finding
from corral.jobs.persist import JobSaver, NotReplicated
from corral.jobs.queue import JobQueue
from corral.jobs.store import JobStore
from corral.master.queue_replication import RpcQueueReplicator
from corral.objects import Cluster, ConfigData, Node, NodeGroup
from corral.rpc.majority import CatchUpBackoff
from tests.support.fake_rpc import FakeNodeRpc
from tests.unit.jobs.test_queue import ScriptedRunner, dummy


def _config() -> ConfigData:
    data = ConfigData(cluster=Cluster(uuid="c1", cluster_name="c.example", master_node="n1"))
    data.put(NodeGroup(uuid="g1", name="default"))
    for index in (1, 2, 3):
        data.put(Node(uuid=f"n{index}", name=f"node{index}", primary_ip=f"127.0.0.{index}",
                      group="g1", master_candidate=True))
    return data


def _queue(tmp_path: Path) -> tuple[JobQueue, RpcQueueReplicator, FakeNodeRpc]:
    rpc = FakeNodeRpc(FakeClock())
    config = _config()
    replicator = RpcQueueReplicator(
        rpc, lambda: config, bound=0.05, backoff=CatchUpBackoff(0.001, 0.01)
    )
    saver = JobSaver(JobStore(tmp_path / "queue.db"), replicator)
    return JobQueue(saver, ScriptedRunner(), SystemClock()), replicator, rpc


def _files_on(rpc: FakeNodeRpc, node: str) -> set[str]:
    return {name for call in rpc.calls_of("jobqueue_update") if call.node == node
            for name, _ in call.args[0]}


def test_jobs_acknowledged_while_a_candidate_hangs(tmp_path: Path) -> None:
    queue, replicator, rpc = _queue(tmp_path)
    rpc.hold("node3")

    async def scenario() -> list[int]:
        ids = [await queue.submit([dummy()])]
        assert rpc.held_calls("node3", "jobqueue_update") == 1, "the hung call is pending"
        ids += [await queue.submit([dummy()]) for _ in range(3)]
        assert rpc.held_calls("node3", "jobqueue_update") == 1, "not contacted per job"
        assert replicator.lagging() == {"node3": "4 jobs"}
        rpc.release("node3")
        for job_id in ids:
            await queue.wait_finished(job_id)
        await replicator.catch_up.settle()
        return ids

    ids = asyncio.run(scenario())
    assert replicator.lagging() == {}
    assert _files_on(rpc, "node3") >= {f"job-{i}" for i in ids}
    assert _files_on(rpc, "node2") >= {f"job-{i}" for i in ids}


def test_two_hung_candidates_refuse_the_job(tmp_path: Path) -> None:
    queue, _replicator, rpc = _queue(tmp_path)
    rpc.hold("node2")
    rpc.hold("node3")

    async def scenario() -> None:
        with pytest.raises(NotReplicated) as raised:
            await queue.submit([dummy()])
        assert "node2: no answer" in str(raised.value)
        assert "node3: no answer" in str(raised.value)
        assert queue.jobs == {}, "a refused job is not acknowledged nor run"

    asyncio.run(scenario())
    saved = queue.saver.store.load(1)
    assert saved is not None
    assert saved[0]["ops"][0]["status"] == "error"


def test_missed_archival_and_drain_flag_are_caught_up(tmp_path: Path) -> None:
    _, replicator, rpc = _queue(tmp_path)
    rpc.hold("node3")

    async def scenario() -> None:
        await replicator.update([("job-1", "{}")])
        await replicator.rename([("job-1", "archive/0/job-1")])
        await replicator.set_drain_flag(True)
        assert replicator.lagging() == {"node3": "1 job, 1 archived, the drain flag"}
        rpc.release("node3")
        await replicator.catch_up.settle()

    asyncio.run(scenario())
    node3 = [c.name for c in rpc.calls if c.node == "node3"]
    assert node3[-3:] == ["jobqueue_update", "jobqueue_rename", "jobqueue_set_drain_flag"]


def test_verify_reports_lagging_candidates() -> None:
    findings = lag_findings({"node2": ["configuration serial 41 of 57", "3 jobs"]})
    assert [format_finding(f, "ERROR", False) for f in findings] == [
        "  - ERROR: node node2: candidate node2 is behind: configuration serial 41 of 57,"
        " 3 jobs"
    ]
    assert format_finding(findings[0], "ERROR", True).startswith("  - ERROR:ENODEREPL:node:node2:")


def test_a_new_master_sends_every_candidate_a_full_queue_copy(tmp_path: Path) -> None:
    queue, replicator, rpc = _queue(tmp_path)
    replicator.snapshot = lambda: [("job-1", "{}"), ("job-2", "{}")]
    rpc.script("jobqueue_update", "node3", fail="connection refused")

    async def scenario() -> list[str]:
        behind = await replicator.resync()
        assert replicator.lagging() == {"node3": "a full job queue copy"}
        rpc.script("jobqueue_update", "node3", payload=None)
        await replicator.catch_up.settle()
        return behind

    assert asyncio.run(scenario()) == ["node3"]
    assert replicator.lagging() == {}
    assert _files_on(rpc, "node2") == {"job-1", "job-2"}
    assert _files_on(rpc, "node3") == {"job-1", "job-2"}
    assert "node1" not in {c.node for c in rpc.calls_of("jobqueue_update")}
    queue.saver.store.close()


def test_the_full_queue_copy_goes_in_chunks(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    queue, replicator, rpc = _queue(tmp_path)
    monkeypatch.setattr("corral.master.queue_replication.RESYNC_CHUNK", 2)
    replicator.snapshot = lambda: [(f"job-{i}", "{}") for i in range(1, 6)]
    assert asyncio.run(replicator.resync()) == []
    sizes = [len(c.args[0]) for c in rpc.calls_of("jobqueue_update") if c.node == "node2"]
    assert sizes == [2, 2, 1]
    assert _files_on(rpc, "node3") == {f"job-{i}" for i in range(1, 6)}
    queue.saver.store.close()
