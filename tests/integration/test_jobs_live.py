"""Jobs on real daemons: locking across nodes, and a master killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from corral.bootstrap.init import start_masterd
from corral.clock import merge_time
from corral.daemon_control import read_pid_file
from corral.layout import NodeLayout
from corral.luxi.client import Client, wait_for_job
from tests.integration.conftest import LiveCluster


def _delay(seconds: float, nodes: list[str]) -> dict[str, Any]:
    return {
        "OP_ID": "OP_TEST_DELAY",
        "duration": seconds,
        "on_master": False,
        "on_nodes": nodes,
        "no_locks": False,
    }


def _exec_interval(client: Client, job_id: int) -> tuple[float, float]:
    opexec, opend = client.QueryJobs([job_id], ["opexec", "opend"])[0]
    start, end = merge_time(opexec[0]), merge_time(opend[0])
    assert start is not None
    assert end is not None
    return start, end


def _run_pair(live: LiveCluster, first: list[str], second: list[str]) -> list[tuple[float, float]]:
    with live.client() as client:
        ids = [
            ok_id[1]
            for ok_id in client.SubmitManyJobs([[_delay(1.0, first)], [_delay(1.0, second)]])
        ]
        for job_id in ids:
            status, _, result = wait_for_job(client, job_id)
            assert status == "success", result
        return [_exec_interval(client, job_id) for job_id in ids]


def test_delays_on_different_nodes_run_together(live: LiveCluster) -> None:
    (s1, e1), (s2, e2) = _run_pair(live, ["node2"], ["node3"])
    assert max(s1, s2) < min(e1, e2), "jobs locking different nodes must overlap"


def test_delays_on_the_same_node_run_one_after_the_other(live: LiveCluster) -> None:
    (s1, e1), (s2, e2) = sorted(_run_pair(live, ["node2"], ["node2"]))
    assert s2 >= e1, "jobs locking the same node must not overlap"
    assert e2 - s1 >= 2.0


def test_no_job_lost_when_masterd_is_killed(live: LiveCluster) -> None:
    layout = NodeLayout(Path(live.vc.master.root))
    with live.client() as client:
        running = client.SubmitJob([_delay(3.0, ["node2"])])
        queued = [client.SubmitJob([_delay(0.01, ["node2"])]) for _ in range(5)]
        deadline = time.monotonic() + 10
        while client.QueryJobs([running], ["status"])[0][0] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.02)
    pid = read_pid_file(layout.pid_file("corral-masterd"))
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    _wait_gone(pid)
    start_masterd(layout, feedback=lambda _msg: None)
    with live.client() as client:
        for job_id in queued:
            status, _, result = wait_for_job(client, job_id)
            assert status == "success", result
        status, result = client.QueryJobs([running], ["status", "opresult"])[0]
        assert status == "error"
        assert "was running when the master daemon stopped" in str(result)
        new_job = client.SubmitJob([_delay(0.01, [])])
        assert new_job > max(queued)


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        if (
            Path(f"/proc/{pid}/status").exists()
            and "zombie" in Path(f"/proc/{pid}/status").read_text()
        ):
            return
        time.sleep(0.02)
