"""TLS contexts for the node RPC, built from a node's crypto files.

A joined node serves its node certificate and requires a client certificate
signed by the cluster CA. An un-joined node serves a throw-away self-signed
certificate and asks for none; only the join calls are allowed then, and their
messages are authenticated by the join token instead (see ``corral.rpc.join``).

Clients never check host names (node names need not resolve), but always check
that the server certificate was issued by the cluster CA. Both ends require
TLS 1.2 or later.

Raises: every context builder raises :class:`corral.errors.RpcError` when a
file is missing or unusable; the cause is chained.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from pathlib import Path

from corral.errors import RpcError
from corral.layout import NodeLayout
from corral.rpc import pki

JOIN_CERT_NAME = "join-temp.pem"
JOIN_KEY_NAME = "join-temp.key"


def is_joined(layout: NodeLayout) -> bool:
    """Whether the node holds a node certificate (it has joined a cluster)."""
    return layout.node_cert.exists()


def join_cert_paths(layout: NodeLayout) -> tuple[Path, Path]:
    """Certificate and key of the join listener."""
    return layout.crypto_dir / JOIN_CERT_NAME, layout.crypto_dir / JOIN_KEY_NAME


@contextlib.contextmanager
def _loading(what: str) -> Iterator[None]:
    try:
        yield
    except (OSError, ssl.SSLError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise RpcError(f"Cannot load {what}: {reason}") from err


def _base_context(purpose: int) -> ssl.SSLContext:
    ctx = ssl.SSLContext(purpose)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION
    return ctx


def make_server_context(cert: Path, key: Path, ca: Path | None) -> ssl.SSLContext:
    """Serve ``cert``; with ``ca``, require a client certificate issued by it."""
    ctx = _base_context(ssl.PROTOCOL_TLS_SERVER)
    with _loading(f"server certificate {cert}"):
        ctx.load_cert_chain(cert, key)
    if ca is not None:
        with _loading(f"cluster CA {ca}"):
            ctx.load_verify_locations(cafile=ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def make_client_context(ca: Path | None, cert: Path | None, key: Path | None) -> ssl.SSLContext:
    """Verify servers against ``ca`` (none: no verification); present ``cert`` if given."""
    ctx = _base_context(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if ca is None:
        ctx.verify_mode = ssl.CERT_NONE
    else:
        with _loading(f"cluster CA {ca}"):
            ctx.load_verify_locations(cafile=ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    if cert is not None:
        with _loading(f"client certificate {cert}"):
            ctx.load_cert_chain(cert, key)
    return ctx


def server_ssl_context(layout: NodeLayout) -> ssl.SSLContext:
    """A joined node's listener: node certificate, client certificates required."""
    return make_server_context(layout.node_cert, layout.node_key, layout.ca_cert)


def client_ssl_context(layout: NodeLayout) -> ssl.SSLContext:
    """Calls to other nodes: present the node certificate, trust only the cluster CA."""
    return make_client_context(layout.ca_cert, layout.node_cert, layout.node_key)


def join_client_ssl_context() -> ssl.SSLContext:
    """The master's side of the join handshake: no verification (the token MAC protects it)."""
    return make_client_context(None, None, None)


def ensure_join_cert(layout: NodeLayout) -> tuple[Path, Path]:
    """Create the join listener's self-signed certificate unless it exists."""
    cert_path, key_path = join_cert_paths(layout)
    if not (cert_path.exists() and key_path.exists()):
        layout.crypto_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        key, cert = pki.create_self_signed("corral-join")
        pki.save_key(key_path, key)
        pki.save_cert(cert_path, cert)
    return cert_path, key_path


def join_server_ssl_context(layout: NodeLayout) -> ssl.SSLContext:
    """An un-joined node's listener: a self-signed certificate, no client certificate."""
    cert_path, key_path = ensure_join_cert(layout)
    return make_server_context(cert_path, key_path, None)


def remove_join_cert(layout: NodeLayout) -> None:
    """Delete the join listener's certificate once the node has joined."""
    for path in join_cert_paths(layout):
        path.unlink(missing_ok=True)
