"""LUXI answers turned into observations, and jobs with the watcher's reason trail."""

from __future__ import annotations

from typing import Any

import pytest

from corral.errors import OpExecError
from corral.watcher.actions import ClusterOps, opcode, query_rows
from corral.watcher.policy import InstanceObs, NodeObs


def test_query_rows_keep_only_normal_values() -> None:
    answer = {"fields": [], "data": [[[0, "a"], [2, None], [4, None], [0, False]]]}
    assert query_rows(answer) == [["a", None, None, False]]


def test_observations(luxi: Any) -> None:
    luxi.instances = [["web", "ERROR_down", "up", "node1", ["node2"], True],
                      ["gone", "ERROR_nodedown", "up", None, None, None]]
    luxi.nodes = [["node1", "boot-1", False, "10.0.0.1"], ["node2", None, True, "10.0.0.2"]]
    ops = ClusterOps(luxi)
    assert ops.instances() == [
        InstanceObs("web", "ERROR_down", "up", "node1", ("node2",), True),
        InstanceObs("gone", "ERROR_nodedown", "up", "", (), False),
    ]
    assert ops.nodes() == [NodeObs("node1", "boot-1"), NodeObs("node2", None, True)]
    assert ops.offline_nodes() == [("node2", "10.0.0.2")]


def test_locked_instances(luxi: Any) -> None:
    luxi.locks = [["instance/web", "exclusive"], ["instance/db", None],
                  ["instance/[lockset]", "shared"], ["node/node1", "shared"]]
    assert ClusterOps(luxi).locked_instances() == frozenset({"web"})


def test_opcodes_carry_the_watcher_reason() -> None:
    op = opcode("OP_INSTANCE_STARTUP", "why", instance_name="web")
    assert op["OP_ID"] == "OP_INSTANCE_STARTUP"
    [(source, text, stamp)] = op["reason"]
    assert (source, text) == ("gnt:watcher", "why")
    assert isinstance(stamp, int)


def test_failed_job_raises_with_a_one_line_reason(luxi: Any) -> None:
    luxi.rule = lambda op: ("error", [["OpExecError", ["Could not start\nlast output: x"]]])
    with pytest.raises(OpExecError) as failure:
        ClusterOps(luxi).start_instance("web", 2)
    assert str(failure.value).endswith("ended with error: OpExecError: Could not start | "
                                       "last output: x")
    assert luxi.ops_of("OP_INSTANCE_STARTUP")[0]["reason"][0][1] == \
        "Restarting instance web (attempt #2)"


def test_activation_of_several_instances_is_one_job(luxi: Any) -> None:
    ClusterOps(luxi).activate_disks(["a", "b"], "because")
    assert [[op["instance_name"] for op in job] for job in luxi.submitted] == [["a", "b"]]


def test_malformed_verification_answer_is_an_error(luxi: Any) -> None:
    luxi.rule = lambda op: ("success", [None])
    with pytest.raises(OpExecError, match="Unexpected answer"):
        ClusterOps(luxi).verify_group_disks("g-uuid", True)


def test_archive_reports_the_count(luxi: Any) -> None:
    assert ClusterOps(luxi).archive_jobs(21600) == 3
    assert luxi.auto_archive_age == [21600]
