"""Bad CLI input gets a short error and a non-zero exit, never a traceback."""

from __future__ import annotations

import pytest

from tests.integration.conftest import LiveCluster

BAD_COMMANDS = [
    ("gnt-node", "list", "-o", "no_such_field"),
    ("gnt-node", "info", "no-such-node"),
    ("gnt-node", "modify", "--drained=maybe", "node2"),
    ("gnt-node", "remove", "node1"),
    ("gnt-node", "add", "--primary-ip", "127.0.0.99", "node9"),
    ("gnt-debug", "delay", "soon"),
    ("gnt-debug", "delay", "--priority", "urgent", "1"),
    ("gnt-group", "add"),
    ("gnt-group", "remove", "no-such-group"),
    ("gnt-job", "wait", "not-a-number"),
    ("gnt-cluster", "modify", "--candidate-pool-size", "-3"),
    ("gnt-cluster", "no-such-subcommand"),
    ("gnt-cluster", "add-tags", "bad tag with spaces"),
]


@pytest.mark.parametrize("argv", BAD_COMMANDS, ids=[" ".join(c[:3]) for c in BAD_COMMANDS])
def test_bad_input(live: LiveCluster, argv: tuple[str, ...]) -> None:
    result = live.gnt(*argv)
    assert result.code != 0, result.stdout
    assert result.stderr.strip(), "an error must say what was wrong"
    assert "Traceback" not in result.stderr + result.stdout
