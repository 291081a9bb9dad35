"""gnt-instance replace-disks: the opcode built from the command line, the refusals of
Ganeti's client, and Ganeti's options."""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING, Any

import pytest

from corral.cli import gnt_instance
from corral.cli.commands import build_parser
from tests.unit.cli.test_mobility_cli import CLI_TSV, PREREQ, Jobs, sent

if TYPE_CHECKING:
    from tests.unit.cli.conftest import FakeLuxi, Runner

DEFAULTS = {"OP_ID": "OP_INSTANCE_REPLACE_DISKS", "instance_name": "inst1", "disks": [],
            "early_release": False, "ignore_ipolicy": False, "dry_run": False}
"""Unset options (None) are left out of the opcode."""


@pytest.fixture
def jobs(luxi: FakeLuxi) -> Jobs:
    return Jobs(luxi)


@pytest.mark.parametrize(("argv", "fields"), [
    (("-p",), {"mode": "replace_on_primary"}),
    (("-s", "--disks", "0,2"), {"mode": "replace_on_secondary", "disks": [0, 2]}),
    (("-a",), {"mode": "replace_auto"}),
    (("-n", "node3", "--early-release", "--ignore-ipolicy"),
     {"mode": "replace_new_secondary", "remote_node": "node3", "early_release": True,
      "ignore_ipolicy": True}),
    (("--iallocator", "hail"), {"mode": "replace_new_secondary", "iallocator": "hail"}),
], ids=["primary", "secondary-disks", "auto", "new-secondary", "iallocator"])
def test_replace_disks_opcode(run: Runner, luxi: FakeLuxi, jobs: Jobs, argv: tuple[str, ...],
                              fields: dict[str, Any]) -> None:
    jobs.add(7, submit=True, logs=["STEP 1/6 Check device existence"])
    code, out, err = run(gnt_instance.main, "replace-disks", *argv, "inst1")
    assert (code, err) == (0, "")
    assert "STEP 1/6 Check device existence" in out
    assert sent(luxi) == [{**DEFAULTS, **fields}]


@pytest.mark.parametrize(("argv", "message"), [
    ((), "One and only one of the -p, -s, -a, -n and -I options must be passed"),
    (("-p", "-s"), "One and only one of the -p, -s, -a, -n and -I options must be passed"),
    (("-a", "--disks", "0"), "Cannot specify disks when using automatic mode"),
    (("-s", "--disks", "0,x"), "Invalid disk index passed: invalid literal for int()"),
], ids=["none", "two", "auto-disks", "bad-index"])
def test_replace_disks_refusals(run: Runner, luxi: FakeLuxi, argv: tuple[str, ...],
                                message: str) -> None:
    code, _out, err = run(gnt_instance.main, "replace-disks", *argv, "inst1")
    assert code == 1
    assert err.startswith(PREREQ + message), err
    assert "SubmitJob" not in luxi.methods()


@pytest.mark.skipif(not CLI_TSV.is_file(), reason="Ganeti's option reference is not here")
def test_every_ganeti_option_is_accepted() -> None:
    with CLI_TSV.open() as handle:
        [row] = [r for r in csv.DictReader(handle, delimiter="\t")
                 if (r["command"], r["subcommand"]) == ("gnt-instance", "replace-disks")]
    parser = build_parser("gnt-instance", "replace-disks",
                          gnt_instance.COMMANDS["replace-disks"])
    known = {flag for action in parser._actions for flag in action.option_strings}
    wanted = {flag for option in row["all_options"].split() for flag in option.split("|")}
    assert wanted <= known, sorted(wanted - known)
