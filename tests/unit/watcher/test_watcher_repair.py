"""Repair passes against a fake master and a real state file: what is submitted, what is kept."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from corral.luxi.client import LuxiRemoteError
from corral.watcher.actions import REASON_SOURCE, ClusterOps
from corral.watcher.policy import MAXTRIES, RETRY_EXPIRATION
from corral.watcher.repair import repair_instances, verify_disks
from corral.watcher.state import StateFile

NOW = 1_700_000_000.0
NODES = [["node1", "b1", False, "10.0.0.1"], ["node2", "b2", False, "10.0.0.2"]]


def _instance(name: str, status: str, admin: str = "up", pnode: str = "node1",
              snodes: list[str] | None = None, active: bool = True) -> list[Any]:
    return [name, status, admin, pnode, snodes or [], active]


def _run(luxi: Any, path: Path, now: float = NOW) -> Any:
    with StateFile.open(path) as state_file:
        return repair_instances(ClusterOps(luxi), state_file, now)


def _stored(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def test_crashed_instances_are_started_with_the_watcher_reason(luxi: Any, tmp_path: Path
                                                              ) -> None:
    luxi.nodes = NODES
    luxi.instances = [_instance("a", "ERROR_down"), _instance("b", "running"),
                      _instance("c", "ERROR_nodedown")]
    result = _run(luxi, tmp_path / "state")
    assert luxi.started() == ["a"]
    op = luxi.ops_of("OP_INSTANCE_STARTUP")[0]
    assert op["force"] is False
    assert op["reason"][0][0] == REASON_SOURCE
    assert result.started == frozenset({"a"})
    assert _stored(tmp_path / "state")["instance"]["a"]["restart_count"] == 1


def test_failing_instance_is_tried_five_times_then_given_up_once(
    luxi: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    luxi.nodes = NODES
    luxi.instances = [_instance("bad", "ERROR_down")]
    luxi.rule = lambda op: ("error", [["OpExecError", ["Could not start instance"]]])
    caplog.set_level(logging.INFO, logger="corral.watcher")
    for run in range(MAXTRIES + 3):
        _run(luxi, tmp_path / "state", NOW + run * 300)
    assert luxi.started() == ["bad"] * MAXTRIES
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [f"Could not restart instance bad after {MAXTRIES} attempts, giving up"]
    assert _stored(tmp_path / "state")["instance"]["bad"]["restart_count"] == MAXTRIES + 1
    later = NOW + (MAXTRIES + 2) * 300 + RETRY_EXPIRATION + 1
    _run(luxi, tmp_path / "state", later)
    assert luxi.started() == ["bad"] * (MAXTRIES + 1)
    assert _stored(tmp_path / "state")["instance"]["bad"] == {
        "restart_count": 1, "restart_when": later, "cleanup_count": 0, "cleanup_when": 0.0}


def test_success_on_a_later_run_clears_the_counter(luxi: Any, tmp_path: Path) -> None:
    luxi.nodes = NODES
    luxi.instances = [_instance("a", "ERROR_down")]
    _run(luxi, tmp_path / "state")
    luxi.instances = [_instance("a", "running")]
    _run(luxi, tmp_path / "state", NOW + 300)
    assert _stored(tmp_path / "state")["instance"] == {}


def test_boot_id_change_activates_disks_of_secondaries(luxi: Any, tmp_path: Path) -> None:
    luxi.nodes = NODES
    luxi.instances = [_instance("m", "running", snodes=["node2"]),
                      _instance("p", "running", pnode="node2")]
    _run(luxi, tmp_path / "state")  # first run: every node counts as rebooted
    assert [op["instance_name"] for op in luxi.ops_of("OP_INSTANCE_ACTIVATE_DISKS")] == ["m"]
    _run(luxi, tmp_path / "state", NOW + 300)  # nothing changed
    assert len(luxi.ops_of("OP_INSTANCE_ACTIVATE_DISKS")) == 1
    luxi.nodes = [NODES[0], ["node2", "rebooted", False, "10.0.0.2"]]
    _run(luxi, tmp_path / "state", NOW + 600)
    assert [op["instance_name"] for op in luxi.ops_of("OP_INSTANCE_ACTIVATE_DISKS")] == ["m", "m"]
    assert _stored(tmp_path / "state")["node"]["node2"] == {"bootid": "rebooted"}


def test_user_down_cleanup_records_failures_only(luxi: Any, tmp_path: Path) -> None:
    luxi.nodes = NODES
    luxi.instances = [_instance("u", "USER_down")]
    luxi.rule = lambda op: ("error", [["OpExecError", ["busy"]]])
    _run(luxi, tmp_path / "state")
    op = luxi.ops_of("OP_INSTANCE_SHUTDOWN")[0]
    assert op["admin_state_source"] == "user"
    assert _stored(tmp_path / "state")["instance"]["u"]["cleanup_count"] == 1
    luxi.rule = lambda op: ("success", [None])
    _run(luxi, tmp_path / "state", NOW + 300)
    assert _stored(tmp_path / "state")["instance"] == {}


def test_locked_user_down_instance_waits(luxi: Any, tmp_path: Path) -> None:
    luxi.nodes = NODES
    luxi.instances = [_instance("u", "USER_down")]
    luxi.locks = [["instance/u", "exclusive"], ["instance/[lockset]", None]]
    _run(luxi, tmp_path / "state")
    assert luxi.submitted == []


def test_crashed_instance_held_by_a_job_is_not_restarted(luxi: Any, tmp_path: Path) -> None:
    """A migration holds the instance lock while the instance is between nodes."""
    luxi.nodes = NODES
    luxi.instances = [_instance("m", "ERROR_down"), _instance("a", "ERROR_down")]
    luxi.locks = [["instance/m", "exclusive"], ["instance/[lockset]", None]]
    _run(luxi, tmp_path / "state")
    started = [op["instance_name"] for op in luxi.ops_of("OP_INSTANCE_STARTUP")]
    assert started == ["a"]
    with StateFile.open(tmp_path / "state") as state_file:
        assert state_file.read().restarts("m") == 0


def test_drained_queue_ends_the_pass_without_counting(luxi: Any, tmp_path: Path) -> None:
    luxi.nodes = NODES
    luxi.instances = [_instance("a", "ERROR_down")]
    luxi.refuse_jobs = "JobQueueDrainError"
    with pytest.raises(LuxiRemoteError):
        _run(luxi, tmp_path / "state")
    with StateFile.open(tmp_path / "state") as state_file:
        assert state_file.read().restarts("a") == 0


def test_unchanged_state_is_touched_not_rewritten(luxi: Any, tmp_path: Path) -> None:
    luxi.nodes = NODES
    _run(luxi, tmp_path / "state")
    inode = (tmp_path / "state").stat().st_ino
    _run(luxi, tmp_path / "state", NOW + 300)
    assert (tmp_path / "state").stat().st_ino == inode


# --- disk verification ------------------------------------------------------------------------


def _verify_rule(inactive: list[str]) -> Any:
    def rule(op: dict[str, Any]) -> tuple[str, list[Any]]:
        if op["OP_ID"] == "OP_GROUP_VERIFY_DISKS":
            return "success", [[{}, inactive, {}]]
        return "success", [None]

    return rule


def test_verify_disks_activates_what_it_reports(luxi: Any) -> None:
    from corral.watcher.policy import InstanceObs, NodeObs

    luxi.rule = _verify_rule(["x", "gone", "helpless"])
    instances = [InstanceObs("x", "ERROR_down", "up"),
                 InstanceObs("helpless", "ERROR_nodedown", "up")]
    activated = verify_disks(ClusterOps(luxi), instances, [NodeObs("node1", "b")], strict=False)
    assert activated == ["x"]
    verify = luxi.ops_of("OP_GROUP_VERIFY_DISKS")[0]
    assert (verify["group_name"], verify["is_strict"], verify["priority"]) == ("g-uuid", False, 10)
    assert luxi.archived == [1]
    assert [len(job) for job in luxi.submitted] == [1, 1]  # one activation job for all


def test_verify_disks_skipped_while_one_is_pending(luxi: Any) -> None:
    luxi.jobs_table = [[["GROUP_VERIFY_DISKS(g-uuid)"]]]
    assert verify_disks(ClusterOps(luxi), [], [], strict=True) == []
    assert luxi.submitted == []
