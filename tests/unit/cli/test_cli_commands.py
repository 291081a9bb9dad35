"""The dispatcher: usage, help, bad input as one line, error translation, exit codes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from corral.cli import gnt_cluster, gnt_debug, gnt_job, gnt_node
from corral.cli.commands import Arg, Command, Context, Tool, check_arguments
from corral.cli.errors import UsageError

if TYPE_CHECKING:
    from tests.unit.cli.conftest import FakeLuxi, Runner


def _one_line_error(code: int, out: str, err: str) -> str:
    assert code != 0
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_help_lists_commands_on_stdout(run: Runner) -> None:
    code, out, err = run(gnt_node.main, "--help")
    assert code == 0
    assert err == ""
    assert out.startswith("Usage: gnt-node {command} [options...] [argument...]\n")
    assert " list         - Lists the nodes in the cluster." in out
    assert " add-tags     - Add tags to the node" in out


def test_no_command_prints_usage_on_stderr(run: Runner) -> None:
    code, out, err = run(gnt_job.main)
    assert code == 1
    assert out == ""
    assert err.startswith("Usage: gnt-job {command}")


def test_unknown_command_is_an_error_with_usage(run: Runner) -> None:
    code, out, err = run(gnt_node.main, "frobnicate")
    assert code == 1
    assert out == ""
    assert err.splitlines()[0] == "Error: unknown command 'frobnicate'"
    assert "Usage: gnt-node {command}" in err


def test_version(run: Runner) -> None:
    assert run(gnt_debug.main, "--version") == (0, "gnt-debug (corral) 0.1.0\n", "")


def test_subcommand_help(run: Runner) -> None:
    code, out, err = run(gnt_node.main, "list", "--help")
    assert code == 0
    assert out.startswith("usage: gnt-node list [nodes...]")
    assert "--no-headers" in out
    assert "JSON" in out  # -F explains its syntax
    assert err == ""


def test_add_help_explains_the_join_token(run: Runner) -> None:
    code, out, _ = run(gnt_node.main, "add", "-h")
    assert code == 0
    assert "corral-noded" in out
    assert "var/lib/corral/crypto/join-token" in " ".join(out.split())


@pytest.mark.parametrize(
    ("main", "argv", "message"),
    [
        pytest.param(gnt_node.main, ["list", "--bogus"],
                     "gnt-node list: error: unrecognized arguments: --bogus", id="unknown-option"),
        pytest.param(gnt_node.main, ["remove"],
                     "Error: Command remove expects 1 argument(s)", id="missing-argument"),
        pytest.param(gnt_node.main, ["modify", "a", "b"],
                     "Error: Command modify expects 1 argument(s)", id="extra-argument"),
        pytest.param(gnt_cluster.main, ["verify", "x"],
                     "Error: Command verify expects no arguments", id="no-arguments"),
        pytest.param(gnt_job.main, ["archive"],
                     "Error: Command archive expects at least 1 argument(s)", id="at-least"),
        pytest.param(gnt_node.main, ["list", "--units", "x"],
                     "gnt-node list: error: argument --units: invalid choice: 'x' "
                     "(choose from 'h', 'm', 'g', 't')", id="bad-unit"),
        pytest.param(gnt_debug.main, ["delay", "--priority", "urgent", "1"],
                     "gnt-debug delay: error: argument --priority: invalid choice: 'urgent' "
                     "(choose from low, normal, high)", id="bad-priority"),
        pytest.param(gnt_node.main, ["modify", "-C", "maybe", "n1"],
                     "gnt-node modify: error: argument -C/--master-candidate: Invalid boolean"
                     " value 'maybe' (expected yes or no)", id="bad-bool"),
        pytest.param(gnt_node.main, ["modify", "--node-parameters", "a=1,a=2", "n1"],
                     "gnt-node modify: error: argument --node-parameters: Duplicate key 'a' in"
                     " option --node-parameters", id="bad-keyval"),
        pytest.param(gnt_debug.main, ["delay", "soon"],
                     "Error: invalid duration 'soon' (expected seconds)", id="bad-duration"),
        pytest.param(gnt_debug.main, ["delay", "-r", "x", "1"],
                     "gnt-debug delay: error: argument -r/--repeat: invalid integer value: 'x'",
                     id="bad-int"),
        pytest.param(gnt_job.main, ["autoarchive", "1y"],
                     "Error: Invalid time specification '1y'", id="bad-timespec"),
        pytest.param(gnt_cluster.main, ["modify", "-B", "vcpus=many"],
                     "Error: Invalid value for backend parameter 'vcpus': 'many' is not an"
                     " integer", id="bad-param-type"),
        pytest.param(gnt_node.main, ["list", "-o"],
                     "gnt-node list: error: argument -o/--output: expected one argument",
                     id="option-without-value"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(
    run: Runner, no_master: Path, main: Tool, argv: list[str], message: str
) -> None:
    line = _one_line_error(*run(main, *argv))
    assert line == message


def test_no_master_daemon_is_one_line(run: Runner, no_master: Path) -> None:
    line = _one_line_error(*run(gnt_node.main, "list"))
    assert line.startswith("Cannot communicate with the master daemon at ")
    assert str(no_master) in line


def test_alias_resolves(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryNodes", [])
    assert run(gnt_node.main, "show")[0] == 0
    assert luxi.methods() == ["QueryNodes"]


def _boom(ctx: Context, args: list[str]) -> int:
    raise RuntimeError("kaput")


_BOOM = Tool("gnt-test", {"boom": Command(_boom, [], (), "", "Explodes")})


def test_unexpected_error_is_one_line(run: Runner) -> None:
    line = _one_line_error(*run(_BOOM, "boom"))
    assert line == "Unexpected error: RuntimeError: kaput"


def test_unexpected_error_with_debug_shows_traceback(run: Runner) -> None:
    code, _, err = run(_BOOM, "boom", "-d")
    assert code == 1
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().endswith("Unexpected error: RuntimeError: kaput")


def _interrupt(ctx: Context, args: list[str]) -> int:
    raise KeyboardInterrupt


def test_keyboard_interrupt(run: Runner) -> None:
    tool = Tool("gnt-test", {"wait": Command(_interrupt, [], (), "", "Waits")})
    code, _, err = run(tool, "wait")
    assert code == 1
    assert err.startswith("Aborted. Note that if the operation created any jobs")


def test_check_arguments_limits() -> None:
    spec = [Arg("a", 1, 1), Arg("b", 0, 1)]
    check_arguments("x", spec, ["1"])
    check_arguments("x", spec, ["1", "2"])
    with pytest.raises(UsageError, match="expects only 2 argument"):
        check_arguments("x", spec, ["1", "2", "3"])
    with pytest.raises(UsageError, match="expects at least 1 argument"):
        check_arguments("x", spec, [])


def test_options_may_follow_arguments(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("Query", {"fields": [{"name": "name", "title": "Node", "kind": "text"}],
                      "data": [[[0, "n1"]]]})
    assert run(gnt_node.main, "list", "n1", "-o", "name", "--no-headers") == (0, "n1\n", "")
    assert luxi.args_of("Query") == [["node", ["name"], ["|", ["==", "name", "n1"]]]]
