"""Node side of the join handshake (see :mod:`corral.rpc.join` for the protocol).

Until ``node_join_finish`` succeeds nothing is installed: ``node_join_begin``
keeps its key, the CA and the nonce in pending files (mode 0600) beside the
token. A request whose MAC does not match the token changes nothing.
"""

from __future__ import annotations

import hmac
import logging
from pathlib import Path

import msgspec
from cryptography import x509

from corral.backend.context import NodeContext
from corral.backend.handlers import handles
from corral.errors import RpcError
from corral.layout import NodeLayout
from corral.rpc import pki, tls
from corral.rpc.join import check_name, join_mac, mac_matches, new_token
from corral.rpc.payloads import JoinCsr
from corral.serde import atomic_write

log = logging.getLogger(__name__)

_PENDING = "join-pending.json"
_PENDING_KEY = "join-pending.key"


class PendingJoin(msgspec.Struct, frozen=True):
    """What ``node_join_begin`` accepted, waiting for the certificate."""

    cluster_name: str
    node_name: str
    ca_pem: str
    nonce: str


def _pending_paths(layout: NodeLayout) -> tuple[Path, Path]:
    return layout.crypto_dir / _PENDING, layout.crypto_dir / _PENDING_KEY


def ensure_join_token(layout: NodeLayout) -> str:
    """The node's join token, created (mode 0600) on first use.

    The token is a secret: it is never logged; the log names the file that holds it.
    """
    path = layout.join_token
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = ""
    if not token:
        layout.crypto_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        token = new_token()
        atomic_write(path, f"{token}\n".encode(), mode=0o600)
    log.info("join token in %s (readable by root only)", path)
    return token


def _refuse_if_joined(layout: NodeLayout) -> None:
    if tls.is_joined(layout):
        raise RpcError("This node has already joined a cluster; it refuses to join again")


def _read_token(layout: NodeLayout) -> str:
    try:
        token = layout.join_token.read_text().strip()
    except FileNotFoundError:
        token = ""
    if not token:
        raise RpcError("This node has no join token; restart its node daemon to create one")
    return token


def _require_mac(token: str, mac: str, *parts: str) -> None:
    if not mac_matches(token, mac, *parts):
        raise RpcError("Join refused: the request is not authenticated by this node's join token")


def _parse_ca(ca_pem: str) -> None:
    ca = pki.load_cert_pem(ca_pem, "cluster CA certificate")
    if not pki.is_ca(ca):
        raise RpcError("Join refused: the cluster CA certificate is not a CA certificate")


@handles("node_join_begin")
async def node_join_begin(
    ctx: NodeContext, cluster_name: str, node_name: str, ca_pem: str, nonce: str, mac: str
) -> JoinCsr:
    """Check the master's MAC, make a key and answer a CSR with the node's MAC."""
    layout = ctx.layout
    _refuse_if_joined(layout)
    token = _read_token(layout)
    _require_mac(token, mac, "begin", cluster_name, node_name, ca_pem, nonce)
    check_name(cluster_name, "cluster name")
    check_name(node_name, "node name")
    if not nonce:
        raise RpcError("Join refused: empty nonce")
    _parse_ca(ca_pem)
    key = pki.generate_key()
    csr_pem = pki.csr_to_pem(pki.create_csr(key, node_name)).decode()
    pending_path, key_path = _pending_paths(layout)
    pki.save_key(key_path, key)
    pending = PendingJoin(cluster_name, node_name, ca_pem, nonce)
    atomic_write(pending_path, msgspec.json.encode(pending), mode=0o600)
    return JoinCsr(csr=csr_pem, mac=join_mac(token, "csr", csr_pem, nonce))


def _load_pending(layout: NodeLayout) -> tuple[PendingJoin, pki.PrivateKey]:
    pending_path, key_path = _pending_paths(layout)
    try:
        data = pending_path.read_bytes()
    except FileNotFoundError:
        raise RpcError("No join in progress on this node (node_join_begin comes first)") from None
    try:
        pending = msgspec.json.decode(data, type=PendingJoin)
    except msgspec.DecodeError as err:
        raise RpcError(f"Corrupt pending join state in {pending_path}: {err}") from err
    return pending, pki.load_key(key_path)


def _check_cert(cert_pem: str, pending: PendingJoin, key: pki.PrivateKey) -> x509.Certificate:
    cert = pki.load_cert_pem(cert_pem, "node certificate")
    ca = pki.load_cert_pem(pending.ca_pem, "cluster CA certificate")
    if not pki.matches_key(cert, key):
        raise RpcError("Join refused: the certificate is not for this node's key")
    if not pki.is_issued_by(cert, ca):
        raise RpcError("Join refused: the certificate is not signed by the cluster CA")
    if pki.common_name(cert) != pending.node_name:
        raise RpcError(f"Join refused: the certificate is not for node {pending.node_name}")
    return cert


def _install(
    layout: NodeLayout, pending: PendingJoin, key: pki.PrivateKey, cert: x509.Certificate
) -> None:
    """Write the crypto files; the node certificate goes last (it marks the node joined)."""
    atomic_write(layout.ca_cert, pending.ca_pem.encode(), mode=pki.CERT_MODE)
    pki.save_key(layout.node_key, key)
    atomic_write(layout.node_name_file, f"{pending.node_name}\n".encode(), mode=0o644)
    pki.save_cert(layout.node_cert, cert)
    for path in (layout.join_token, *_pending_paths(layout)):
        path.unlink(missing_ok=True)


@handles("node_join_finish")
async def node_join_finish(ctx: NodeContext, cert_pem: str, nonce: str, mac: str) -> str:
    """Check the master's MAC and the certificate, install it; returns its fingerprint."""
    layout = ctx.layout
    _refuse_if_joined(layout)
    token = _read_token(layout)
    _require_mac(token, mac, "finish", cert_pem, nonce)
    pending, key = _load_pending(layout)
    if not hmac.compare_digest(pending.nonce.encode(), nonce.encode()):
        raise RpcError("Join refused: the nonce does not match the join in progress")
    cert = _check_cert(cert_pem, pending, key)
    _install(layout, pending, key, cert)
    ctx.node_name = pending.node_name
    log.info("Joined cluster %s as node %s", pending.cluster_name, pending.node_name)
    on_joined = ctx.services.on_joined
    if on_joined is not None:
        on_joined()
    return pki.fingerprint(cert)
