"""RAPI under idle-connection floods: a cap with eviction, handshake and idle/header
deadlines; LUXI next to it keeps answering (real servers, real TLS, short limits)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from corral.luxi.client import Client
from corral.luxi.server import LuxiServer
from corral.rapi.auth import Authenticator
from corral.rapi.server import RapiServer
from corral.rpc.listener import Limits
from tests.support.connections import (
    close_all,
    closed_by_peer,
    https_get,
    open_idle,
    server_certificate,
    still_open,
)

CAP = 4
LIMITS = Limits(CAP, handshake_timeout=1.0, idle_timeout=1.0)


async def dispatch(method: str, args: list[Any]) -> Any:
    return {"method": method}


Test = Callable[[RapiServer, int, ssl.SSLContext], Awaitable[None]]


def serve(tmp_path: Path, test: Test, limits: Limits = LIMITS) -> None:
    server_ctx, client_ctx = server_certificate(tmp_path)

    async def main() -> None:
        server = RapiServer(dispatch, Authenticator(None), server_ctx, limits=limits)
        await server.start(["127.0.0.1"], 0)
        try:
            await test(server, server.addresses()[0][1], client_ctx)
        finally:
            await server.close()

    asyncio.run(main())


def test_idle_flood_evicts_silent_connections_and_new_requests_succeed(tmp_path: Path) -> None:
    async def test(server: RapiServer, port: int, client: ssl.SSLContext) -> None:
        idle = await open_idle(port, 3 * CAP)
        try:
            assert await https_get(port, "/version", client) == (200, b"2")
            assert server.budget is not None
            assert server.budget.live <= CAP
            assert server.budget.evicted >= 2 * CAP
            closed = [await closed_by_peer(reader) for reader, _ in idle]
            assert closed == [True] * len(idle)  # evicted, or their handshake timed out
        finally:
            close_all(idle)

    serve(tmp_path, test)


def test_luxi_answers_while_rapi_is_flooded(tmp_path: Path) -> None:
    async def test(server: RapiServer, port: int, client: ssl.SSLContext) -> None:
        luxi = LuxiServer(tmp_path / "luxi.sock", dispatch)
        await luxi.start()
        idle = await open_idle(port, 5 * CAP)
        try:
            with Client(str(tmp_path / "luxi.sock"), timeout=30) as luxi_client:
                answer = await asyncio.to_thread(luxi_client.call, "QueryClusterInfo")
            assert answer == {"method": "QueryClusterInfo"}
            assert await https_get(port, "/version", client) == (200, b"2")
        finally:
            close_all(idle)
            await luxi.close()

    serve(tmp_path, test)


def test_unfinished_handshake_is_closed_after_the_handshake_timeout(tmp_path: Path) -> None:
    async def test(server: RapiServer, port: int, client: ssl.SSLContext) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello
            await writer.drain()
            assert await closed_by_peer(reader)
        finally:
            writer.close()

    serve(tmp_path, test)


def test_idle_tls_connection_is_closed_after_the_idle_timeout(tmp_path: Path) -> None:
    async def test(server: RapiServer, port: int, client: ssl.SSLContext) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
        try:
            assert await closed_by_peer(reader)
        finally:
            writer.close()

    serve(tmp_path, test)


def test_unfinished_request_header_is_closed_after_the_header_timeout(tmp_path: Path) -> None:
    async def test(server: RapiServer, port: int, client: ssl.SSLContext) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
        try:
            writer.write(b"GET /version HTTP/1.1\r\nHost: test\r\n")
            await writer.drain()
            assert await closed_by_peer(reader)
        finally:
            writer.close()

    serve(tmp_path, test)


def test_connection_in_use_stays_open_within_the_idle_timeout(tmp_path: Path) -> None:
    limits = Limits(CAP, handshake_timeout=5.0, idle_timeout=5.0)

    async def test(server: RapiServer, port: int, client: ssl.SSLContext) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
        try:
            writer.write(b"GET /version HTTP/1.1\r\nHost: test\r\n\r\n")
            await writer.drain()
            assert (await reader.readuntil(b"\r\n")).startswith(b"HTTP/1.1 200")
            assert await still_open(reader, 0.5)
        finally:
            writer.close()

    serve(tmp_path, test, limits)
