"""Pure-Python clients for an instance's serial console unix socket.

QEMU writes serial output a byte at a time and blocks the guest's UART while
nobody drains the socket, so both clients read continuously: :func:`attach`
pipes the socket to an output while forwarding input; :class:`SerialConsole`
collects output in a buffer that tests (and scripts) search.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import termios
import tty
from pathlib import Path
from typing import Protocol

from corral.errors import HypervisorError

ESCAPE = b"\x1d"
"""Ctrl-] ends an interactive session, as in telnet and virsh."""
_CHUNK = 4096


class ByteSource(Protocol):
    async def read(self, n: int) -> bytes: ...


class ByteSink(Protocol):
    def write(self, data: bytes) -> object: ...

    def flush(self) -> object: ...


async def _connect(socket_path: Path, timeout: float) -> tuple[asyncio.StreamReader,
                                                                asyncio.StreamWriter]:
    try:
        return await asyncio.wait_for(asyncio.open_unix_connection(str(socket_path)), timeout)
    except (OSError, TimeoutError) as err:
        raise HypervisorError(f"cannot connect to console {socket_path}: {err}") from err


async def attach(socket_path: Path, stdin: ByteSource, stdout: ByteSink, *,
                 escape: bytes = ESCAPE, timeout: float = 5.0) -> None:
    """Relay ``stdin`` to the console and the console to ``stdout`` until one side ends.

    Input ends at EOF or at the ``escape`` byte (not sent).
    """
    reader, writer = await _connect(socket_path, timeout)
    outward = asyncio.create_task(_pump_out(reader, stdout))
    inward = asyncio.create_task(_pump_in(stdin, writer, escape))
    try:
        await asyncio.wait({outward, inward}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (outward, inward):
            task.cancel()
        await asyncio.gather(outward, inward, return_exceptions=True)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _pump_out(reader: asyncio.StreamReader, stdout: ByteSink) -> None:
    while data := await reader.read(_CHUNK):
        stdout.write(data)
        stdout.flush()


async def _pump_in(stdin: ByteSource, writer: asyncio.StreamWriter, escape: bytes) -> None:
    while data := await stdin.read(_CHUNK):
        head, found, _ = data.partition(escape)
        if head:
            writer.write(head)
            await writer.drain()
        if found:
            return


async def attach_terminal(socket_path: Path) -> None:
    """Interactive session on the process's terminal (raw mode, Ctrl-] to leave)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    if saved is not None:
        tty.setraw(fd)
    try:
        await attach(socket_path, reader, sys.stdout.buffer)
    finally:
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


class SerialConsole:
    """A console connection that drains output into a buffer in the background."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.output = bytearray()
        self._changed = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self, timeout: float = 5.0) -> None:
        reader, self._writer = await _connect(self.socket_path, timeout)
        self._task = asyncio.create_task(self._drain(reader))

    async def _drain(self, reader: asyncio.StreamReader) -> None:
        while data := await reader.read(_CHUNK):
            self.output += data
            self._changed.set()
        self._changed.set()

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")

    async def send(self, data: str | bytes) -> None:
        if self._writer is None:
            raise HypervisorError("console is not open")
        self._writer.write(data.encode() if isinstance(data, str) else data)
        await self._writer.drain()

    async def expect(self, needle: str, *, timeout: float, start: int = 0) -> int:
        """Wait until ``needle`` appears in the output at or after ``start``; its offset.

        Raises:
            HypervisorError: not seen within ``timeout`` seconds or the console closed.
        """
        try:
            async with asyncio.timeout(timeout):
                while (found := self.output.find(needle.encode(), start)) < 0:
                    if self._task is not None and self._task.done():
                        raise HypervisorError(f"console closed before {needle!r} appeared")
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            tail = self.text[-300:]
            raise HypervisorError(f"{needle!r} not seen on the console within {timeout:g}s; "
                                  f"last output: {tail!r}") from None
        return found

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._task = self._writer = None
