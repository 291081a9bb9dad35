"""The watcher's LUXI round trip to the master daemon, against fake master daemons."""

from __future__ import annotations

import logging
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from corral.errors import GenericError
from corral.layout import NodeLayout
from corral.luxi.protocol import ETX, encode_reply
from corral.watcher import daemons, liveness, main
from corral.watcher.liveness import MasterState, probe_masterd

Behaviour = Callable[[socket.socket], None]


def never_answer(conn: socket.socket) -> None:
    while conn.recv(65536):
        pass  # reads requests, answers none


def answer(conn: socket.socket) -> None:
    buffer = b""
    while chunk := conn.recv(65536):
        buffer += chunk
        while ETX in buffer:
            _, _, buffer = buffer.partition(ETX)
            conn.sendall(encode_reply(True, ["node1"]))


@contextmanager
def fake_masterd(path: Path, behaviour: Behaviour) -> Iterator[None]:
    """A unix socket at ``path`` accepting connections and serving each with ``behaviour``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()
    server.settimeout(0.05)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            conns.append(conn)
            threading.Thread(target=_quietly, args=(behaviour, conn), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        server.close()
        for conn in conns:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        path.unlink()


def _quietly(behaviour: Behaviour, conn: socket.socket) -> None:
    try:
        behaviour(conn)
    except OSError:
        pass


@pytest.fixture
def layout() -> Iterator[NodeLayout]:
    """A node root with a short path (unix socket paths are limited to 107 bytes)."""
    root = Path(tempfile.mkdtemp(prefix="corral-wl-", dir="/tmp"))
    try:
        yield NodeLayout(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_silent_master_is_told_from_an_answering_one(layout: NodeLayout) -> None:
    with fake_masterd(layout.luxi_socket, never_answer):
        probe = probe_masterd(layout.luxi_socket, timeout=0.2)
    assert probe.state is MasterState.SILENT
    assert probe.detail == "did not answer a LUXI request within 0.2 s"
    with fake_masterd(layout.luxi_socket, answer):
        assert probe_masterd(layout.luxi_socket).state is MasterState.ANSWERS


def test_no_socket_is_unreachable(layout: NodeLayout) -> None:
    probe = probe_masterd(layout.luxi_socket, timeout=0.2)
    assert probe.state is MasterState.UNREACHABLE
    assert "Is the master running?" in probe.detail


def test_the_watcher_restarts_a_master_that_runs_but_does_not_answer(
    layout: NodeLayout, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    restarts: list[Path] = []
    monkeypatch.setattr(liveness, "ANSWER_TIMEOUT", 0.2)
    monkeypatch.setattr(daemons, "masterd_running", lambda layout: True)
    monkeypatch.setattr(daemons, "restart_masterd", lambda layout: restarts.append(layout.root))
    with fake_masterd(layout.luxi_socket, never_answer), caplog.at_level(logging.WARNING):
        client = main.connect_master(layout)
    client.close()
    assert restarts == [layout.root]
    assert ("The master daemon did not answer a LUXI request within 0.2 s; restarting it"
            in caplog.messages)


def test_an_answering_master_is_left_alone(
    layout: NodeLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(daemons, "restart_masterd", lambda layout: pytest.fail("restarted"))
    with fake_masterd(layout.luxi_socket, answer), main.connect_master(layout) as client:
        assert client.QueryConfigValues(["master_node"]) == ["node1"]


def test_a_silent_socket_without_a_master_process_is_not_restarted(
    layout: NodeLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing to stop: the usual path (start it if it is not running) decides."""
    monkeypatch.setattr(liveness, "ANSWER_TIMEOUT", 0.2)
    monkeypatch.setattr(daemons, "masterd_running", lambda layout: False)
    monkeypatch.setattr(daemons, "restart_masterd", lambda layout: pytest.fail("restarted"))
    with (fake_masterd(layout.luxi_socket, never_answer),
          pytest.raises(GenericError, match="no cluster configuration")):
        main.connect_master(layout)
