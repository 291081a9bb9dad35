"""LUXI messages too deep or too large get an error reply; the connection stays usable."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from corral.jsonlimits import MAX_DEPTH, MAX_REPLY_DEPTH
from corral.luxi.client import Client, LuxiClientError, _decode_reply
from corral.luxi.protocol import ETX, encode_request
from corral.luxi.server import LuxiServer


class RawConnection:
    """One unix-socket connection that sends bytes as they are and reads whole replies."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(str(path))
        self.buffer = b""

    def ask(self, message: bytes) -> dict[str, Any]:
        self.sock.sendall(message + ETX)
        while ETX not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, "the server closed the connection"
            self.buffer += chunk
        reply, _, self.buffer = self.buffer.partition(ETX)
        answer: dict[str, Any] = json.loads(reply)
        return answer

    def close(self) -> None:
        self.sock.close()


async def echo(method: str, args: list[Any]) -> Any:
    """A dispatcher answering what it was asked."""
    return [method, len(args[0]) if args and isinstance(args[0], list) else args]


def serve(tmp_path: Path, test: Callable[[Path], None], max_message: int | None = None) -> None:
    """Run ``test(socket path)`` in a thread while a LUXI server answers with :func:`echo`."""
    async def main() -> None:
        path = tmp_path / "luxi.sock"
        extra = {} if max_message is None else {"max_message": max_message}
        server = LuxiServer(path, echo, **extra)
        await server.start()
        try:
            await asyncio.to_thread(test, path)
        finally:
            await server.close()

    asyncio.run(main())


def ping() -> bytes:
    return encode_request("QueryClusterInfo", [])[:-1]


def assert_error(reply: dict[str, Any], error_class: str, text: str) -> None:
    assert reply["success"] is False, reply
    assert reply["result"][0] == error_class
    assert text in " ".join(map(str, reply["result"][1])), reply


@pytest.mark.parametrize("opening", [b"[", b'{"a":'], ids=["arrays", "objects"])
def test_deep_request_is_refused_and_the_connection_answers_next(
    tmp_path: Path, opening: bytes,
) -> None:
    def test(path: Path) -> None:
        conn = RawConnection(path)
        try:
            deep = opening * 100_000 + b"1" + (b"]" if opening == b"[" else b"}") * 100_000
            assert_error(conn.ask(deep), "ProtocolError",
                         f"nested deeper than the limit of {MAX_DEPTH} levels")
            args = b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1)  # inside the request object
            at_limit = b'{"method": "Query", "args": %s}' % args
            assert conn.ask(at_limit)["success"] is True
            assert conn.ask(ping()) == {"success": True, "result": ["QueryClusterInfo", []],
                                        "version": 3000000}
        finally:
            conn.close()

    serve(tmp_path, test)


def test_huge_request_is_refused_and_the_connection_answers_next(tmp_path: Path) -> None:
    limit = 1024 * 1024

    def test(path: Path) -> None:
        conn = RawConnection(path)
        try:
            huge = encode_request("Query", ["x" * (3 * limit)])[:-1]
            assert_error(conn.ask(huge), "LuxiError",
                         f"LUXI message larger than the limit of {limit} bytes")
            assert conn.ask(ping())["success"] is True
            just_below = encode_request("Query", ["y" * (limit - 100)])[:-1]
            assert conn.ask(just_below)["success"] is True
        finally:
            conn.close()

    serve(tmp_path, test, max_message=limit)


def test_submitting_a_thousand_jobs_stays_within_the_limits(tmp_path: Path) -> None:
    op = {"OP_ID": "OP_INSTANCE_CREATE", "instance_name": "web", "mode": "create",
          "disk_template": "plain", "disks": [{"size": 1024}], "nics": [{"link": "br0"}],
          "hvparams": {"kernel_args": "ro"}, "os_type": "debootstrap+default", "pnode": "n1",
          "depends": [[-1, ["success"]]]}
    jobs = [[dict(op, instance_name=f"web{i}.example.com")] for i in range(1000)]

    def test(path: Path) -> None:
        with Client(str(path)) as client:
            assert client.SubmitManyJobs(jobs) == ["SubmitManyJobs", 1000]

    serve(tmp_path, test)


def test_client_refuses_an_answer_nested_too_deep() -> None:
    inner = b"[" * (MAX_REPLY_DEPTH - 1) + b"]" * (MAX_REPLY_DEPTH - 1)
    assert _decode_reply(b'{"success": true, "result": %s}' % inner)["success"] is True
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(LuxiClientError, match="nested deeper than the limit"):
        _decode_reply(b'{"success": true, "result": %s}' % deep)
    with pytest.raises(LuxiClientError, match="not a JSON object"):
        _decode_reply(b"[]")


