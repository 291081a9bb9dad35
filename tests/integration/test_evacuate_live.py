"""Emptying a node on the live 3-node cluster through LUXI: ``OP_NODE_MIGRATE`` and
``OP_NODE_EVACUATE`` yield one job per instance, the jobs run, and the node is empty."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from corral.luxi.client import Client, wait_for_job
from tests.integration.conftest import LiveCluster


def _create_op(name: str, node: str, start: bool) -> dict[str, Any]:
    return {"OP_ID": "OP_INSTANCE_CREATE", "instance_name": name, "mode": "create",
            "disk_template": "diskless", "disks": [], "nics": [], "os_type": "noop",
            "hypervisor": "fake", "pnode": node, "ip_check": False, "name_check": False,
            "start": start}


def _run(client: Client, op: dict[str, Any]) -> Any:
    """Run one opcode as a job; its result (the job must succeed)."""
    status, _, result = wait_for_job(client, client.SubmitJob([op]))
    assert status == "success", result
    return result[0]


def _run_follow_ups(client: Client, result: Any) -> list[int]:
    """Wait for the jobs a unit's result submitted; their ids (all must succeed)."""
    ids = []
    for submitted, job_id in result["jobs"]:
        assert submitted is True, job_id
        status, _, outcome = wait_for_job(client, int(job_id))
        assert status == "success", (job_id, outcome)
        ids.append(int(job_id))
    return ids


def _placements(client: Client, names: list[str]) -> dict[str, tuple[str, str]]:
    """name → (primary node, status) for ``names``."""
    answer = client.Query("instance", ["name", "pnode", "status"], ["|", *(
        ["=", "name", name] for name in names)])
    return {row[0][1]: (row[1][1], row[2][1]) for row in answer["data"]}


def _primaries_of(client: Client, node: str) -> list[str]:
    rows = client.QueryNodes([node], ["pinst_list"], False)
    return list(rows[0][0])


@pytest.fixture
def instances(live: LiveCluster) -> Iterator[list[str]]:
    """Names of the instances a test creates (removed afterwards)."""
    made: list[str] = []
    yield made
    with live.client() as client:
        jobs = client.SubmitManyJobs([[{"OP_ID": "OP_INSTANCE_REMOVE", "instance_name": name,
                                        "ignore_failures": True}] for name in made])
        for submitted, job_id in jobs:
            if submitted:
                wait_for_job(client, int(job_id))


def _create(client: Client, made: list[str], specs: list[tuple[str, str, bool]]) -> None:
    jobs = client.SubmitManyJobs([[_create_op(name, node, start)]
                                  for name, node, start in specs])
    made.extend(name for name, _, _ in specs)
    for submitted, job_id in jobs:
        assert submitted is True, job_id
        status, _, result = wait_for_job(client, int(job_id))
        assert status == "success", result


def test_node_migrate_empties_the_node(live: LiveCluster, instances: list[str]) -> None:
    names = [f"nm{index}" for index in range(6)]
    with live.client() as client:
        _create(client, instances, [(name, "node2", True) for name in names])
        assert sorted(_primaries_of(client, "node2")) == names
        result = _run(client, {"OP_ID": "OP_NODE_MIGRATE", "node_name": "node2"})
        assert len(result["jobs"]) == 6
        job_ids = _run_follow_ups(client, result)
        assert _primaries_of(client, "node2") == []
        placed = _placements(client, names)
        summaries = client.QueryJobs(job_ids, ["summary"])
    assert {node for node, _ in placed.values()} <= {"node1", "node3"}
    assert {status for _, status in placed.values()} == {"running"}
    assert sorted(s[0][0] for s in summaries) == [f"INSTANCE_MIGRATE({n})" for n in names]


def test_node_evacuate_primaries_to_a_remote_node(live: LiveCluster,
                                                  instances: list[str]) -> None:
    specs = [("ne-up1", "node3", True), ("ne-up2", "node3", True), ("ne-down", "node3", False)]
    with live.client() as client:
        _create(client, instances, specs)
        result = _run(client, {"OP_ID": "OP_NODE_EVACUATE", "node_name": "node3",
                               "mode": "primary-only", "remote_node": "node1"})
        job_ids = _run_follow_ups(client, result)
        summaries = sorted(s[0][0] for s in client.QueryJobs(job_ids, ["summary"]))
        placed = _placements(client, [name for name, _, _ in specs])
        assert _primaries_of(client, "node3") == []
    assert summaries == ["INSTANCE_FAILOVER(ne-down)", "INSTANCE_MIGRATE(ne-up1)",
                         "INSTANCE_MIGRATE(ne-up2)"]
    assert placed == {"ne-up1": ("node1", "running"), "ne-up2": ("node1", "running"),
                      "ne-down": ("node1", "ADMIN_down")}


def test_node_evacuate_of_secondaries_finds_nothing(live: LiveCluster) -> None:
    with live.client() as client:
        result = _run(client, {"OP_ID": "OP_NODE_EVACUATE", "node_name": "node2",
                               "mode": "secondary-only"})
    assert result == {"jobs": []}
