"""``gnt-debug locks`` and ``submit-job`` against a scripted master."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corral.cli import gnt_debug

if TYPE_CHECKING:
    from tests.unit.cli.conftest import FakeLuxi, Runner

LOCK_FIELDS = [{"name": n, "title": t, "kind": "other" if n != "name" else "text"}
               for n, t in (("name", "Name"), ("mode", "Mode"), ("owner", "Owner"),
                            ("pending", "Pending"))]


def _cell(value: Any) -> list[Any]:
    return [0, value]


def test_locks_format_like_ganeti(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("Query", {"fields": LOCK_FIELDS, "data": [
        [_cell("cluster/BGL"), _cell("shared"), _cell(["job/7", "job/8"]),
         _cell([["exclusive", ["job/9"]], ["shared", ["job/10", "job/11"]]])],
        [_cell("node/node1"), _cell(None), _cell(None), _cell([])],
    ]})
    code, out, _ = run(gnt_debug.main, "locks", "--separator=|")
    assert code == 0
    assert out.splitlines() == [
        "Name|Mode|Owner|Pending",
        "cluster/BGL|shared|job/7,job/8|exclusive:job/9, shared:job/10,job/11",
        "node/node1|-|-|-",
    ]
    assert luxi.args_of("Query")[0] == ["lock", ["name", "mode", "owner", "pending"], None]


def test_submit_job_from_files(run: Runner, luxi: FakeLuxi, tmp_path: Path) -> None:
    ops = tmp_path / "ops.json"
    ops.write_text(json.dumps([{"OP_ID": "OP_TEST_DELAY", "duration": 1}]))
    luxi.on("SubmitManyJobs", [[True, 4], [True, 5]])
    luxi.on("WaitForJobChange", [["success"], []])
    luxi.on("QueryJobs", [["success", ["success", "success"], [None, None]]])
    code, out, err = run(gnt_debug.main, "submit-job", "--op-repeat", "2", "--job-repeat", "2",
                         str(ops))
    assert (code, err) == (0, "")
    assert out.splitlines() == [f"Waiting for job 4 for file {ops}/0 ...",
                                f"Waiting for job 5 for file {ops}/1 ..."]
    (jobs,) = luxi.args_of("SubmitManyJobs")[0:1]
    assert [[op["OP_ID"] for op in job] for job in jobs[0]] == [["OP_TEST_DELAY"] * 2] * 2


def test_submit_job_refuses_bad_files(run: Runner, luxi: FakeLuxi, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"OP_ID": "OP_TEST_DELAY"}')
    code, _, err = run(gnt_debug.main, "submit-job", str(bad))
    assert code == 1
    assert "must hold a list of opcodes" in err
    code, _, err = run(gnt_debug.main, "submit-job", str(tmp_path / "missing.json"))
    assert code == 1
    assert "Cannot read" in err
    assert luxi.calls == []


def test_submit_job_reports_refused_jobs(run: Runner, luxi: FakeLuxi, tmp_path: Path) -> None:
    ops = tmp_path / "ops.json"
    ops.write_text(json.dumps([{"OP_ID": "OP_TEST_DELAY", "duration": 1}]))
    luxi.on("SubmitManyJobs", [[False, "queue full"]])
    code, out, err = run(gnt_debug.main, "submit-job", "-v", str(ops))
    assert (code, out) == (1, "")
    assert err == f"Failed to submit job for file {ops}/0: queue full\n"
