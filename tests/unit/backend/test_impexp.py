"""Disk copies between two node daemons over real TLS on 127.0.0.1.

Two node roots hold certificates of one test CA; the source disk is a file with data,
holes and a partial last chunk. Peers that are not what they must be (no certificate,
another CA's certificate, a corrupt or short stream, the wrong magic) are played by
hand-made clients.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl
import struct
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from corral.backend import blockdev, impexp
from corral.backend.context import NodeContext, NodeServices
from corral.backend.handlers import HANDLERS
from corral.backend.impexp_stream import CHUNK, Header, ImportExportError
from corral.backend.impexp_transfer import Transfer
from corral.backend.server import start_server
from corral.backend.ssconf import write_ssconf
from corral.objects import DiskTemplate, Instance
from corral.objects.bundle import InstanceBundle
from corral.objects.node_disk import NodeDisk
from corral.rpc import pki, tls
from corral.rpc.client import NodeTarget, RpcClient
from corral.rpc.nodes import NodeRpc
from corral.rpc.payloads import ImpExpIo, ImpExpOptions, ImpExpStatus
from corral.storage.naming import file_disk_path
from corral.testing.lvm import LvmSimulator
from tests.support.connections import closed_by_peer, joined_layout

STORAGE = "/srv/file-storage"
MAGIC = "m4g1c"
SIZE = 5 * CHUNK + 12345
"""Five whole chunks and a partial one."""
WAIT = 30.0
"""Upper bound for a transfer on loopback to end (not a timing claim)."""


class Pair:
    """A CA and two joined nodes with file storage: ``source`` and ``target``."""

    def __init__(self, root: Path) -> None:
        self.ca_key, self.ca_cert = pki.create_ca("test.example.com")
        self.source = self._node(root, "node1")
        self.target = self._node(root, "node2")
        self.master = joined_layout(root / "master", "master", self.ca_key, self.ca_cert)
        self.disk = NodeDisk(uuid="d1", dev_type=DiskTemplate.FILE, size=6, iv_name="disk/0",
                             logical_id=("loop", file_disk_path(STORAGE, "inst1", "d1", 0)))
        inst = Instance(uuid="i1", name="inst1", primary_node="n1", hypervisor="fake",
                        disk_template=DiskTemplate.FILE, disks=("d1",))
        self.bundle = InstanceBundle(instance=inst, disks=(self.disk,))
        self.io = ImpExpIo(kind="raw-disk", disk=self.disk)

    def _node(self, root: Path, name: str) -> NodeContext:
        layout = joined_layout(root / name, name, self.ca_key, self.ca_cert)
        (layout.root / STORAGE.lstrip("/")).mkdir(parents=True)
        write_ssconf(layout, {"file_storage_dir": STORAGE})
        return NodeContext(layout=layout, node_name=name, address="127.0.0.1")

    def path(self, ctx: NodeContext) -> Path:
        return ctx.layout.root / str(self.disk.logical_id[1]).lstrip("/")

    async def create_disks(self, content: bytes) -> None:
        for ctx in (self.source, self.target):
            await blockdev.blockdev_create(ctx, self.disk, 6, "inst1", True, "", False)
        self.path(self.source).write_bytes(content)

    async def start_import(self, compress: str = "none", timeout: float = 60.0) -> tuple[str,
                                                                                       int]:
        opts = ImpExpOptions(compress=compress, magic=MAGIC, connect_timeout=timeout)
        handle = await impexp.import_start(self.target, opts, self.bundle, "disk/0", self.io)
        return handle.name, handle.port

    async def start_export(self, port: int, compress: str = "none") -> str:
        opts = ImpExpOptions(compress=compress, magic=MAGIC)
        return await impexp.export_start(self.source, opts, "127.0.0.1", port, self.bundle,
                                         "disk/0", self.io)

    def client_context(self) -> ssl.SSLContext:
        """What a genuine peer uses: the source node's certificate."""
        return tls.client_ssl_context(self.source.layout)

    async def cleanup(self) -> None:
        for ctx in (self.source, self.target):
            for name in list(ctx.services.transfers):
                await impexp.impexp_cleanup(ctx, name)


def content() -> bytes:
    """Random chunks, a hole of two chunks, and a random partial chunk."""
    rand = os.urandom
    return rand(CHUNK) + bytes(2 * CHUNK) + rand(CHUNK) + rand(CHUNK // 2) + \
        bytes(CHUNK // 2) + rand(12345)


def run(pair: Pair, body: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        try:
            await body()
        finally:
            await pair.cleanup()

    asyncio.run(main())


async def finished(ctx: NodeContext, name: str) -> ImpExpStatus:
    async with asyncio.timeout(WAIT):
        while True:
            (status,) = await impexp.impexp_status(ctx, [name])
            assert status is not None
            if status.done:
                return status
            await asyncio.sleep(0.02)


async def listening(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


@pytest.fixture
def pair(tmp_path: Path) -> Pair:
    return Pair(tmp_path)


def test_handlers_are_registered() -> None:
    assert HANDLERS["import_start"] is impexp.import_start
    assert HANDLERS["impexp_cleanup"] is impexp.impexp_cleanup


@pytest.mark.parametrize("compress", ["none", "gzip", "gzip-fast"])
def test_disk_is_copied_verified_and_the_listener_closed(pair: Pair, compress: str) -> None:
    data = content()

    async def body() -> None:
        await pair.create_disks(data)
        name, port = await pair.start_import(compress)
        (waiting,) = await impexp.impexp_status(pair.target, [name])
        assert waiting is not None
        assert (waiting.listen_port, waiting.connected, waiting.done) == (port, False, False)
        export = await pair.start_export(port, compress)
        imported, exported = await finished(pair.target, name), await finished(pair.source,
                                                                                export)
        assert (imported.success, imported.error) == (True, "")
        assert (exported.success, exported.error) == (True, "")
        assert imported.bytes_done == imported.bytes_total == len(data)
        assert exported.bytes_done == exported.bytes_total == len(data)
        assert imported.listen_port is None
        assert not await listening(port)

    run(pair, body)
    assert pair.path(pair.target).read_bytes() == data


def test_holes_stay_holes_in_a_file_destination(pair: Pair) -> None:
    data = bytes(SIZE - 100) + b"x" * 100

    async def body() -> None:
        await pair.create_disks(data)
        name, port = await pair.start_import()
        await pair.start_export(port)
        assert (await finished(pair.target, name)).success

    run(pair, body)
    target = pair.path(pair.target)
    assert target.read_bytes() == data
    assert target.stat().st_blocks * 512 < CHUNK


def test_the_whole_path_through_the_rpc_servers(pair: Pair) -> None:
    data = content()

    async def body() -> None:
        await pair.create_disks(data)
        servers = [await start_server(ctx, "127.0.0.1", 0) for ctx in (pair.source, pair.target)]
        rpc = NodeRpc(RpcClient(tls.client_ssl_context(pair.master)))
        source, target = (NodeTarget(ctx.node_name, "127.0.0.1", server.port)
                          for ctx, server in zip((pair.source, pair.target), servers,
                                                 strict=True))
        try:
            opts = ImpExpOptions(compress="gzip", magic=MAGIC)
            started = await rpc.import_start(target, opts, pair.bundle, "disk/0", pair.io)
            handle = started.raise_for_failure()
            assert handle.address == "127.0.0.1"
            sent = await rpc.export_start(source, opts, "127.0.0.1", handle.port,
                                          pair.bundle, "disk/0", pair.io)
            await finished(pair.source, sent.raise_for_failure())
            status = await rpc.impexp_status(target, [handle.name, "nothing"])
            imported, unknown = status.raise_for_failure()
            assert unknown is None
            assert imported is not None
            assert imported.success
            assert (await rpc.impexp_cleanup(target, handle.name)).ok
            assert (await rpc.impexp_status(target, [handle.name])).payload == [None]
            refused = await rpc.import_start(target, ImpExpOptions(compress="lzop"),
                                             pair.bundle, "disk/0", pair.io)
            assert "Unsupported compression 'lzop'" in (refused.fail_msg or "")
        finally:
            await rpc.close()
            for server in servers:
                await server.stop()

    run(pair, body)
    assert pair.path(pair.target).read_bytes() == data


def test_a_logical_volume_is_copied_between_simulated_volume_groups(pair: Pair,
                                                                    tmp_path: Path) -> None:
    disk = NodeDisk(uuid="d2", dev_type=DiskTemplate.PLAIN, size=8, iv_name="disk/0",
                    logical_id=("xenvg", "d2.disk0"))
    io = ImpExpIo(kind="raw-disk", disk=disk)
    for ctx in (pair.source, pair.target):
        sim = LvmSimulator(tmp_path / f"dev-{ctx.node_name}")
        ctx.services = NodeServices(lvm_runner=sim, storage_dev_dir=sim.dev_dir)
    data = os.urandom(3 * CHUNK) + bytes(5 * CHUNK)

    async def body() -> None:
        created = [await blockdev.blockdev_create(ctx, disk, 8, "inst1", True, "", False)
                   for ctx in (pair.source, pair.target)]
        Path(created[0].path).write_bytes(data)
        opts = ImpExpOptions(compress="gzip-slow", magic=MAGIC)
        handle = await impexp.import_start(pair.target, opts, pair.bundle, "disk/0", io)
        await impexp.export_start(pair.source, opts, "127.0.0.1", handle.port, pair.bundle,
                                  "disk/0", io)
        assert (await finished(pair.target, handle.name)).success
        assert Path(created[1].path).read_bytes() == data

    run(pair, body)


# --- peers that must be refused ------------------------------------------------------------


def _foreign_context(tmp_path: Path, pair: Pair) -> ssl.SSLContext:
    """A client certificate from another CA (it still trusts the right CA for the server)."""
    ca_key, ca_cert = pki.create_ca("other.example.com")
    layout = joined_layout(tmp_path / "intruder", "node1", ca_key, ca_cert)
    return tls.make_client_context(pair.target.layout.ca_cert, layout.node_cert,
                                   layout.node_key)


def _anonymous_context(pair: Pair) -> ssl.SSLContext:
    return tls.make_client_context(pair.target.layout.ca_cert, None, None)


async def _refused(port: int, context: ssl.SSLContext) -> bool:
    """Whether a client with ``context`` fails to deliver anything to the import."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    except (ssl.SSLError, ConnectionError):
        return True
    try:
        writer.write(Header(MAGIC, 0, "none").encode())
        await writer.drain()
        return await closed_by_peer(reader)
    except (ssl.SSLError, ConnectionError):
        return True
    finally:
        writer.close()


def test_clients_without_a_cluster_certificate_are_refused(pair: Pair, tmp_path: Path) -> None:
    data = content()

    async def body() -> None:
        await pair.create_disks(data)
        name, port = await pair.start_import()
        assert await _refused(port, _anonymous_context(pair))
        assert await _refused(port, _foreign_context(tmp_path, pair))
        (status,) = await impexp.impexp_status(pair.target, [name])
        assert status is not None
        assert (status.connected, status.done, status.listen_port) == (False, False, port)
        await pair.start_export(port)
        assert (await finished(pair.target, name)).success

    run(pair, body)
    assert pair.path(pair.target).read_bytes() == data


async def _hand_made_export(pair: Pair, port: int, body: bytes, magic: str = MAGIC,
                            size: int = 2 * CHUNK, compress: str = "none") -> bytes:
    """Send a header and ``body`` as a genuine node would; the importer's answer line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=pair.client_context())
    try:
        writer.write(Header(magic, size, compress).encode() + body)
        await writer.drain()
        async with asyncio.timeout(WAIT):
            return await reader.readline()
    finally:
        writer.close()


def _record(kind: bytes, payload: bytes = b"", length: int | None = None) -> bytes:
    return struct.pack(">cQ", kind, len(payload) if length is None else length) + payload


def _good_body(data: bytes) -> list[bytes]:
    return [_record(b"D", data[:CHUNK]), _record(b"D", data[CHUNK:]),
            _record(b"E", hashlib.sha256(data).digest())]


STREAMS: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "flipped-byte": (
        lambda d: b"".join([_record(b"D", d[:CHUNK]),
                            _record(b"D", d[CHUNK:-1] + bytes([d[-1] ^ 1])),
                            _record(b"E", hashlib.sha256(d).digest())]),
        "Checksum mismatch",
    ),
    "short": (lambda d: b"".join([_good_body(d)[0], _good_body(d)[2]]),
              f"Stream ended after {CHUNK} of {2 * CHUNK} bytes"),
    "too-long": (lambda d: b"".join([*_good_body(d)[:2], _record(b"D", b"x")]),
                 "data beyond the announced"),
    "garbage": (lambda d: b"\x00" * 64, "Corrupt stream: record"),
}


@pytest.mark.parametrize("case", list(STREAMS))
def test_a_corrupt_stream_fails_the_import(pair: Pair, case: str) -> None:
    data = os.urandom(2 * CHUNK)
    build, error = STREAMS[case]

    async def body() -> None:
        await pair.create_disks(b"")
        name, port = await pair.start_import()
        answer = await _hand_made_export(pair, port, build(data))
        status = await finished(pair.target, name)
        assert (status.success, status.done) == (False, True)
        assert error in status.error
        assert answer.decode().startswith("ERR ")
        assert error in answer.decode()

    run(pair, body)


def test_the_compression_must_match_and_decompress(pair: Pair) -> None:
    async def body() -> None:
        await pair.create_disks(b"")
        name, port = await pair.start_import("gzip")
        answer = await _hand_made_export(pair, port, b"", compress="none")
        assert "The exporter compresses with 'none', expected 'gzip'" in answer.decode()
        assert "expected 'gzip'" in (await finished(pair.target, name)).error
        name, port = await pair.start_import("gzip")
        answer = await _hand_made_export(pair, port, b"not gzip at all" * 10, compress="gzip")
        assert "Corrupt stream: cannot decompress" in answer.decode()

    run(pair, body)


def test_a_closed_connection_fails_the_import(pair: Pair) -> None:
    async def body() -> None:
        await pair.create_disks(b"")
        name, port = await pair.start_import()
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=pair.client_context())
        writer.write(Header(MAGIC, 2 * CHUNK, "none").encode() + _record(b"D", b"abc"))
        await writer.drain()
        writer.close()
        status = await finished(pair.target, name)
        assert not status.success
        assert "Connection closed after 3 of" in status.error

    run(pair, body)


def test_the_wrong_magic_is_refused(pair: Pair) -> None:
    data = os.urandom(2 * CHUNK)

    async def body() -> None:
        await pair.create_disks(b"")
        name, port = await pair.start_import()
        answer = await _hand_made_export(pair, port, b"".join(_good_body(data)), magic="other")
        status = await finished(pair.target, name)
        assert "wrong magic" in status.error
        assert answer.startswith(b"ERR ")
        assert not await listening(port)

    run(pair, body)
    assert pair.path(pair.target).read_bytes() == bytes(6 * CHUNK)


# --- abort, timeouts, refusals ----------------------------------------------------------


def test_abort_ends_a_running_import_and_closes_its_connection(pair: Pair) -> None:
    async def body() -> None:
        await pair.create_disks(b"")
        name, port = await pair.start_import()
        reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                       ssl=pair.client_context())
        writer.write(Header(MAGIC, 2 * CHUNK, "none").encode() + _record(b"D", b"abc"))
        await writer.drain()
        async with asyncio.timeout(WAIT):
            while not (await impexp.impexp_status(pair.target, [name]))[0].bytes_done:  # type: ignore[union-attr]
                await asyncio.sleep(0.01)
        await impexp.impexp_abort(pair.target, name)
        (status,) = await impexp.impexp_status(pair.target, [name])
        assert status is not None
        assert (status.done, status.success, status.error) == (True, False, "Aborted")
        assert await closed_by_peer(reader)
        writer.close()

    run(pair, body)


def test_abort_of_a_waiting_import_stops_listening(pair: Pair) -> None:
    async def body() -> None:
        await pair.create_disks(b"")
        name, port = await pair.start_import()
        assert await listening(port)
        await impexp.impexp_abort(pair.target, name)
        assert not await listening(port)
        assert (await finished(pair.target, name)).error == "Aborted"

    run(pair, body)


def test_an_import_nobody_connects_to_gives_up(pair: Pair) -> None:
    async def body() -> None:
        await pair.create_disks(b"")
        name, port = await pair.start_import(timeout=0.2)
        status = await finished(pair.target, name)
        assert status.error == "No exporter connected within 0.2 seconds"
        assert not await listening(port)

    run(pair, body)


def test_an_export_to_nobody_fails(pair: Pair) -> None:
    async def body() -> None:
        await pair.create_disks(content())
        name, port = await pair.start_import()
        await impexp.impexp_abort(pair.target, name)
        export = await pair.start_export(port)
        status = await finished(pair.source, export)
        assert not status.success
        assert f"Cannot connect to the import at 127.0.0.1:{port}" in status.error

    run(pair, body)


def test_unknown_compression_and_missing_disks_are_refused(pair: Pair) -> None:
    async def body() -> None:
        with pytest.raises(ImportExportError, match=r"Unsupported compression 'lzop'.*"
                                                    r"none, gzip, gzip-fast, gzip-slow"):
            await pair.start_import("lzop")
        with pytest.raises(Exception, match="missing"):
            await pair.start_import()
        assert pair.target.services.transfers == {}

    run(pair, body)


def test_transfers_nobody_cleaned_up_are_forgotten_after_an_hour(pair: Pair) -> None:
    async def body() -> None:
        await pair.create_disks(b"")
        now = time.monotonic()
        known = pair.target.services.transfers
        known["old"] = Transfer(name="old", mode="import", done=True, ended=now - 3601)
        known["recent"] = Transfer(name="recent", mode="import", done=True, ended=now - 60)
        name, _ = await pair.start_import()
        assert sorted(known) == sorted([name, "recent"])

    run(pair, body)


def test_cleanup_forgets_and_abort_names_unknown_transfers(pair: Pair) -> None:
    async def body() -> None:
        await pair.create_disks(b"")
        name, port = await pair.start_import()
        await impexp.impexp_cleanup(pair.target, name)
        assert await impexp.impexp_status(pair.target, [name]) == [None]
        assert not await listening(port)
        await impexp.impexp_cleanup(pair.target, name)
        with pytest.raises(ImportExportError, match="No import or export named"):
            await impexp.impexp_abort(pair.target, name)

    run(pair, body)

