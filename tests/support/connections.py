"""Helpers for the connection-discipline tests: certificates, idle clients, closed checks."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

from corral.layout import NodeLayout
from corral.rpc import pki, tls

WAIT = 20.0
"""Upper bound when waiting for the server to close a connection (not a timing claim)."""


def server_certificate(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting it) for 127.0.0.1."""
    ca_key, ca_cert = pki.create_ca("test.example.com")
    key = pki.generate_key()
    cert = pki.sign_csr(pki.create_csr(key, "server"), ca_key, ca_cert, "server", "127.0.0.1")
    paths = {name: directory / f"{name}.pem" for name in ("ca", "cert", "key")}
    pki.save_cert(paths["ca"], ca_cert)
    pki.save_cert(paths["cert"], cert)
    pki.save_key(paths["key"], key)
    client = ssl.create_default_context(cafile=str(paths["ca"]))
    client.check_hostname = False
    return tls.make_server_context(paths["cert"], paths["key"], None), client


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def open_idle(port: int, count: int) -> list[Connection]:
    """``count`` plain TCP connections to 127.0.0.1:port that send nothing."""
    return [await asyncio.open_connection("127.0.0.1", port) for _ in range(count)]


async def closed_by_peer(reader: asyncio.StreamReader, within: float = WAIT) -> bool:
    """Whether the server closes the connection (reads are discarded) within ``within``."""
    try:
        async with asyncio.timeout(within):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except (ConnectionError, ssl.SSLError):
        pass
    return True


async def still_open(reader: asyncio.StreamReader, wait: float) -> bool:
    """Whether the connection is still open after ``wait`` seconds."""
    return not await closed_by_peer(reader, wait)


def close_all(connections: list[Connection]) -> None:
    for _, writer in connections:
        writer.close()


async def https_get(port: int, path: str, client: ssl.SSLContext) -> tuple[int, bytes]:
    """A one-shot HTTPS GET on a new connection: (status, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def joined_layout(root: Path, name: str, ca_key: pki.PrivateKey, ca_cert: Any) -> NodeLayout:
    """A node root holding the cluster CA and a node certificate it signed for ``name``."""
    layout = NodeLayout(root)
    layout.ensure_dirs()
    key = pki.generate_key()
    cert = pki.sign_csr(pki.create_csr(key, name), ca_key, ca_cert, name, "127.0.0.1")
    pki.save_cert(layout.ca_cert, ca_cert)
    pki.save_key(layout.node_key, key)
    pki.save_cert(layout.node_cert, cert)
    return layout
