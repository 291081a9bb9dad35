"""One import or one export, as an asyncio task of the node daemon.

An import listens on the node's address (ephemeral port) with the node certificate and
requires a client certificate issued by the cluster CA, exactly as the node RPC does.
It takes the first connection that passes the handshake, stops listening at once, and
stops listening anyway when no exporter came within ``connect_timeout``. An export
connects with the node certificate and checks the importer's against the cluster CA.
The wire format is in :mod:`corral.backend.impexp_stream`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import ssl
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from corral.backend.impexp_stream import (
    DiskReader,
    DiskWriter,
    Header,
    ImportExportError,
    Reply,
    decode_header,
    header_length,
)
from corral.rpc.payloads import ImpExpMode, ImpExpOptions, ImpExpStatus

log = logging.getLogger(__name__)

IDLE_TIMEOUT = 60.0
"""Seconds a transfer waits for its peer to send (or take) more bytes."""
VERDICT_TIMEOUT = 300.0
"""Seconds an exporter waits for the importer's verdict (it syncs the disk first)."""
HANDSHAKE_TIMEOUT = 10.0
READ_SIZE = 1024 * 1024
MIB = 1024 * 1024

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]
T = TypeVar("T")


@dataclass
class Transfer:
    """The state of one import or export, as ``impexp_status`` reports it."""

    name: str
    mode: ImpExpMode
    listen_port: int | None = None
    connected: bool = False
    done: bool = False
    success: bool = False
    error: str = ""
    bytes_done: int = 0
    bytes_total: int = 0
    started: float | None = None
    ended: float | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    server: asyncio.Server | None = field(default=None, repr=False)

    def rate(self) -> float:
        """MiB/s since the connection."""
        if self.started is None:
            return 0.0
        elapsed = (self.ended or time.monotonic()) - self.started
        return self.bytes_done / MIB / elapsed if elapsed > 0 else 0.0

    def status(self) -> ImpExpStatus:
        return ImpExpStatus(
            name=self.name, mode=self.mode, listen_port=self.listen_port,
            connected=self.connected, done=self.done, success=self.success,
            bytes_done=self.bytes_done, bytes_total=self.bytes_total,
            rate=round(self.rate(), 1), error=self.error,
        )

    def mark_connected(self) -> None:
        self.connected = True
        self.started = time.monotonic()

    def stop_listening(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
            self.listen_port = None

    def finish(self, error: str) -> None:
        """Record the end (``error`` empty on success); only the first call counts."""
        if self.done:
            return
        self.stop_listening()
        self.ended = time.monotonic()
        self.success, self.error, self.done = not error, error, True
        if error:
            log.warning("%s %s failed: %s", self.mode, self.name, error)

    async def abort(self) -> None:
        """Cancel the transfer (a finished one is left as it is) and wait for it."""
        self.stop_listening()
        task = self.task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])
        self.finish("Aborted")


async def _run(transfer: Transfer, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``work`` and record how it ended."""
    error = ""
    try:
        await work()
    except asyncio.CancelledError:
        error = "Aborted"
    except TimeoutError:
        error = f"Timed out: the peer neither sent nor took data for {IDLE_TIMEOUT:g} seconds"
    except (ImportExportError, OSError, EOFError) as err:
        error = str(err) or type(err).__name__
    except Exception as err:
        log.exception("%s %s failed unexpectedly", transfer.mode, transfer.name)
        error = f"Internal error: {type(err).__name__}: {err}"
    finally:
        transfer.finish(error)


async def _in_thread(func: Callable[..., T], *args: Any) -> T:
    """``func(*args)`` in a thread; a cancellation waits for the thread to return first,
    so that nothing it uses (the disk's descriptor) is closed under it."""
    future = asyncio.ensure_future(asyncio.to_thread(func, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise


def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.close()


# --- import -------------------------------------------------------------------------


async def start_import(
    name: str, address: str, context: ssl.SSLContext, path: str, opts: ImpExpOptions
) -> Transfer:
    """Listen for the exporter; the returned transfer carries its port and task.

    Raises:
        ImportExportError: the address cannot be bound.
    """
    transfer = Transfer(name=name, mode="import")
    accepted: asyncio.Future[Stream] = asyncio.get_running_loop().create_future()

    def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if accepted.done():
            _close(writer)
            return
        transfer.stop_listening()
        accepted.set_result((reader, writer))

    try:
        transfer.server = await asyncio.start_server(
            on_connect, address, 0, ssl=context, ssl_handshake_timeout=HANDSHAKE_TIMEOUT,
            limit=READ_SIZE)
    except OSError as err:
        raise ImportExportError(f"Cannot listen on {address}: {err.strerror}") from None
    transfer.listen_port = int(transfer.server.sockets[0].getsockname()[1])
    transfer.task = asyncio.create_task(
        _run(transfer, lambda: _import(transfer, accepted, path, opts)))
    return transfer


async def _import(
    transfer: Transfer, accepted: asyncio.Future[Stream], path: str, opts: ImpExpOptions
) -> None:
    try:
        async with asyncio.timeout(opts.connect_timeout):
            reader, writer = await accepted
    except TimeoutError:
        raise ImportExportError(
            f"No exporter connected within {opts.connect_timeout:g} seconds") from None
    finally:
        transfer.stop_listening()
    transfer.mark_connected()
    try:
        await _receive(transfer, reader, path, opts)
    except (ImportExportError, OSError) as err:
        with contextlib.suppress(Exception):
            writer.write(Reply(False, str(err) or type(err).__name__).encode())
            await asyncio.wait_for(writer.drain(), 5)
        raise
    else:
        writer.write(Reply(True).encode())
        await asyncio.wait_for(writer.drain(), IDLE_TIMEOUT)
    finally:
        _close(writer)


async def _read_exactly(reader: asyncio.StreamReader, count: int) -> bytes:
    try:
        return await asyncio.wait_for(reader.readexactly(count), IDLE_TIMEOUT)
    except asyncio.IncompleteReadError:
        raise ImportExportError("The exporter closed the connection early") from None


async def _receive(
    transfer: Transfer, reader: asyncio.StreamReader, path: str, opts: ImpExpOptions
) -> None:
    length = header_length(await _read_exactly(reader, 4))
    header = decode_header(await _read_exactly(reader, length))
    if not hmac.compare_digest(header.magic.encode(), opts.magic.encode()):
        raise ImportExportError("The exporter presented the wrong magic; refusing its data")
    if header.compress != opts.compress:
        raise ImportExportError(
            f"The exporter compresses with {header.compress!r}, expected {opts.compress!r}")
    transfer.bytes_total = header.size
    disk = DiskWriter(path, header)
    try:
        while not disk.finished:
            data = await asyncio.wait_for(reader.read(READ_SIZE), IDLE_TIMEOUT)
            if not data:
                raise ImportExportError(
                    f"Connection closed after {disk.offset} of {disk.size} bytes")
            await _in_thread(disk.feed, data)
            transfer.bytes_done = disk.offset
    finally:
        disk.close()


# --- export -------------------------------------------------------------------------


def start_export(
    name: str, host: str, port: int, context: ssl.SSLContext, path: str, opts: ImpExpOptions
) -> Transfer:
    """Start sending ``path`` to the import listening at ``host:port``."""
    transfer = Transfer(name=name, mode="export")
    transfer.task = asyncio.create_task(
        _run(transfer, lambda: _export(transfer, host, port, context, path, opts)))
    return transfer


async def _export(
    transfer: Transfer, host: str, port: int, context: ssl.SSLContext, path: str,
    opts: ImpExpOptions,
) -> None:
    disk = DiskReader(path, opts.compress)
    try:
        transfer.bytes_total = disk.size
        try:
            async with asyncio.timeout(opts.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=context, ssl_handshake_timeout=HANDSHAKE_TIMEOUT)
        except (TimeoutError, OSError) as err:
            reason = "timed out" if isinstance(err, TimeoutError) else str(err)
            raise ImportExportError(f"Cannot connect to the import at {host}:{port}:"
                                    f" {reason}") from None
        transfer.mark_connected()
        try:
            await _send(transfer, disk, writer, Header(opts.magic, disk.size, opts.compress))
            line = await asyncio.wait_for(reader.readline(), VERDICT_TIMEOUT)
        finally:
            _close(writer)
    finally:
        disk.close()
    verdict = Reply.decode(line)
    if not verdict.ok:
        raise ImportExportError(f"The import refused the data: {verdict.reason}")


async def _send(
    transfer: Transfer, disk: DiskReader, writer: asyncio.StreamWriter, header: Header
) -> None:
    writer.write(header.encode())
    while (block := await _in_thread(disk.next_block)) is not None:
        if block:
            writer.write(block)
            await asyncio.wait_for(writer.drain(), IDLE_TIMEOUT)
        transfer.bytes_done = disk.offset
