"""gnt-job: list filters, info layout, watch/wait, cancel, archive, priorities."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from corral.cli import gnt_job

if TYPE_CHECKING:
    from tests.unit.cli.conftest import FakeLuxi, Runner

RECEIVED = [1700000000, 100000]
STARTED = [1700000000, 600000]
ENDED = [1700000002, 100000]


def _ts(pair: list[int]) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(pair[0])) + f".{pair[1]:06d}"


def test_list_default_fields_and_status_filter(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("Query", {
        "fields": [{"name": "id", "title": "ID", "kind": "number"},
                   {"name": "status", "title": "Status", "kind": "text"},
                   {"name": "summary", "title": "Summary", "kind": "other"}],
        "data": [[[0, 7], [0, "running"], [0, ["TEST_DELAY(10.0)"]]],
                 [[0, 12], [0, "queued"], [0, ["NODE_ADD(n5)", "TAGS_SET(x)"]]]],
    })
    code, out, _ = run(gnt_job.main, "list", "--pending")
    assert code == 0
    assert out.splitlines() == [
        "ID Status  Summary",
        " 7 running TEST_DELAY(10.0)",
        "12 queued  NODE_ADD(n5),TAGS_SET(x)",
    ]
    what, fields, qfilter = luxi.args_of("Query")[0]
    assert (what, fields) == ("job", ["id", "status", "summary"])
    assert qfilter == ["|", ["==", "status", "canceling"], ["==", "status", "queued"],
                       ["==", "status", "waiting"]]


def test_list_ids_archived_and_status(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("Query", {"fields": [], "data": []})
    run(gnt_job.main, "list", "--archived", "--error", "3", "4")
    _, fields, qfilter = luxi.args_of("Query")[0]
    assert fields == ["id", "status", "summary", "archived"]
    assert qfilter == ["&", ["|", ["==", "id", 3], ["==", "id", 4]],
                       ["|", ["==", "status", "error"]]]


def test_list_bad_job_id(run: Runner, luxi: FakeLuxi) -> None:
    code, _, err = run(gnt_job.main, "list", "seven")
    assert (code, err) == (1, "Invalid job ID passed: 'seven'\n")


def test_info_layout(run: Runner, luxi: FakeLuxi) -> None:
    op = {"OP_ID": "OP_TEST_DELAY", "duration": 1.0, "on_master": True}
    luxi.on("QueryJobs", [[
        5, "success", [op], [None], ["success"],
        [[[1, [1700000001, 0], "message", "Sleeping"]]],
        [STARTED], [STARTED], [ENDED], RECEIVED, STARTED, ENDED,
    ], None])
    code, out, _ = run(gnt_job.main, "info", "5", "6")
    assert code == 0
    assert out.splitlines() == [
        "- Job ID: 5",
        "  Status: success",
        f"  Received:         {_ts(RECEIVED)}",
        f"  Processing start: {_ts(STARTED)} (delta 0.500000s)",
        f"  Processing end:   {_ts(ENDED)} (delta 1.500000s)",
        "  Total processing time: 2.000000 seconds",
        "  Opcodes: ",
        "    - Opcode: OP_TEST_DELAY",
        "      Status: success",
        f"      Processing start: {_ts(STARTED)}",
        f"      Execution start:  {_ts(STARTED)}",
        f"      Processing end:   {_ts(ENDED)}",
        "      Input fields: ",
        "        OP_ID: OP_TEST_DELAY",
        "        duration: 1.0",
        "        on_master: True",
        "      Result: None",
        "      Execution log: ",
        f"        - Time: {_ts([1700000001, 0])}",
        "          Content: [1, message, Sleeping]",
        "- Job ID 6 not found",
    ]
    assert luxi.args_of("QueryJobs")[0][0] == [5, 6]


def test_info_of_queued_job(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryJobs", [[9, "queued", [{"OP_ID": "OP_TEST_DELAY"}], [None], ["queued"], [[]],
                           [None], [None], [None], RECEIVED, None, None]])
    out = run(gnt_job.main, "info", "9")[1].splitlines()
    assert out[3:6] == ["  Processing start: unknown (None)", "  Processing end:   unknown (None)",
                        "  Total processing time: N/A"]
    assert "      Processing start: N/A" in out


def test_watch_success(run: Runner, luxi: FakeLuxi) -> None:
    luxi.sequence("WaitForJobChange", [["running"], [[3, [1700000000, 0], "message", "hi"]]],
                  [["success"], []])
    luxi.on("QueryJobs", [["success", ["success"], [None]]])
    code, out, _ = run(gnt_job.main, "watch", "11")
    assert code == 0
    assert out.splitlines() == ["Output from job 11 follows", "-" * 26,
                                f"{time.ctime(1700000000)} hi"]


def test_watch_and_wait_failure(run: Runner, luxi: FakeLuxi) -> None:
    luxi.sequence("WaitForJobChange", [["error"], []])
    luxi.on("QueryJobs", [["error", ["error"], [["OpExecError", ["no disk"]]]]])
    code, out, err = run(gnt_job.main, "wait", "11")
    assert (code, out) == (1, "")
    assert err == "Job 11 failed: Failure: command execution error:\nno disk\n"
    assert run(gnt_job.main, "watch", "11")[0] == 1


def test_cancel_by_id(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("CancelJob", lambda args: [args[0] == 3, f"Job {args[0]} canceled"])
    code, out, _ = run(gnt_job.main, "cancel", "3", "4")
    assert (code, out) == (1, "Job 3 canceled\nJob 4 canceled\n")
    assert luxi.args_of("CancelJob") == [[3, False], [4, False]]


def test_cancel_kill_needs_confirmation(run: Runner, luxi: FakeLuxi) -> None:
    code, _, err = run(gnt_job.main, "cancel", "--kill", "3")
    assert code == 1
    assert err.endswith("The --kill option must be confirmed with --yes-do-it\n")
    luxi.on("CancelJob", [True, "killed"])
    assert run(gnt_job.main, "cancel", "--kill", "--yes-do-it", "3")[0] == 0
    assert luxi.args_of("CancelJob") == [[3, True]]


def test_cancel_by_status_with_force(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("Query", {"fields": [{"name": "id", "kind": "number"}],
                      "data": [[[0, 8], [0, "queued"], [0, []]]]})
    luxi.on("CancelJob", [True, "Job 8 canceled"])
    code, out, _ = run(gnt_job.main, "cancel", "--queued", "-f")
    assert (code, out) == (0, "Job 8 canceled\n")
    assert luxi.args_of("Query")[0][2] == ["|", ["==", "status", "queued"]]


def test_cancel_needs_ids_or_filter_not_both(run: Runner, luxi: FakeLuxi) -> None:
    assert run(gnt_job.main, "cancel")[0] == 1
    assert run(gnt_job.main, "cancel", "--pending", "3")[0] == 1
    assert luxi.calls == []


def test_archive(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("ArchiveJob", lambda args: args[0] != 2)
    code, out, err = run(gnt_job.main, "archive", "1", "2")
    assert (code, out, err) == (1, "", "Failed to archive job with ID '2'\n")


def test_autoarchive(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("AutoArchiveJobs", [4, 1])
    assert run(gnt_job.main, "autoarchive", "2h") == (0, "Archived 4 jobs, 1 unchecked left\n", "")
    run(gnt_job.main, "autoarchive", "all")
    assert [args[0] for args in luxi.args_of("AutoArchiveJobs")] == [7200, -1]


def test_change_priority(run: Runner, luxi: FakeLuxi) -> None:
    assert run(gnt_job.main, "change-priority", "4") == (
        1, "", "--priority option must be given.\n")
    luxi.on("ChangeJobPriority", [True, "Priority changed"])
    assert run(gnt_job.main, "change-priority", "--priority", "low", "4") == (
        0, "Priority changed\n", "")
    assert luxi.args_of("ChangeJobPriority") == [[4, 10]]
