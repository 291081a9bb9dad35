"""RAPI bodies too deep or too large get Ganeti's error body; the connection keeps serving."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from corral.jsonlimits import MAX_DEPTH
from corral.rapi.auth import Authenticator, UsersFile
from corral.rapi.server import MAX_BODY, RapiServer

AUTH = "Basic " + base64.b64encode(b"admin:secret").decode()


class KeepAlive:
    """One HTTP/1.1 connection; each request must be answered on it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, Any]:
        head = (f"{method} {path} HTTP/1.1\r\nHost: test\r\nAuthorization: {AUTH}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        status_line = await self.reader.readuntil(b"\r\n")
        headers = (await self.reader.readuntil(b"\r\n\r\n")).decode().lower()
        assert "connection: close" not in headers, headers
        length = int(headers.split("content-length:")[1].split("\r\n")[0])
        return int(status_line.split()[1]), json.loads(await self.reader.readexactly(length))


async def dispatch(method: str, args: list[Any]) -> Any:
    assert method == "SubmitJob", method
    return 7


def serve(tmp_path: Path, test: Callable[[KeepAlive], Awaitable[None]]) -> None:
    async def main() -> None:
        users = tmp_path / "users"
        users.write_text("admin secret write\n")
        server = RapiServer(dispatch, Authenticator(UsersFile(users)), None)
        await server.start(["127.0.0.1"], 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.addresses()[0][1])
        try:
            await test(KeepAlive(reader, writer))
        finally:
            writer.close()
            await server.close()

    asyncio.run(main())


def test_deep_body_is_a_400_naming_the_limit(tmp_path: Path) -> None:
    async def test(conn: KeepAlive) -> None:
        deep = b"[" * 100_000 + b"]" * 100_000
        status, body = await conn.request("PUT", "/2/instances/web1/modify", deep)
        assert (status, body) == (400, {
            "code": 400,
            "message": "Unable to parse JSON data: JSON document nested deeper than the"
                       f" limit of {MAX_DEPTH} levels",
            "explain": "Bad request syntax or unsupported method"})
        assert await conn.request("GET", "/version") == (200, 2)
        nested = {"osparams": {"a": json.loads("[" * 60 + "]" * 60)}}
        assert await conn.request("PUT", "/2/instances/web1/modify",
                                  json.dumps(nested).encode()) == (200, 7)

    serve(tmp_path, test)


def test_oversized_body_is_a_413_naming_the_limit(tmp_path: Path) -> None:
    async def test(conn: KeepAlive) -> None:
        huge = b'{"a": "' + b"x" * MAX_BODY + b'"}'
        status, body = await conn.request("PUT", "/2/instances/web1/modify", huge)
        assert status == 413
        assert body["message"] == f"Request body larger than the limit of {MAX_BODY} bytes"
        assert set(body) == {"code", "message", "explain"}
        assert await conn.request("GET", "/version") == (200, 2)

    serve(tmp_path, test)
