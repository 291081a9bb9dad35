"""The shared connection discipline (corral.rpc.listener): descriptor budget, rate-limited
accept errors with back-off, and the node daemon under an idle flood (real TLS)."""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import corral.backend.basics  # noqa: F401  (registers the handlers under test)
from corral.backend.context import NodeContext
from corral.backend.server import RpcServer
from corral.rpc import pki, tls
from corral.rpc.client import NodeTarget, RpcClient
from corral.rpc.listener import (
    GuardedListener,
    Limits,
    RateLimitedLog,
    connection_cap,
    luxi_limits,
    noded_limits,
    rapi_limits,
)
from corral.version import PROTOCOL_VERSION
from tests.support.connections import close_all, closed_by_peer, joined_layout, open_idle

CAP = 4


# --- descriptor budget ----------------------------------------------------------


def test_caps_leave_a_reserve_for_luxi_and_the_rest() -> None:
    assert luxi_limits(1024).max_connections == 128
    assert rapi_limits(1024).max_connections == 1024 - 256 - 128
    assert noded_limits(1024).max_connections == 1024 - 256
    assert rapi_limits(1_048_576).max_connections == 1024
    assert connection_cap(256, 4096, soft=100) == 8


def test_daemon_start_raises_the_soft_limit_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(soft, hard, 256)
    code = ("import resource; from corral.rpc.listener import raise_nofile_limit; "
            "print(raise_nofile_limit(), resource.getrlimit(resource.RLIMIT_NOFILE))")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard)),
    ).stdout
    assert out.split() == [f"({low},", f"{hard})", f"({hard},", f"{hard})"]


# --- accept errors --------------------------------------------------------------


def test_rate_limited_log_counts_what_it_held_back(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    errors = RateLimitedLog(logging.getLogger("t"), "accept", 10.0, clock=lambda: now[0])
    emfile = OSError(errno.EMFILE, "Too many open files")
    logged = [errors.note(emfile) for _ in range(5)]
    now[0] = 10.0
    logged.append(errors.note(emfile))
    assert logged == [True, False, False, False, False, True]
    assert [r.getMessage().endswith(f"({n} time(s) since the last report)")
            for r, n in zip(caplog.records, (1, 5), strict=True)] == [True, True]
    assert errors.total == 6


class Exhausted(socket.socket):
    """A listening socket whose accept always fails as at the descriptor limit."""

    attempts = 0

    def accept(self) -> tuple[socket.socket, Any]:
        Exhausted.attempts += 1
        raise OSError(errno.EMFILE, "Too many open files")


def test_accept_at_the_descriptor_limit_backs_off_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backoff = 0.05

    async def main() -> float:
        sock = Exhausted(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        listener = GuardedListener(sock, asyncio.Protocol, Limits(CAP, backoff=backoff))
        client = socket.create_connection(sock.getsockname())  # makes it readable
        start = time.monotonic()
        listener.start()
        await asyncio.sleep(0.5)
        listener.close()
        client.close()
        return time.monotonic() - start

    elapsed = asyncio.run(main())
    assert 2 <= Exhausted.attempts <= elapsed / backoff + 2  # one try per back-off, no spin
    assert len([r for r in caplog.records if "cannot accept" in r.getMessage()]) == 1


LOW_LIMIT_SERVER = """
import asyncio, logging, os, resource, socket, sys
from corral.rpc.listener import GuardedListener, Limits
logging.basicConfig(level=logging.WARNING)

async def main():
    sock = socket.create_server(("127.0.0.1", 0))
    limits = Limits(1000, backoff=0.05, log_interval=60)
    listener = GuardedListener(sock, asyncio.Protocol, limits)
    listener.start()
    used = len(os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (used + 4, resource.getrlimit(
        resource.RLIMIT_NOFILE)[1]))
    print(sock.getsockname()[1], flush=True)
    await asyncio.sleep(1.0)
    print(listener.accept_errors.total, listener.budget.live, flush=True)

asyncio.run(main())
"""


def test_real_emfile_is_logged_once_with_a_count() -> None:
    proc = subprocess.Popen([sys.executable, "-c", LOW_LIMIT_SERVER], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(30)]
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        for sock in clients:
            sock.close()
    failures, live = (int(word) for word in out.split())
    assert proc.returncode == 0, err
    assert failures >= 2
    assert live <= 4
    assert err.count("cannot accept") == 1, err
    assert "Too many open files" in err


# --- the node daemon ------------------------------------------------------------


def test_node_daemon_serves_rpc_through_an_idle_flood(tmp_path: Path) -> None:
    ca_key, ca_cert = pki.create_ca("test.example.com")
    master = joined_layout(tmp_path / "master", "master", ca_key, ca_cert)
    node = joined_layout(tmp_path / "node1", "node1", ca_key, ca_cert)

    async def main() -> None:
        ctx = NodeContext(layout=node, node_name="node1")
        limits = Limits(CAP, handshake_timeout=1.0, idle_timeout=1.0)
        server = RpcServer(ctx, "127.0.0.1", 0, limits=limits)
        await server.start()
        idle = await open_idle(server.port, 3 * CAP)
        try:
            async with RpcClient(tls.client_ssl_context(master)) as client:
                result = await client.call_single(
                    "version", NodeTarget("node1", "127.0.0.1", server.port))
            assert (result.ok, result.payload) == (True, PROTOCOL_VERSION)
            assert server.budget is not None
            assert server.budget.live <= CAP
            assert [await closed_by_peer(reader) for reader, _ in idle] == [True] * len(idle)
        finally:
            close_all(idle)
            await server.stop()

    asyncio.run(main())
