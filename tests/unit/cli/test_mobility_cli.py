"""gnt-instance migrate/failover/move/change-group, gnt-node migrate/evacuate/failover and
gnt-group evacuate: the opcodes built from the command line, questions, output, exit codes."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from corral.cli import gnt_group, gnt_instance, gnt_node, instance_mobility, node_mobility
from corral.cli.commands import build_parser
from corral.opcodes import decode_opcode

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tests.unit.cli.conftest import FakeLuxi, Runner

GENERIC = ("reason", "debug_level")
CLI_TSV = Path("/work/shared/reference/cli.tsv")
PREREQ = "Failure: prerequisites not met for this operation:\nerror type: wrong_input, error" \
    " details:\n"


class Jobs:
    """Scripted jobs by id: SubmitJob hands out ids in order; each job has logs and an end."""

    def __init__(self, luxi: FakeLuxi) -> None:
        self.luxi = luxi
        self.ends: dict[int, tuple[str, Any]] = {}
        self.logs: dict[int, list[list[Any]]] = {}
        self.submit_ids: list[int] = []
        luxi.on("SubmitJob", lambda _args: self.submit_ids.pop(0))
        luxi.on("WaitForJobChange", self._change)
        luxi.on("QueryJobs", self._query)

    def add(self, job_id: int, result: Any = None, *, error: list[Any] | None = None,
            logs: Sequence[str] = (), submit: bool = False) -> None:
        self.ends[job_id] = ("error", error) if error else ("success", result)
        self.logs[job_id] = [[n + 1, [1700000000 + n, 0], "message", text]
                             for n, text in enumerate(logs)]
        if submit:
            self.submit_ids.append(job_id)

    def _change(self, args: list[Any]) -> Any:
        job_id, _fields, _info, serial = args[:4]
        logs = [e for e in self.logs[job_id] if serial is None or e[0] > serial][:1]
        status = "running" if logs else self.ends[job_id][0]
        return [[status], logs]

    def _query(self, args: list[Any]) -> Any:
        status, value = self.ends[args[0][0]]
        return [[status, [status], [value]]]


def sent(luxi: FakeLuxi) -> list[dict[str, Any]]:
    """Every opcode submitted (SubmitJob and SubmitManyJobs), validated, without generics."""
    ops = [op for args in luxi.args_of("SubmitJob") for op in args[0]]
    ops += [job[0] for args in luxi.args_of("SubmitManyJobs") for job in args[0]]
    for op in ops:
        decode_opcode(op)
    return [{k: v for k, v in op.items() if k not in GENERIC} for op in ops]


@pytest.fixture
def jobs(luxi: FakeLuxi) -> Jobs:
    return Jobs(luxi)


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Callable[[bool], list[str]]:
    """``answers(yes)``: every question is answered ``yes``; returns the questions asked."""

    def install(yes: bool) -> list[str]:
        asked: list[str] = []

        def ask(question: str) -> bool:
            asked.append(question)
            return yes

        for module in (instance_mobility, node_mobility):
            monkeypatch.setattr(module, "ask_user", ask)
        return asked

    return install


MIGRATE_DEFAULTS = {"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": "inst1", "cleanup": False,
                    "allow_failover": False, "allow_runtime_changes": True,
                    "ignore_ipolicy": False, "ignore_hvversions": False, "dry_run": False}


# --- gnt-instance migrate ------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "fields"), [
    ((), {}),
    (("--migration-mode=live",), {"mode": "live"}),
    (("--non-live", "--cleanup", "-n", "node2", "--allow-failover", "--ignore-ipolicy",
      "--ignore-hvversions", "--no-runtime-changes", "--dry-run"),
     {"mode": "non-live", "cleanup": True, "target_node": "node2", "allow_failover": True,
      "ignore_ipolicy": True, "ignore_hvversions": True, "allow_runtime_changes": False,
      "dry_run": True}),
    (("--migration-mode", "non-live", "-I", "hail"), {"mode": "non-live", "iallocator": "hail"}),
], ids=["defaults", "mode-live", "every-option", "iallocator"])
def test_migrate_opcode(run: Runner, luxi: FakeLuxi, jobs: Jobs, argv: tuple[str, ...],
                        fields: dict[str, Any]) -> None:
    jobs.add(7, submit=True)
    code, out, err = run(gnt_instance.main, "migrate", "-f", *argv, "inst1")
    assert (code, out, err) == (0, "", "")
    assert sent(luxi) == [{**MIGRATE_DEFAULTS, **fields}]
    assert "QueryInstances" not in luxi.methods()  # -f: no existence check, no question


def test_migrate_priority_and_reason_trail(run: Runner, luxi: FakeLuxi, jobs: Jobs) -> None:
    jobs.add(7, submit=True)
    assert run(gnt_instance.main, "migrate", "-f", "--priority", "high", "inst1")[0] == 0
    (op,) = [op for args in luxi.args_of("SubmitJob") for op in args[0]]
    assert op["priority"] == -10
    assert op["reason"][-1][:2] == ["gnt:client:gnt-instance", "migrate"]


def test_migrate_prints_progress_while_the_job_runs(run: Runner, luxi: FakeLuxi, jobs: Jobs,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    progress = ["* memory transfer progress: 10.0 %", "* memory transfer progress: 55.0 %",
                "* memory transfer progress: 100.0 %"]
    jobs.add(7, logs=["Migrating instance inst1", *progress], submit=True)
    seen_before_end: list[str] = []
    change = luxi.script["WaitForJobChange"]

    def watch(args: list[Any]) -> Any:
        if args[3] == 3:  # the third line was delivered: it must be on the terminal already
            seen_before_end.append(capsys.readouterr().out)
        return change(args)

    luxi.on("WaitForJobChange", watch)
    code, out, _ = run(gnt_instance.main, "migrate", "-f", "inst1")
    assert code == 0
    earlier = seen_before_end[0].splitlines()
    assert [line.split(" ", 5)[5] for line in earlier] == [
        "Migrating instance inst1", *progress[:2]]
    assert out.splitlines()[0].endswith(progress[2])


def test_migrate_submit_only(run: Runner, luxi: FakeLuxi, jobs: Jobs) -> None:
    jobs.add(9, submit=True)
    code, out, err = run(gnt_instance.main, "migrate", "-f", "--submit", "--print-jobid",
                         "inst1")
    assert (code, out, err) == (0, "9\n", "JobID: 9\n")
    assert "WaitForJobChange" not in luxi.methods()


@pytest.mark.parametrize(("argv", "message"), [
    (("--non-live", "--migration-mode=live"),
     "Only one of the --non-live and --migration-mode options can be passed"),
    (("-n", "node2", "-I", "hail"),
     "Specify either an iallocator (-I), or a target node (-n) but not both"),
], ids=["non-live-and-mode", "node-and-iallocator"])
def test_migrate_conflicting_options(run: Runner, luxi: FakeLuxi, argv: tuple[str, ...],
                                     message: str) -> None:
    code, out, err = run(gnt_instance.main, "migrate", "-f", *argv, "inst1")
    assert (code, out, err) == (1, "", f"{PREREQ}{message}\n")
    assert luxi.calls == []


def test_migrate_mode_must_be_known(run: Runner, luxi: FakeLuxi) -> None:
    code, _, err = run(gnt_instance.main, "migrate", "--migration-mode=fast", "inst1")
    assert code == 1
    assert "invalid choice: 'fast'" in err


@pytest.mark.parametrize(("argv", "question"), [
    ((), "Instance inst1.example.com will be migrated. Note that migration might impact the"
         " instance if anything goes wrong (e.g. due to bugs in the hypervisor). Continue?"),
    (("--cleanup",), "Instance inst1.example.com will be recovered from a failed migration."
                     " Note that the migration procedure (including cleanup) might impact the"
                     " instance if anything goes wrong (e.g. due to bugs in the hypervisor)."
                     " Continue?"),
], ids=["migrate", "cleanup"])
def test_migrate_asks_first(run: Runner, luxi: FakeLuxi, jobs: Jobs,
                            answers: Callable[[bool], list[str]], argv: tuple[str, ...],
                            question: str) -> None:
    luxi.on("QueryInstances", [["inst1.example.com"]])
    asked = answers(False)
    assert run(gnt_instance.main, "migrate", *argv, "inst1.example.com") == (1, "", "")
    assert asked == [question]
    assert luxi.args_of("QueryInstances") == [[["inst1.example.com"], ["name"], False]]
    assert sent(luxi) == []
    asked = answers(True)
    jobs.add(3, submit=True)
    assert run(gnt_instance.main, "migrate", *argv, "inst1.example.com")[0] == 0
    assert sent(luxi)[0]["cleanup"] == bool(argv)


def test_migrate_without_terminal_declines(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryInstances", [["inst1"]])
    code, out, err = run(gnt_instance.main, "migrate", "inst1")
    assert (code, out) == (1, "")
    assert "will be migrated" in err
    assert "use --force" in err


def test_migrate_unknown_instance(run: Runner, luxi: FakeLuxi) -> None:
    luxi.fail("QueryInstances", "OpPrereqError", "Instance 'nope' not known", "unknown_entity")
    code, out, err = run(gnt_instance.main, "migrate", "nope")
    assert (code, out) == (1, "")
    assert err == ("Failure: prerequisites not met for this operation:\nerror type:"
                   " unknown_entity, error details:\nInstance 'nope' not known\n")


def test_migrate_failed_job(run: Runner, luxi: FakeLuxi, jobs: Jobs) -> None:
    jobs.add(4, error=["OpPrereqError", ["Instance's disk layout 'diskless' does not allow"
                                         " migrations", "wrong_input"]], submit=True)
    code, out, err = run(gnt_instance.main, "migrate", "-f", "inst1")
    assert (code, out) == (1, "")
    assert err == (f"{PREREQ}Instance's disk layout 'diskless' does not allow migrations\n")


# --- gnt-instance failover and move --------------------------------------------------------

FAILOVER_DEFAULTS = {"OP_ID": "OP_INSTANCE_FAILOVER", "instance_name": "inst1",
                     "ignore_consistency": False, "shutdown_timeout": 120,
                     "ignore_ipolicy": False, "cleanup": False, "dry_run": False}


@pytest.mark.parametrize(("argv", "fields"), [
    ((), {}),
    (("--ignore-consistency", "--shutdown-timeout", "5", "-n", "node3", "--ignore-ipolicy",
      "--cleanup"),
     {"ignore_consistency": True, "shutdown_timeout": 5, "target_node": "node3",
      "ignore_ipolicy": True, "cleanup": True}),
    (("-I", "hail", "--dry-run"), {"iallocator": "hail", "dry_run": True}),
], ids=["defaults", "every-option", "iallocator"])
def test_failover_opcode(run: Runner, luxi: FakeLuxi, jobs: Jobs, argv: tuple[str, ...],
                         fields: dict[str, Any]) -> None:
    jobs.add(5, submit=True)
    assert run(gnt_instance.main, "failover", "-f", *argv, "inst1") == (0, "", "")
    assert sent(luxi) == [{**FAILOVER_DEFAULTS, **fields}]


def test_failover_questions(run: Runner, luxi: FakeLuxi, jobs: Jobs,
                            answers: Callable[[bool], list[str]]) -> None:
    luxi.on("QueryInstances", [["inst1"]])
    jobs.add(5, submit=True)
    asked = answers(True)
    assert run(gnt_instance.main, "failover", "--ignore-consistency", "inst1")[0] == 0
    assert asked == [
        "Failover will happen to image inst1. This requires a shutdown of the instance."
        " Continue?",
        "To failover instance inst1, the source node must be marked offline first. Is this"
        " already the case?"]
    asked = answers(False)
    assert run(gnt_instance.main, "failover", "inst1")[0] == 1
    assert len(sent(luxi)) == 1


def test_failover_node_and_iallocator(run: Runner, luxi: FakeLuxi) -> None:
    code, _, err = run(gnt_instance.main, "failover", "-f", "-n", "n2", "-I", "hail", "inst1")
    assert (code, err) == (1, f"{PREREQ}Specify either an iallocator (-I), or a target node"
                              " (-n) but not both\n")


def test_move_opcode(run: Runner, luxi: FakeLuxi, jobs: Jobs) -> None:
    jobs.add(6, submit=True)
    assert run(gnt_instance.main, "move", "-f", "-n", "node2", "inst1") == (0, "", "")
    jobs.add(7, submit=True)
    assert run(gnt_instance.main, "move", "-f", "--node=node3", "--compress", "gzip",
               "--shutdown-timeout", "10", "--ignore-consistency", "--ignore-ipolicy",
               "--dry-run", "inst1")[0] == 0
    base = {"OP_ID": "OP_INSTANCE_MOVE", "instance_name": "inst1", "target_node": "node2",
            "compress": "none", "shutdown_timeout": 120, "ignore_consistency": False,
            "ignore_ipolicy": False, "dry_run": False}
    assert sent(luxi) == [base, {**base, "target_node": "node3", "compress": "gzip",
                                 "shutdown_timeout": 10, "ignore_consistency": True,
                                 "ignore_ipolicy": True, "dry_run": True}]


def test_move_needs_a_node_and_asks(run: Runner, luxi: FakeLuxi,
                                    answers: Callable[[bool], list[str]]) -> None:
    code, _, err = run(gnt_instance.main, "move", "-f", "inst1")
    assert (code, err) == (1, f"{PREREQ}A target node must be given (-n/--node)\n")
    asked = answers(False)
    assert run(gnt_instance.main, "move", "-n", "node2", "inst1")[0] == 1
    assert asked == ["Instance inst1 will be moved. This requires a shutdown of the instance."
                     " Continue?"]
    assert luxi.calls == []


# --- gnt-instance change-group and gnt-group evacuate --------------------------------------

def test_change_group_follows_the_jobs(run: Runner, luxi: FakeLuxi, jobs: Jobs) -> None:
    jobs.add(20, {"jobs": [[True, 21], [True, 22]]}, submit=True)
    jobs.add(21, logs=["* moving"])
    jobs.add(22)
    code, out, err = run(gnt_instance.main, "change-group", "--to", "g2", "--to", "g3",
                         "-I", "hail", "--early-release", "inst1")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:2] == ["Submitted jobs 21, 22", "Waiting for job 21 ..."]
    assert lines[2].endswith(" * moving")
    assert lines[3:] == ["Waiting for job 22 ...",
                         "Instance 'inst1' changed group successfully."]
    assert sent(luxi) == [{"OP_ID": "OP_INSTANCE_CHANGE_GROUP", "instance_name": "inst1",
                           "iallocator": "hail", "target_groups": ["g2", "g3"],
                           "early_release": True}]


def test_change_group_counts_failures(run: Runner, luxi: FakeLuxi, jobs: Jobs) -> None:
    jobs.add(20, {"jobs": [[True, 21], [False, "queue full"]]}, submit=True)
    jobs.add(21, error=["OpExecError", ["no space"]])
    code, out, err = run(gnt_instance.main, "change-group", "inst1")
    assert code == 1
    assert out.splitlines() == [
        "Submitted jobs 21", "Waiting for job 21 ...",
        "There were 2 errors while changing group of instance 'inst1'."]
    assert err.splitlines() == ["Failed to submit job: queue full",
                                "Job 21 has failed: Failure: command execution error:",
                                "no space"]
    assert "target_groups" not in sent(luxi)[0]


def test_change_group_submit_only(run: Runner, luxi: FakeLuxi, jobs: Jobs) -> None:
    jobs.add(30, submit=True)
    assert run(gnt_instance.main, "change-group", "--submit", "inst1") == (0, "",
                                                                          "JobID: 30\n")


def test_group_evacuate(run: Runner, luxi: FakeLuxi, jobs: Jobs) -> None:
    jobs.add(40, {"jobs": [[True, 41]]}, submit=True)
    jobs.add(41)
    code, out, err = run(gnt_group.main, "evacuate", "--to", "other", "-I", "hail",
                         "--early-release", "--sequential", "--force-failover", "rack1")
    assert (code, err) == (0, "")
    assert out.splitlines() == ["Submitted jobs 41", "Waiting for job 41 ...",
                                "All instances evacuated successfully."]
    assert sent(luxi) == [{"OP_ID": "OP_GROUP_EVACUATE", "group_name": "rack1",
                           "iallocator": "hail", "target_groups": ["other"],
                           "early_release": True, "sequential": True,
                           "force_failover": True}]
    jobs.add(42, {"jobs": [[True, 43]]}, submit=True)
    jobs.add(43, error=["OpExecError", ["boom"]])
    code, out, _ = run(gnt_group.main, "evacuate", "rack1")
    assert code == 1
    assert out.splitlines()[-1] == "There were 1 errors during the evacuation."


# --- gnt-node migrate ----------------------------------------------------------------------

def _node(luxi: FakeLuxi, pinst: list[str], sinst: list[str] | None = None) -> None:
    columns = {"name": "node1.example.com", "pinst_list": pinst, "sinst_list": sinst or []}
    luxi.on("QueryNodes", lambda args: [[columns[f] for f in args[1]]])


def test_node_migrate(run: Runner, luxi: FakeLuxi, jobs: Jobs) -> None:
    _node(luxi, ["inst10", "inst2"])
    jobs.add(50, {"jobs": [[True, 51], [True, 52]]}, submit=True)
    jobs.add(51, logs=["Migrating instance inst2"])
    jobs.add(52)
    code, out, err = run(gnt_node.main, "migrate", "-f", "--non-live", "-n", "node2",
                         "--no-runtime-changes", "--ignore-ipolicy", "node1")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:2] == ["Submitted jobs 51, 52", "Waiting for job 51 ..."]
    assert lines[3:] == ["Waiting for job 52 ...", "All instances migrated successfully."]
    assert luxi.args_of("QueryNodes") == [[["node1"], ["name", "pinst_list"], False]]
    assert sent(luxi) == [{"OP_ID": "OP_NODE_MIGRATE", "node_name": "node1",
                           "mode": "non-live", "target_node": "node2",
                           "allow_runtime_changes": False, "ignore_ipolicy": True}]


def test_node_migrate_questions_and_empty_node(run: Runner, luxi: FakeLuxi,
                                               answers: Callable[[bool], list[str]]) -> None:
    _node(luxi, ["inst10", "inst2", "inst1"])
    asked = answers(False)
    assert run(gnt_node.main, "migrate", "node1") == (13, "", "")
    assert asked == ["Migrate instance(s) inst1, inst2, inst10?"]
    _node(luxi, [])
    assert run(gnt_node.main, "migrate", "node1") == (
        0, "No primary instances on node node1.example.com, exiting.\n", "")
    assert sent(luxi) == []


def test_node_migrate_failures(run: Runner, luxi: FakeLuxi, jobs: Jobs) -> None:
    _node(luxi, ["inst1"])
    jobs.add(50, {"jobs": [[True, 51]]}, submit=True)
    jobs.add(51, error=["OpExecError", ["Could not migrate"]])
    code, out, err = run(gnt_node.main, "migrate", "-f", "node1")
    assert code == 1
    assert out.splitlines()[-1] == "There were 1 errors during the node migration."
    assert "Job 51 has failed: Failure: command execution error:\nCould not migrate" in err


def test_node_migrate_drain_first(run: Runner, luxi: FakeLuxi, jobs: Jobs) -> None:
    _node(luxi, ["inst1"])
    jobs.add(60, [], submit=True)
    jobs.add(61, {"jobs": [[True, 62]]}, submit=True)
    jobs.add(62)
    code, out, _ = run(gnt_node.main, "migrate", "-f", "--drain", "node1")
    assert code == 0
    assert out.splitlines()[0] == "Node node1 is now drained"
    assert [op["OP_ID"] for op in sent(luxi)] == ["OP_NODE_SET_PARAMS", "OP_NODE_MIGRATE"]
    assert sent(luxi)[0] == {"OP_ID": "OP_NODE_SET_PARAMS", "node_name": "node1",
                             "drained": True, "auto_promote": True, "force": False}


def test_node_migrate_drains_an_empty_node_too(run: Runner, luxi: FakeLuxi,
                                               jobs: Jobs) -> None:
    _node(luxi, [])
    jobs.add(60, [], submit=True)
    code, out, _ = run(gnt_node.main, "migrate", "--drain", "node1")
    assert (code, out.splitlines()[-1]) == (
        0, "No primary instances on node node1.example.com, exiting.")
    assert [op["OP_ID"] for op in sent(luxi)] == ["OP_NODE_SET_PARAMS"]


def test_node_migrate_declined_drain_does_nothing(run: Runner, luxi: FakeLuxi,
                                                  answers: Callable[[bool], list[str]]) -> None:
    _node(luxi, ["inst1"])
    answers(False)
    assert run(gnt_node.main, "migrate", "--drain", "node1")[0] == 13
    assert sent(luxi) == []


# --- gnt-node evacuate ---------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "mode", "fields", "extra"), [
    ((), "all", ["pinst_list", "sinst_list"], {}),
    (("-p", "-I", "hail"), "primary-only", ["pinst_list"], {"iallocator": "hail"}),
    (("--secondary-only", "--early-release", "--ignore-soft-errors"), "secondary-only",
     ["sinst_list"], {"early_release": True, "ignore_soft_errors": True}),
    (("-n", "node3"), "secondary-only", ["sinst_list"], {"remote_node": "node3"}),
], ids=["all", "primary", "secondary", "new-secondary"])
def test_node_evacuate(run: Runner, luxi: FakeLuxi, jobs: Jobs, argv: tuple[str, ...],
                       mode: str, fields: list[str], extra: dict[str, Any]) -> None:
    _node(luxi, ["inst1"], ["inst2"])
    jobs.add(70, {"jobs": [[True, 71]]}, submit=True)
    jobs.add(71)
    code, out, err = run(gnt_node.main, "evacuate", "-f", *argv, "node1")
    assert code == 0
    assert out.splitlines()[-1] == "All instances evacuated successfully."
    if "-n" in argv:
        assert err == ("New secondary node given (disabling iallocator), hence evacuating"
                       " secondary instances only.\n")
    assert luxi.args_of("QueryNodes") == [[["node1"], fields, False]]
    assert sent(luxi) == [{"OP_ID": "OP_NODE_EVACUATE", "node_name": "node1", "mode": mode,
                           "early_release": False, "ignore_soft_errors": False, **extra}]


def test_node_evacuate_question_and_conflicts(run: Runner, luxi: FakeLuxi,
                                              answers: Callable[[bool], list[str]]) -> None:
    _node(luxi, ["inst2", "inst1"], ["inst3"])
    asked = answers(False)
    assert run(gnt_node.main, "evacuate", "node1")[0] == 13
    assert asked == ["Relocate instance(s) inst1, inst2, inst3 from node(s) node1?"]
    code, _, err = run(gnt_node.main, "evacuate", "-p", "-s", "node1")
    assert (code, err) == (1, f"{PREREQ}Only one of the --primary-only and --secondary-only"
                              " options can be passed\n")
    _node(luxi, [], [])
    assert run(gnt_node.main, "evacuate", "node1") == (
        0, "", "No instances to evacuate on node(s) node1, exiting.\n")
    assert sent(luxi) == []


# --- gnt-node failover ---------------------------------------------------------------------

def test_node_failover(run: Runner, luxi: FakeLuxi, jobs: Jobs) -> None:
    _node(luxi, ["inst10", "inst2"])
    luxi.on("SubmitManyJobs", [[True, 81], [True, 82]])
    jobs.add(81)
    jobs.add(82)
    code, out, err = run(gnt_node.main, "failover", "-f", "--ignore-consistency",
                         "--priority=low", "node1")
    assert (code, err) == (0, "")
    assert out.splitlines() == ["Submitted jobs 81, 82", "Waiting for job 81 for inst2 ...",
                                "Waiting for job 82 for inst10 ...",
                                "All 2 instance(s) failed over successfully."]
    assert sent(luxi) == [
        {"OP_ID": "OP_INSTANCE_FAILOVER", "instance_name": name, "ignore_consistency": True,
         "priority": 10} for name in ("inst2", "inst10")]


def test_node_failover_errors_and_question(run: Runner, luxi: FakeLuxi, jobs: Jobs,
                                           answers: Callable[[bool], list[str]]) -> None:
    _node(luxi, ["inst1", "inst2"])
    asked = answers(False)
    assert run(gnt_node.main, "failover", "node1")[0] == 2
    assert asked == ["Fail over instance(s) 'inst1','inst2'?"]
    luxi.on("SubmitManyJobs", [[True, 81], [False, "queue full"]])
    jobs.add(81, error=["OpExecError", ["boom"]])
    code, out, err = run(gnt_node.main, "failover", "-f", "-I", "hail", "node1")
    assert code == 1
    assert out.splitlines()[-2:] == ["There were errors during the failover:",
                                     "2 error(s) out of 2 instance(s)."]
    assert err.splitlines()[0] == "Failed to submit job for inst2: queue full"
    assert "Job 81 for inst1 has failed: " in err
    _node(luxi, [])
    assert run(gnt_node.main, "failover", "node1") == (
        0, "", "No primary instances on node node1.example.com, exiting.\n")


def test_node_failover_drain(run: Runner, luxi: FakeLuxi, jobs: Jobs) -> None:
    _node(luxi, ["inst1"])
    jobs.add(90, [], submit=True)
    luxi.on("SubmitManyJobs", [[True, 91]])
    jobs.add(91)
    assert run(gnt_node.main, "failover", "-f", "--drain", "node1")[0] == 0
    assert [op["OP_ID"] for op in sent(luxi)] == ["OP_NODE_SET_PARAMS", "OP_INSTANCE_FAILOVER"]


# --- the options of Ganeti's reference -----------------------------------------------------

MOBILITY = {("gnt-instance", "migrate"), ("gnt-instance", "failover"),
            ("gnt-instance", "move"), ("gnt-instance", "change-group"),
            ("gnt-node", "migrate"), ("gnt-node", "evacuate"), ("gnt-node", "failover"),
            ("gnt-group", "evacuate")}
TOOLS = {"gnt-instance": gnt_instance.COMMANDS, "gnt-node": gnt_node.COMMANDS,
         "gnt-group": gnt_group.COMMANDS}


def _reference() -> list[tuple[str, str, list[str]]]:
    with CLI_TSV.open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [(r["command"], r["subcommand"], r["all_options"].split()) for r in rows
            if (r["command"], r["subcommand"]) in MOBILITY]


@pytest.mark.skipif(not CLI_TSV.is_file(), reason="Ganeti's option reference is not here")
def test_every_ganeti_option_is_accepted() -> None:
    reference = _reference()
    assert {(tool, sub) for tool, sub, _ in reference} == MOBILITY
    for tool, sub, options in reference:
        parser = build_parser(tool, sub, TOOLS[tool][sub])
        known = {flag for action in parser._actions for flag in action.option_strings}
        wanted = {flag for option in options for flag in option.split("|")}
        assert wanted <= known, (tool, sub, sorted(wanted - known))
