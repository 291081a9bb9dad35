"""A stopped master candidate does not stall jobs; verify reports it; it catches up."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from corral.config.store import ConfigStore
from corral.daemon_control import read_pid_file
from corral.layout import NodeLayout
from corral.luxi.client import wait_for_job
from corral.vcluster.cluster import VNode
from tests.integration.conftest import VENV_BIN, LiveCluster

NOOP = {"OP_ID": "OP_TEST_DELAY", "duration": 0.001, "on_master": False, "on_nodes": []}


@contextmanager
def stopped(node: VNode) -> Iterator[None]:
    """SIGSTOP the node's daemon (pid from its pid file); SIGCONT whatever happens."""
    pid = read_pid_file(NodeLayout(Path(node.root)).pid_file("corral-noded"))
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def _verify_output(live: LiveCluster) -> str:
    """What ``gnt-cluster verify`` printed within 30 s (its group job waits for the
    stopped node, so it is cut short; the configuration job reports first)."""
    env = {**live.env(), "PYTHONUNBUFFERED": "1"}
    try:
        proc = subprocess.run([str(VENV_BIN / "gnt-cluster"), "verify"], capture_output=True,
                              env=env, timeout=30, check=False)
        out: Any = proc.stdout
    except subprocess.TimeoutExpired as err:
        out = err.stdout or b""
    return out.decode() if isinstance(out, bytes) else str(out)


def _config_serial(node: VNode) -> int:
    store = ConfigStore(NodeLayout(Path(node.root)).config_db)
    try:
        data = store.load()
        assert data is not None
        return data.serial_no
    finally:
        store.close()


def _wait_level(live: LiveCluster) -> None:
    deadline = time.monotonic() + 60
    with live.client() as client:
        while client.QueryConfigValues(["lagging_candidates"])[0]:
            assert time.monotonic() < deadline, "the candidate did not catch up"
            time.sleep(0.2)


def test_stopped_candidate_lags_then_catches_up(live: LiveCluster) -> None:
    node3 = live.vc.nodes[2]
    job_ids: list[int] = []
    with stopped(node3):
        with live.client() as client:
            for _ in range(5):
                job_id = client.SubmitJob([dict(NOOP)])
                status, _, result = wait_for_job(client, job_id)
                assert status == "success", result
                job_ids.append(job_id)
        tagged = live.gnt("gnt-cluster", "add-tags", "lagtest")
        assert tagged.code == 0, tagged.stderr
        with live.client() as client:
            lag = client.QueryConfigValues(["lagging_candidates"])[0]
        assert "node3" in lag, lag
        report = _verify_output(live)
        assert "ENODEREPL" in report or "candidate node3 is behind" in report, report
        assert "candidate node3 is behind: configuration serial" in report, report
    _wait_level(live)
    assert _config_serial(node3) == _config_serial(live.vc.master)
    queue3 = NodeLayout(Path(node3.root)).queue_dir
    for job_id in job_ids:
        assert (queue3 / f"job-{job_id}").exists() or any(
            queue3.glob(f"archive/*/job-{job_id}")
        ), f"job {job_id} missing on node3"
    live.gnt("gnt-cluster", "remove-tags", "lagtest")
