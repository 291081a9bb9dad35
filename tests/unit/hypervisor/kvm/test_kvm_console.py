"""Console clients against a fake serial socket that writes a byte at a time."""

from __future__ import annotations

import asyncio
import io
import tempfile
from pathlib import Path

import pytest

from corral.errors import HypervisorError
from corral.hypervisor.kvm.console import SerialConsole, attach


class ByteQueue:
    """An input stream fed by the test."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def read(self, n: int) -> bytes:
        await asyncio.sleep(0.01)
        return self.chunks.pop(0) if self.chunks else b""


async def _guest(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Says READY a byte at a time, then echoes each line upper-cased."""
    try:
        for byte in b"READY\n":
            writer.write(bytes([byte]))
            await writer.drain()
        while line := await reader.readline():
            writer.write(line.upper())
            await writer.drain()
    finally:
        writer.close()


async def _with_guest(body: object) -> None:
    with tempfile.TemporaryDirectory(prefix="con-") as tmp:
        path = Path(tmp) / "s.serial"
        server = await asyncio.start_unix_server(_guest, path=str(path))
        try:
            await body(path)  # type: ignore[operator]
        finally:
            server.close()
            await server.wait_closed()


def test_serial_console_expect_and_send() -> None:
    async def body(path: Path) -> None:
        console = SerialConsole(path)
        await console.open()
        try:
            assert await console.expect("READY", timeout=5) == 0
            await console.send("echo hi\n")
            assert await console.expect("ECHO HI", timeout=5) > 0
            with pytest.raises(HypervisorError, match="not seen"):
                await console.expect("NEVER", timeout=0.2)
        finally:
            await console.close()

    asyncio.run(_with_guest(body))


def test_attach_relays_until_the_escape_byte() -> None:
    out = io.BytesIO()

    async def body(path: Path) -> None:
        stdin = ByteQueue([b"one\n", b"two\n\x1dthree\n", b"four\n"])
        await asyncio.wait_for(attach(path, stdin, out), 5)
        assert stdin.chunks == [b"four\n"]

    asyncio.run(_with_guest(body))
    assert out.getvalue().startswith(b"READY\n")


def test_attach_to_a_missing_socket(tmp_path: Path) -> None:
    with pytest.raises(HypervisorError, match="cannot connect"):
        asyncio.run(attach(tmp_path / "none", ByteQueue([]), io.BytesIO()))
