"""A real node daemon started with extra flags is restarted by the watcher with the same
flags (the command line it recorded at its start)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.daemon_control import (
    NODED_MATCH,
    daemon_pid,
    noded_argv,
    recorded_command_line,
    spawn_daemon,
    stop_daemon,
    wait_listening,
)
from corral.layout import NodeLayout
from corral.watcher import daemons
from corral.watcher.daemons import NodeIdentity

NODED = "corral-noded"
pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def _wait_for_record(layout: NodeLayout, pid: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if recorded_command_line(layout.command_line_file(NODED)) is not None:
            return
        time.sleep(0.05)
    pytest.fail(f"noded (pid {pid}) recorded no command line; see {layout.log_file(NODED)}")


@pytest.fixture
def layout(tmp_path: Path) -> Iterator[NodeLayout]:
    layout = NodeLayout(tmp_path / "node")
    yield layout
    stop_daemon(layout.pid_file(NODED), NODED_MATCH, 15.0)


def test_watcher_restarts_noded_with_its_flags(layout: NodeLayout, tmp_path: Path) -> None:
    node = NodeIdentity("node1", "127.0.0.1", _free_port(), "node1")
    flags = ["--simulate-lvm", str(tmp_path / "lvm"), "--debug"]
    argv = noded_argv(layout.root, node.address, node.port, node.name, flags)
    first = spawn_daemon(argv, layout.pid_file(NODED), layout.log_file(NODED))
    assert wait_listening(node.address, node.port, 30.0)
    _wait_for_record(layout, first)
    assert stop_daemon(layout.pid_file(NODED), NODED_MATCH, 15.0)

    assert daemons.ensure_noded(layout, node) is True
    second = daemon_pid(layout.pid_file(NODED), NODED_MATCH)
    assert second is not None
    assert second != first
    assert _cmdline(second) == argv
