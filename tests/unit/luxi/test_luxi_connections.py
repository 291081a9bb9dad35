"""LUXI connection discipline: a cap that evicts silent connections, refuses newcomers when
every held connection has spoken, and an idle timeout the client survives."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from corral.luxi.client import Client
from corral.luxi.protocol import ETX, encode_request
from corral.luxi.server import LuxiServer
from corral.rpc.listener import Limits
from tests.support.connections import close_all, closed_by_peer

CAP = 4


async def echo(method: str, args: list[Any]) -> Any:
    return method


Test = Callable[[LuxiServer, Path], Awaitable[None]]


def serve(tmp_path: Path, test: Test, idle_timeout: float = 1.0) -> None:
    async def main() -> None:
        path = tmp_path / "luxi.sock"
        server = LuxiServer(path, echo)
        server.limits = Limits(CAP, idle_timeout=idle_timeout)
        await server.start()
        try:
            await test(server, path)
        finally:
            await server.close()

    asyncio.run(main())


async def connect(path: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_unix_connection(str(path))


async def ask(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], method: str) -> bytes:
    reader, writer = conn
    writer.write(encode_request(method, []))
    await writer.drain()
    return await reader.readuntil(ETX)


def call(path: Path, method: str) -> Any:
    with Client(str(path), timeout=30) as client:
        return client.call(method)


def test_idle_flood_evicts_silent_connections(tmp_path: Path) -> None:
    async def test(server: LuxiServer, path: Path) -> None:
        idle = [await connect(path) for _ in range(3 * CAP)]
        try:
            assert await asyncio.to_thread(call, path, "QueryClusterInfo") == "QueryClusterInfo"
            assert server.listener is not None
            assert server.listener.budget.live <= CAP
            assert [await closed_by_peer(reader) for reader, _ in idle] == [True] * len(idle)
        finally:
            close_all(idle)

    serve(tmp_path, test)


def test_newcomer_is_refused_when_every_connection_has_spoken(tmp_path: Path) -> None:
    async def test(server: LuxiServer, path: Path) -> None:
        conns = [await connect(path) for _ in range(CAP)]
        try:
            for conn in conns:
                await ask(conn, "QueryJobs")
            conns.append(await connect(path))
            assert await closed_by_peer(conns[-1][0])
            assert server.listener is not None
            assert server.listener.budget.refused == 1
            assert b"QueryJobs" in await ask(conns[0], "QueryJobs")  # the held ones still serve
        finally:
            close_all(conns)

    serve(tmp_path, test, idle_timeout=30.0)


def test_idle_connection_is_closed_after_the_idle_timeout(tmp_path: Path) -> None:
    async def test(server: LuxiServer, path: Path) -> None:
        conn = await connect(path)
        try:
            assert b"QueryJobs" in await ask(conn, "QueryJobs")
            conn[1].write(b'{"method": "Query')  # half a message does not keep it open
            assert await closed_by_peer(conn[0])
        finally:
            close_all([conn])

    serve(tmp_path, test)


def test_client_reconnects_after_an_idle_close(tmp_path: Path) -> None:
    async def test(server: LuxiServer, path: Path) -> None:
        client = Client(str(path), timeout=30)
        try:
            assert await asyncio.to_thread(client.call, "QueryJobs") == "QueryJobs"
            assert client._sock is not None
            probe = socket.fromfd(client._sock.fileno(), socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.settimeout(20)
                assert await asyncio.to_thread(probe.recv, 1, socket.MSG_PEEK) == b""
            finally:
                probe.close()
            assert await asyncio.to_thread(client.call, "QueryJobs") == "QueryJobs"
        finally:
            client.close()

    serve(tmp_path, test)
