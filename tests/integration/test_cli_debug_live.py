"""Corral's ``gnt-cluster verify-disks``/``activate-master-ip``/``deactivate-master-ip`` and
``gnt-debug locks``/``submit-job``/``test-jobqueue``, beside Ganeti's own commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.integration.conftest import LiveCluster
from tests.integration.ganeti_cli import GanetiCli


def _without_job_ids(text: str) -> str:
    return re.sub(r"\b(jobs?) \d+(, \d+)*", r"\1 N", text)


def test_verify_disks_prints_as_ganeti(live: LiveCluster, ganeti: GanetiCli) -> None:
    ours = live.gnt("gnt-cluster", "verify-disks")
    theirs = ganeti.run("gnt-cluster", "verify-disks")
    assert ours.code == theirs.code == 0, ours.stderr + theirs.stderr
    assert _without_job_ids(ours.stdout) == _without_job_ids(theirs.stdout) == (
        "Submitted jobs N\nWaiting for job N ...\nNo disks need to be activated.\n")
    grouped = live.gnt("gnt-cluster", "verify-disks", "-g", "default", "--no-strict")
    assert grouped.code == 0, grouped.stderr
    missing = live.gnt("gnt-cluster", "verify-disks", "-g", "no-such-group")
    assert missing.code == 1
    assert "Traceback" not in missing.stderr
    assert "no-such-group" in missing.stderr


def test_master_ip_commands(live: LiveCluster, ganeti: GanetiCli) -> None:
    refused = live.gnt("gnt-cluster", "deactivate-master-ip")  # no terminal: no
    assert refused.code == 1
    for tool in ("ours", "theirs"):
        run = live.gnt if tool == "ours" else ganeti.run
        down = run("gnt-cluster", "deactivate-master-ip", "--yes")
        up = run("gnt-cluster", "activate-master-ip")
        assert (down.code, up.code) == (0, 0), (tool, down, up)
        assert "Traceback" not in down.stderr + up.stderr


def test_locks(live: LiveCluster, ganeti: GanetiCli) -> None:
    ours = live.gnt("gnt-debug", "locks")
    assert ours.code == 0, ours.stderr
    assert ours.stdout.splitlines()[0].split() == ["Name", "Mode", "Owner", "Pending"]
    assert re.search(r"^cluster/BGL +- +- +-$", ours.stdout, re.M)
    node = live.gnt("gnt-debug", "locks", "--no-headers", "--separator=|", "-o", "name,mode")
    theirs = ganeti.run("gnt-debug", "locks", "--no-headers", "--separator=|", "-o",
                        "name,mode")
    assert node.code == theirs.code == 0
    assert "node/node1|-" in node.stdout.splitlines()
    assert "node/node1|-" in theirs.stdout.splitlines()


def test_submit_job(live: LiveCluster, ganeti: GanetiCli, tmp_path: Path) -> None:
    ops = tmp_path / "ops.json"
    ops.write_text(json.dumps([{"OP_ID": "OP_TEST_DELAY", "duration": 0.01}]))
    for run in (live.gnt, ganeti.run):
        result = run("gnt-debug", "submit-job", "--op-repeat", "2", "--job-repeat", "2",
                     str(ops))
        assert result.code == 0, result.stderr
        lines = result.stdout.splitlines()
        assert [re.sub(r"job \d+", "job N", line) for line in lines] == [
            f"Waiting for job N for file {ops}/0 ...", f"Waiting for job N for file {ops}/1 ..."]
    verbose = live.gnt("gnt-debug", "submit-job", "-v", "--each", "--timing-stats", str(ops))
    assert verbose.code == 0, verbose.stderr
    assert verbose.stdout.splitlines()[:3] == ["Loading...", "Submitting...", "Executing..."]
    assert re.search(r"^Submitted jobs \d+$", verbose.stdout, re.M)
    assert re.search(r"^C:op        1$", verbose.stdout, re.M)
    bad = tmp_path / "bad.json"
    bad.write_text('{"OP_ID": "OP_TEST_DELAY"}')
    refused = live.gnt("gnt-debug", "submit-job", str(bad))
    assert refused.code == 1
    assert "must hold a list of opcodes" in refused.stderr
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps([{"OP_ID": "OP_NO_SUCH_THING"}]))
    failed = live.gnt("gnt-debug", "submit-job", str(wrong))
    assert failed.code == 1
    assert "Traceback" not in failed.stderr


def test_test_jobqueue(live: LiveCluster) -> None:
    result = live.gnt("gnt-debug", "test-jobqueue", timeout=300)
    assert result.code == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for expected in ("Testing job submission", "Job submission tests were successful",
                     "Testing job dependencies", "Job dependency tests were successful",
                     "Testing job success", "Testing multiple successful opcodes",
                     "Testing job failure", "Testing partial job failure",
                     "Job queue test successful"):
        assert expected in lines
    assert lines[-1] == "Job queue test successful"


def test_ganeti_test_jobqueue_passes_submission_and_dependencies(ganeti: GanetiCli) -> None:
    """Ganeti's own test: SubmitManyJobs with one undecodable job is refused as a whole,
    relative dependencies resolve and order the jobs (its later opcode checks need
    OpTestJqueue's notification sockets, which Corral does not implement)."""
    result = ganeti.run("gnt-debug", "test-jobqueue", timeout=300)
    assert "Traceback" not in result.output
    lines = result.stdout.splitlines()
    assert lines[:3] == ["Testing job submission", "Job submission tests were successful",
                         "Testing job dependencies"]
    assert "Job dependency tests were successful" in lines
