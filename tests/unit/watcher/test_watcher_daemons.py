"""Who this node is, keeping the node and master daemons up, and the RAPI probe."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from corral.backend.ssconf import write_ssconf
from corral.daemon_control import CommandLine, masterd_argv, noded_argv
from corral.daemons.common import own_command_line, record_start
from corral.layout import NodeLayout
from corral.watcher import daemons
from corral.watcher.daemons import NodeIdentity, node_identity


def _layout(root: Path, ips: str = "node1 10.0.0.1\nnode2 10.0.0.2") -> NodeLayout:
    layout = NodeLayout(root)
    layout.ensure_dirs()
    layout.node_name_file.write_text("node2\n")
    write_ssconf(layout, {"master_node": "node1", "noded_port": "18140",
                          "node_primary_ips": ips})
    return layout


def test_identity_from_node_files(tmp_path: Path) -> None:
    node = node_identity(_layout(tmp_path))
    assert node == NodeIdentity(name="node2", address="10.0.0.2", port=18140, master="node1")
    assert not node.is_master


@pytest.mark.parametrize("broken", ["no-name-file", "no-ssconf", "not-listed"])
def test_no_identity_outside_a_cluster(tmp_path: Path, broken: str) -> None:
    layout = _layout(tmp_path, ips="node1 10.0.0.1" if broken == "not-listed" else
                     "node1 10.0.0.1\nnode2 10.0.0.2")
    if broken == "no-name-file":
        layout.node_name_file.unlink()
    elif broken == "no-ssconf":
        write_ssconf(layout, {})
    assert node_identity(layout) is None


def test_noded_command_line(tmp_path: Path) -> None:
    node = NodeIdentity("node2", "127.0.0.12", 18140, "node1")
    assert noded_argv(tmp_path, node.address, node.port, node.name) == [
        sys.executable, "-m", "corral.daemons.noded", "--root", str(tmp_path),
        "--bind", "127.0.0.12", "--port", "18140", "--node-name", "node2"]


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_noded_started_only_when_not_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listener: int
) -> None:
    spawned = _record_spawns(monkeypatch)
    layout = NodeLayout(tmp_path)
    node = NodeIdentity("node2", "127.0.0.1", listener, "node1")
    monkeypatch.setattr(daemons, "daemon_pid", lambda pid_file, match: 99)
    assert daemons.ensure_noded(layout, node) is False
    monkeypatch.setattr(daemons, "daemon_pid", lambda pid_file, match: None)
    assert daemons.ensure_noded(layout, node) is True
    argv = noded_argv(layout.root, node.address, node.port, node.name)
    assert spawned == [(CommandLine(tuple(argv)), layout.pid_file("corral-noded"))]


def _record_spawns(monkeypatch: pytest.MonkeyPatch) -> list[tuple[CommandLine, Path]]:
    spawned: list[tuple[CommandLine, Path]] = []

    def spawn(command: CommandLine, pid_file: Path, log: Path) -> int:
        spawned.append((command, pid_file))
        return 4242

    monkeypatch.setattr(daemons, "spawn_command", spawn)
    return spawned


def test_noded_restarted_with_the_flags_it_was_started_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listener: int
) -> None:
    layout = NodeLayout(tmp_path)
    node = NodeIdentity("node2", "127.0.0.1", listener, "node1")
    args = [*noded_argv(tmp_path, node.address, node.port, node.name)[3:],
            "--simulate-lvm", str(tmp_path / "lvm"), "--debug"]
    started = own_command_line("corral.daemons.noded", args)
    record_start(layout.pid_file("corral-noded"), layout.command_line_file("corral-noded"),
                 started)
    spawned = _record_spawns(monkeypatch)
    monkeypatch.setattr(daemons, "daemon_pid", lambda pid_file, match: None)
    assert daemons.ensure_noded(layout, node) is True
    [(command, _)] = spawned
    assert command == started
    assert command.argv[-3:] == ("--simulate-lvm", str(tmp_path / "lvm"), "--debug")
    assert command.cwd == str(Path.cwd())


def test_masterd_started_only_when_not_running(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    spawned = _record_spawns(monkeypatch)
    monkeypatch.setattr(daemons, "_wait_for_luxi", lambda layout, what, since: None)
    monkeypatch.setattr(daemons, "masterd_running", lambda layout: True)
    assert daemons.ensure_masterd(NodeLayout(tmp_path)) is False
    monkeypatch.setattr(daemons, "masterd_running", lambda layout: False)
    assert daemons.ensure_masterd(NodeLayout(tmp_path)) is True
    default = CommandLine(tuple(masterd_argv(tmp_path)))
    assert spawned == [(default, NodeLayout(tmp_path).pid_file("corral-masterd"))]


# --- RAPI ---------------------------------------------------------------------------------


def _server(status: int, body: bytes) -> tuple[ThreadingHTTPServer, threading.Thread]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    return server, thread


@pytest.mark.parametrize(
    ("status", "body", "alive"),
    [(200, b"2", True), (401, b"", True), (200, b'"2"', False), (500, b"{}", False),
     (200, b"<html>", False)],
    ids=["version", "unauthorized-counts", "wrong-type", "server-error", "not-json"],
)
def test_probe_rapi(status: int, body: bytes, alive: bool) -> None:
    server, thread = _server(status, body)
    try:
        problem = daemons.probe_rapi("127.0.0.1", server.server_address[1], timeout=5)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert (problem is None) is alive


def test_probe_of_nothing_says_why() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    problem = daemons.probe_rapi("127.0.0.1", port, timeout=2)
    assert problem is not None
    assert "refused" in problem.lower()


def test_dead_rapi_restarts_the_master_daemon_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter(["connection refused", None])
    restarts: list[Path] = []
    monkeypatch.setattr(daemons, "rapi_available", lambda layout: True)
    monkeypatch.setattr(daemons, "probe_rapi", lambda address, port, timeout=10: next(answers))
    monkeypatch.setattr(daemons, "restart_masterd", lambda layout: restarts.append(layout.root))
    assert daemons.check_rapi(NodeLayout(tmp_path), "127.0.0.11", 5080) is True
    assert restarts == [tmp_path]


def test_live_rapi_is_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(daemons, "rapi_available", lambda layout: True)
    monkeypatch.setattr(daemons, "probe_rapi", lambda address, port, timeout=10: None)
    monkeypatch.setattr(daemons, "restart_masterd", lambda layout: pytest.fail("restarted"))
    assert daemons.check_rapi(NodeLayout(tmp_path), "127.0.0.11", 5080) is False


def test_no_rapi_check_without_a_rapi_server(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(daemons, "rapi_available", lambda layout: False)
    monkeypatch.setattr(daemons, "probe_rapi", lambda *a, **k: pytest.fail("probed"))
    assert daemons.check_rapi(NodeLayout(tmp_path), "127.0.0.11", 5080) is False


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["python", "-m", "corral.daemons.masterd", "--root", "/"], True),
        (["python", "-m", "corral.daemons.masterd", "--no-rapi"], False),
        (None, False),
    ],
    ids=["serves-rapi", "started-with-no-rapi", "not-running"],
)
def test_rapi_available(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        argv: list[str] | None, expected: bool) -> None:
    monkeypatch.setattr(daemons, "masterd_argv", lambda layout: argv)
    assert daemons.rapi_available(NodeLayout(tmp_path)) is expected


def test_restart_keeps_the_master_daemon_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[Any] = []
    argv = ["python", "-m", "corral.daemons.masterd", "--root", str(tmp_path), "--rapi-no-auth"]
    monkeypatch.setattr(daemons, "masterd_argv", lambda layout: argv)
    monkeypatch.setattr(daemons, "stop_daemon",
                        lambda pid_file, match, timeout: events.append("stop"))

    def spawn(command: CommandLine, pid_file: Path, log: Path) -> int:
        events.append(("spawn", list(command.argv)))
        return 1

    monkeypatch.setattr(daemons, "spawn_command", spawn)
    monkeypatch.setattr(daemons, "_wait_for_luxi",
                        lambda layout, since: events.append("ready"))
    daemons.restart_masterd(NodeLayout(tmp_path))
    assert events == ["stop", ("spawn", argv), "ready"]
    layout = NodeLayout(tmp_path)
    recorded = CommandLine(("/usr/bin/python3", "-m", "corral.daemons.masterd", "-d"), "/srv")
    record_start(layout.pid_file("corral-masterd"), layout.command_line_file("corral-masterd"),
                 recorded)
    events.clear()
    daemons.restart_masterd(layout)
    assert events == ["stop", ("spawn", list(recorded.argv)), "ready"]


def test_command_line_of_a_running_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    import os

    monkeypatch.setattr(daemons, "daemon_pid", lambda pid_file, match: os.getpid())
    assert daemons.masterd_argv(NodeLayout(tmp_path)) == \
        Path("/proc/self/cmdline").read_bytes().decode().split("\0")[:-1]
    monkeypatch.setattr(daemons, "daemon_pid", lambda pid_file, match: None)
    assert daemons.masterd_argv(NodeLayout(tmp_path)) is None


def test_standby_masterd_started_without_waiting_for_luxi(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned = _record_spawns(monkeypatch)
    monkeypatch.setattr(daemons, "_wait_for_luxi", lambda *a: pytest.fail("waited"))
    monkeypatch.setattr(daemons, "masterd_running", lambda layout: True)
    assert daemons.ensure_standby_masterd(NodeLayout(tmp_path)) is False
    monkeypatch.setattr(daemons, "masterd_running", lambda layout: False)
    assert daemons.ensure_standby_masterd(NodeLayout(tmp_path)) is True
    default = CommandLine(tuple(masterd_argv(tmp_path)))
    assert spawned == [(default, NodeLayout(tmp_path).pid_file("corral-masterd"))]
