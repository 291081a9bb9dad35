"""The RAPI server certificate: issued by the cluster CA at init, usable by TLS clients."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

from cryptography import x509

from corral.bootstrap.init import create_rapi_certificate, ensure_rapi_certificate
from corral.daemons.masterd import rapi_hosts
from corral.layout import NodeLayout
from corral.rpc import pki
from corral.rpc.tls import make_server_context
from tests.support.config import standard_cluster


def _layout_with_ca(tmp_path: Path) -> NodeLayout:
    layout = NodeLayout(tmp_path)
    layout.ensure_dirs()
    ca_key, ca_cert = pki.create_ca("cluster.example.com")
    pki.save_key(layout.ca_key, ca_key)
    pki.save_cert(layout.ca_cert, ca_cert)
    return layout


def test_certificate_is_issued_by_the_cluster_ca_for_the_names(tmp_path: Path) -> None:
    layout = _layout_with_ca(tmp_path)
    ca_key, ca_cert = pki.load_key(layout.ca_key), pki.load_cert(layout.ca_cert)
    create_rapi_certificate(layout, ca_key, ca_cert, ["cluster.example.com", "node1"],
                            ["192.0.2.10", "192.0.2.1"])
    cert = pki.load_cert(layout.rapi_cert)
    assert pki.is_issued_by(cert, ca_cert)
    assert pki.common_name(cert) == "cluster.example.com"
    assert pki.matches_key(cert, pki.load_key(layout.rapi_key))
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["cluster.example.com", "node1"]
    assert sans.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("192.0.2.10"), ipaddress.ip_address("192.0.2.1")]
    assert layout.rapi_key.stat().st_mode & 0o777 == 0o600
    assert isinstance(make_server_context(layout.rapi_cert, layout.rapi_key, None),
                      ssl.SSLContext)


def test_ensure_creates_once_and_needs_the_ca_key(tmp_path: Path) -> None:
    bare = NodeLayout(tmp_path / "bare")
    assert ensure_rapi_certificate(bare, ["c"], ["192.0.2.1"]) is False
    layout = _layout_with_ca(tmp_path / "master")
    assert ensure_rapi_certificate(layout, ["c"], ["192.0.2.1"]) is True
    first = layout.rapi_cert.read_bytes()
    assert ensure_rapi_certificate(layout, ["c"], ["192.0.2.1"]) is True
    assert layout.rapi_cert.read_bytes() == first


def test_rapi_listens_on_the_master_primary_ip_and_the_master_ip() -> None:
    builder = standard_cluster(2)
    assert rapi_hosts(builder.data) == ["192.0.2.1"]
    builder.set_cluster(master_ip="192.0.2.100")
    assert rapi_hosts(builder.data) == ["192.0.2.1", "192.0.2.100"]
