"""TLS contexts built from a node's crypto files."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from corral.errors import RpcError
from corral.layout import NodeLayout
from corral.rpc import pki, tls


@pytest.fixture
def layout(tmp_path: Path) -> NodeLayout:
    layout = NodeLayout(tmp_path)
    layout.ensure_dirs()
    return layout


def install(layout: NodeLayout) -> None:
    ca_key, ca_cert = pki.create_ca("c")
    key = pki.generate_key()
    pki.save_cert(layout.ca_cert, ca_cert)
    pki.save_key(layout.node_key, key)
    pki.save_cert(layout.node_cert, pki.sign_csr(pki.create_csr(key, "n"), ca_key, ca_cert, "n"))


def test_joined_contexts_require_certificates(layout: NodeLayout) -> None:
    install(layout)
    assert tls.is_joined(layout)
    server = tls.server_ssl_context(layout)
    client = tls.client_ssl_context(layout)
    assert server.verify_mode is ssl.CERT_REQUIRED
    assert client.verify_mode is ssl.CERT_REQUIRED
    assert not client.check_hostname
    for ctx in (server, client):
        assert ctx.minimum_version is ssl.TLSVersion.TLSv1_2


def test_join_listener_creates_a_self_signed_certificate_once(layout: NodeLayout) -> None:
    assert not tls.is_joined(layout)
    ctx = tls.join_server_ssl_context(layout)
    assert ctx.verify_mode is ssl.CERT_NONE
    cert_path, key_path = tls.join_cert_paths(layout)
    assert key_path.stat().st_mode & 0o777 == 0o600
    first = cert_path.read_bytes()
    tls.join_server_ssl_context(layout)
    assert cert_path.read_bytes() == first
    tls.remove_join_cert(layout)
    assert not cert_path.exists()
    assert not key_path.exists()


def test_join_client_verifies_nothing() -> None:
    ctx = tls.join_client_ssl_context()
    assert ctx.verify_mode is ssl.CERT_NONE
    assert not ctx.check_hostname


def test_missing_files_are_clear_errors(layout: NodeLayout) -> None:
    with pytest.raises(RpcError, match=r"Cannot load server certificate .*node\.pem"):
        tls.server_ssl_context(layout)
    with pytest.raises(RpcError, match=r"Cannot load cluster CA .*ca\.pem"):
        tls.client_ssl_context(layout)
