"""gnt-instance startup, shutdown, reboot and reinstall: selection, one job per instance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from corral.cli import gnt_instance
from corral.opcodes import decode_opcode

if TYPE_CHECKING:
    from tests.unit.cli.conftest import FakeLuxi, Runner


def _jobs(luxi: FakeLuxi, *job_ids: int, status: str = "success", result: Any = None) -> None:
    """Script SubmitManyJobs → the ids, then every job ends with ``status``."""
    luxi.on("SubmitManyJobs", [[True, job_id] for job_id in job_ids])
    luxi.on("WaitForJobChange", [[status], []])
    luxi.on("QueryJobs", [[status, [status], [result]]])


def _sent(luxi: FakeLuxi) -> list[dict[str, Any]]:
    """Every opcode of every SubmitManyJobs (one per job), checked, without generics."""
    ops = [job[0] for args in luxi.args_of("SubmitManyJobs") for job in args[0]]
    for op in ops:
        decode_opcode(op)
    return [{k: v for k, v in op.items() if k not in ("reason", "debug_level")} for op in ops]


def test_startup_one_instance(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryInstances", [["inst1.example.com"]])
    _jobs(luxi, 11)
    code, out, err = run(gnt_instance.main, "startup", "inst1")
    assert (code, out, err) == (0, "Waiting for job 11 for inst1.example.com ...\n", "")
    assert luxi.args_of("QueryInstances") == [[["inst1"], ["name"], False]]
    assert _sent(luxi) == [{"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": "inst1.example.com",
                            "force": False, "ignore_offline_nodes": False, "no_remember": False,
                            "startup_paused": False, "dry_run": False}]


def test_startup_one_off_parameters(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryInstances", [["inst1"]])
    _jobs(luxi, 11)
    code, _, _ = run(gnt_instance.main, "start", "--paused", "-f", "--no-remember",
                     "--ignore-offline", "-H", "kernel_args=single", "-B", "maxmem=1G",
                     "inst1")
    assert code == 0
    assert _sent(luxi) == [{"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": "inst1",
                            "force": True, "ignore_offline_nodes": True, "no_remember": True,
                            "startup_paused": True, "hvparams": {"kernel_args": "single"},
                            "beparams": {"maxmem": 1024}, "dry_run": False}]


def test_shutdown(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryInstances", [["inst1"]])
    _jobs(luxi, 12)
    assert run(gnt_instance.main, "stop", "--timeout", "30", "--no-remember", "inst1")[0] == 0
    assert _sent(luxi) == [{"OP_ID": "OP_INSTANCE_SHUTDOWN", "instance_name": "inst1",
                            "force": False, "timeout": 30, "ignore_offline_nodes": False,
                            "no_remember": True, "dry_run": False}]


@pytest.mark.parametrize(
    ("argv", "fields"),
    [((), {"reboot_type": "hard", "shutdown_timeout": 120, "ignore_secondaries": False}),
     (("-t", "soft", "--shutdown-timeout", "10", "--ignore-secondaries"),
      {"reboot_type": "soft", "shutdown_timeout": 10, "ignore_secondaries": True}),
     (("--type=full",), {"reboot_type": "full", "shutdown_timeout": 120,
                         "ignore_secondaries": False})],
    ids=["default-hard", "soft", "full"],
)
def test_reboot(run: Runner, luxi: FakeLuxi, argv: tuple[str, ...], fields: dict[str, Any]
                ) -> None:
    luxi.on("QueryInstances", [["inst1"]])
    _jobs(luxi, 13)
    assert run(gnt_instance.main, "reboot", *argv, "inst1")[0] == 0
    assert _sent(luxi) == [{"OP_ID": "OP_INSTANCE_REBOOT", "instance_name": "inst1",
                            "dry_run": False, **fields}]


def test_reboot_bad_type(run: Runner, luxi: FakeLuxi) -> None:
    code, out, err = run(gnt_instance.main, "reboot", "-t", "warm", "inst1")
    assert (code, out) == (1, "")
    assert err.startswith("gnt-instance reboot: error: argument -t/--type: invalid choice:"
                          " 'warm' (choose from ")
    assert len(err.splitlines()) == 1
    assert luxi.calls == []


def test_several_instances_need_confirmation(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryInstances", [["a"], ["b"]])
    code, _, err = run(gnt_instance.main, "shutdown", "a", "b")
    assert code == 1
    assert err.startswith("The shutdown will operate on 2 instances.\nDo you want to continue?\n"
                          "Affected instances:\n  a\n  b")
    assert "SubmitManyJobs" not in luxi.methods()


def test_all_instances_with_force_multiple(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryInstances", [["a"], ["b"]])
    _jobs(luxi, 21, 22)
    code, out, _ = run(gnt_instance.main, "startup", "--all", "--force-multiple")
    assert code == 0
    assert out.splitlines() == ["Submitted jobs 21, 22", "Waiting for job 21 for a ...",
                                "Waiting for job 22 for b ..."]
    assert luxi.args_of("QueryInstances") == [[[], ["name"], False]]
    assert [op["instance_name"] for op in _sent(luxi)] == ["a", "b"]


def test_selection_by_node(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryNodes", [["node1", ["a", "b"], ["c"]]])
    _jobs(luxi, 21, 22)
    code, _, _ = run(gnt_instance.main, "shutdown", "--primary", "--force-multiple", "node1")
    assert code == 0
    assert luxi.args_of("QueryNodes") == [[["node1"], ["name", "pinst_list", "sinst_list"],
                                           False]]
    assert [op["instance_name"] for op in _sent(luxi)] == ["a", "b"]


def test_empty_cluster(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryInstances", [])
    assert run(gnt_instance.main, "startup", "--all") == (
        0, "Cluster is empty, no instances to startup\n", "")


def test_selection_needs_names(run: Runner, luxi: FakeLuxi) -> None:
    prereq = ("Failure: prerequisites not met for this operation:\n"
              "error type: wrong_input, error details:\n")
    assert run(gnt_instance.main, "startup") == (1, "", prereq + "No instance names passed\n")
    assert run(gnt_instance.main, "startup", "--all", "x") == (
        1, "", prereq + "Cluster filter mode takes no arguments\n")
    assert luxi.calls == []


def test_submit_only_prints_job_per_instance(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryInstances", [["a"], ["b"]])
    luxi.on("SubmitManyJobs", [[True, 31], [False, "queue full"]])
    code, out, err = run(gnt_instance.main, "reboot", "--submit", "--force-multiple", "a", "b")
    assert (code, out, err) == (1, "31: a\n", "Failure for b: queue full\n")


def test_failed_job(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryInstances", [["inst1"]])
    _jobs(luxi, 41, status="error",
          result=["OpExecError", ["Could not start instance: no such OS"]])
    code, out, err = run(gnt_instance.main, "startup", "inst1")
    assert code == 1
    assert out == "Waiting for job 41 for inst1 ...\n"
    assert err == ("Job 41 for inst1 has failed: Failure: command execution error:\n"
                   "Could not start instance: no such OS\n")


def test_reinstall_asks_then_sends(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryInstances", [["inst1"]])
    code, _, err = run(gnt_instance.main, "reinstall", "-o", "busybox", "inst1")
    assert code == 1
    assert err.startswith("This will reinstall the instance 'inst1' (and change the OS to"
                          " 'busybox') which removes all data. Continue?")
    assert "SubmitManyJobs" not in luxi.methods()
    _jobs(luxi, 51)
    code, _, _ = run(gnt_instance.main, "reinstall", "-f", "-o", "busybox+tiny",
                     "--force-variant", "-O", "size=small", "inst1")
    assert code == 0
    assert _sent(luxi) == [{"OP_ID": "OP_INSTANCE_REINSTALL", "instance_name": "inst1",
                            "os_type": "busybox+tiny", "force_variant": True,
                            "osparams": {"size": "small"}, "dry_run": False}]


def test_reinstall_several_warns_about_data(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryInstances", [["a"], ["b"]])
    code, _, err = run(gnt_instance.main, "reinstall", "a", "b")
    assert code == 1
    assert ("Note: this will remove *all* data for the below instances! It will keep the same"
            " OS.\n") in err
