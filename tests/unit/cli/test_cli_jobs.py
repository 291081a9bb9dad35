"""Submitting and following jobs: --submit, --print-jobid, logs, failures, generic options."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from corral.cli import gnt_debug

if TYPE_CHECKING:
    from tests.unit.cli.conftest import FakeLuxi, Runner

TS = 1700000000


def _without_reason(op: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in op.items() if k != "reason"}


def test_delay_builds_the_exact_opcode(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(3, [None])
    code, _, _ = run(gnt_debug.main, "delay", "2.5", "--no-master", "-n", "node1", "-n", "node2",
                     "-r", "3", "-i", "-l", "--priority", "high", "--dry-run", "-d")
    assert code == 0
    [op] = luxi.submitted()
    assert _without_reason(op) == {
        "OP_ID": "OP_TEST_DELAY", "duration": 2.5, "on_master": False,
        "on_nodes": ["node1", "node2"], "repeat": 3, "interruptible": True, "no_locks": True,
        "debug_level": 1, "dry_run": True, "priority": -10,
    }


def test_delay_defaults(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(3, [None])
    assert run(gnt_debug.main, "delay", "1")[0] == 0
    assert _without_reason(luxi.submitted()[0]) == {
        "OP_ID": "OP_TEST_DELAY", "duration": 1.0, "on_master": True, "on_nodes": [],
        "repeat": 0, "interruptible": False, "no_locks": False, "debug_level": 0,
        "dry_run": False,
    }


def test_reason_trail(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(3, [None])
    before = time.time_ns()
    run(gnt_debug.main, "delay", "1", "--reason", "maintenance window")
    trail = luxi.submitted()[0]["reason"]
    assert [entry[:2] for entry in trail] == [
        ["gnt:user", "maintenance window"], ["gnt:client:gnt-debug", "delay"]]
    assert all(before <= entry[2] <= time.time_ns() for entry in trail)


def test_submit_prints_job_id_and_does_not_wait(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("SubmitJob", 17)
    code, out, err = run(gnt_debug.main, "delay", "--submit", "1")
    assert (code, out, err) == (0, "", "JobID: 17\n")
    assert luxi.methods() == ["SubmitJob"]


def test_submit_with_print_jobid(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("SubmitJob", 17)
    assert run(gnt_debug.main, "delay", "--submit", "--print-jobid", "1") == (
        0, "17\n", "JobID: 17\n")


def test_waiting_prints_log_messages_with_time(run: Runner, luxi: FakeLuxi) -> None:
    logs = [[1, [TS, 0], "message", "Sleeping on master"],
            [2, [TS + 1, 500000], "message", "Done"]]
    luxi.job(8, [None], logs=logs)
    code, out, err = run(gnt_debug.main, "delay", "--print-jobid", "1")
    assert code == 0
    assert err == ""
    assert out.splitlines() == [
        "8", f"{time.ctime(TS)} Sleeping on master", f"{time.ctime(TS + 1.5)} Done"]
    serials = [args[3] for args in luxi.args_of("WaitForJobChange")]
    assert serials == [None, 2]


def test_queue_notices_are_printed_once(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("SubmitJob", 5)
    luxi.sequence("WaitForJobChange", [["queued"], []], "nochange", "nochange",
                  [["success"], []])
    luxi.on("QueryJobs", [["success", ["success"], [None]]])
    code, _, err = run(gnt_debug.main, "delay", "1")
    assert code == 0
    assert err == "Job 5 is waiting in queue\n"


@pytest.mark.parametrize(
    ("error", "text"),
    [
        pytest.param(["OpPrereqError", ["Node nodeX not found", "unknown_entity"]],
                     "Failure: prerequisites not met for this operation:\n"
                     "error type: unknown_entity, error details:\nNode nodeX not found",
                     id="prereq"),
        pytest.param(["OpExecError", ["Could not sleep"]],
                     "Failure: command execution error:\nCould not sleep", id="exec"),
        pytest.param(["HooksAbort", [[["node1", "10-check", "refused"]]]],
                     "Failure: hooks execution failed:\n"
                     "  node: node1, script: 10-check, output: refused", id="hooks"),
        pytest.param("plain text", "Failure: command execution error:\nplain text",
                     id="not-encoded"),
        pytest.param(["LockError", ["Timeout", "x"]], "Failure: LockError: Timeout; x",
                     id="other-class"),
    ],
)
def test_job_failure_prints_ganeti_failure(
    run: Runner, luxi: FakeLuxi, error: Any, text: str
) -> None:
    luxi.job(9, [error], status="error")
    code, out, err = run(gnt_debug.main, "delay", "1")
    assert code == 1
    assert out == ""
    assert err == text + "\n"


def test_partial_failure(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("SubmitJob", 9)
    luxi.sequence("WaitForJobChange", [["error"], []])
    luxi.on("QueryJobs", [["error", ["success", "error"], [None, "disk gone"]]])
    code, _, err = run(gnt_debug.main, "delay", "1")
    assert code == 1
    assert err == "Failure: command execution error:\npartial failure (opcode 1): disk gone\n"


def test_canceled_job(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(9, [None], status="canceled")
    code, _, err = run(gnt_debug.main, "delay", "1")
    assert (code, err) == (1, "Failure: Job was canceled\n")


def test_lost_job(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("SubmitJob", 9)
    luxi.on("WaitForJobChange", None)
    code, _, err = run(gnt_debug.main, "delay", "1")
    assert (code, err) == (1, "Error checking job status: Job with id 9 lost\n")


def test_remote_error_on_submit(run: Runner, luxi: FakeLuxi) -> None:
    luxi.fail("SubmitJob", "JobQueueDrainError", "drained")
    code, _, err = run(gnt_debug.main, "delay", "1")
    assert code == 1
    assert err == ("Failure: the job queue is marked for drain and doesn't accept new"
                   " requests\n")
