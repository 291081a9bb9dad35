"""The cluster PKI: CA, CSRs, node certificates, PEM files."""

from __future__ import annotations

import hashlib
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from corral.errors import RpcError
from corral.rpc import pki


@pytest.fixture(scope="module")
def ca() -> tuple[pki.PrivateKey, x509.Certificate]:
    return pki.create_ca("cluster.example.com")


def node_cert(ca: tuple[pki.PrivateKey, x509.Certificate], address: str | None = "192.0.2.7"
              ) -> tuple[pki.PrivateKey, x509.Certificate]:
    key = pki.generate_key()
    csr = pki.create_csr(key, "ignored-subject")
    return key, pki.sign_csr(csr, ca[0], ca[1], "node1.example.com", address)


def test_ca_is_a_ten_year_ca(ca: tuple[pki.PrivateKey, x509.Certificate]) -> None:
    cert = ca[1]
    assert pki.is_ca(cert)
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert 3650 <= lifetime.days <= 3651
    assert pki.is_issued_by(cert, cert)


def test_node_certificate_is_signed_by_the_ca(ca: tuple[pki.PrivateKey, x509.Certificate]) -> None:
    key, cert = node_cert(ca)
    assert pki.is_issued_by(cert, ca[1])
    assert pki.matches_key(cert, key)
    assert not pki.is_ca(cert)
    assert pki.common_name(cert) == "node1.example.com"
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert 5 * 365 <= lifetime.days <= 5 * 365 + 1


def test_node_certificate_names_and_usages(ca: tuple[pki.PrivateKey, x509.Certificate]) -> None:
    _, cert = node_cert(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["node1.example.com"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("192.0.2.7")]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}


def test_hostname_address_gives_no_ip_san(ca: tuple[pki.PrivateKey, x509.Certificate]) -> None:
    _, cert = node_cert(ca, address="node1.example.com")
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == []


def test_other_ca_and_other_key_do_not_verify(
    ca: tuple[pki.PrivateKey, x509.Certificate],
) -> None:
    _, cert = node_cert(ca)
    _, other_ca = pki.create_ca("other")
    assert not pki.is_issued_by(cert, other_ca)
    assert not pki.matches_key(cert, pki.generate_key())


def test_key_and_cert_files(tmp_path: Path, ca: tuple[pki.PrivateKey, x509.Certificate]) -> None:
    key, cert = node_cert(ca)
    pki.save_key(tmp_path / "key.pem", key)
    pki.save_cert(tmp_path / "cert.pem", cert)
    assert (tmp_path / "key.pem").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "cert.pem").stat().st_mode & 0o777 == 0o644
    assert pki.load_cert(tmp_path / "cert.pem") == cert
    assert pki.matches_key(cert, pki.load_key(tmp_path / "key.pem"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cert.pem", "key.pem"]


def test_fingerprint_is_sha256_of_der(ca: tuple[pki.PrivateKey, x509.Certificate]) -> None:
    cert = ca[1]
    der = cert.public_bytes(serialization.Encoding.DER)
    assert pki.fingerprint(cert) == hashlib.sha256(der).hexdigest()


def test_pem_round_trips(ca: tuple[pki.PrivateKey, x509.Certificate]) -> None:
    key, cert = node_cert(ca)
    assert pki.load_cert_pem(pki.cert_to_pem(cert).decode()) == cert
    assert pki.matches_key(cert, pki.load_key_pem(pki.key_to_pem(key)))
    csr = pki.create_csr(key, "n")
    assert pki.load_csr_pem(pki.csr_to_pem(csr)) == csr


@pytest.mark.parametrize(
    ("loader", "match"),
    [
        pytest.param(pki.load_cert_pem, "Cannot parse certificate", id="cert"),
        pytest.param(pki.load_key_pem, "Cannot parse private key", id="key"),
        pytest.param(pki.load_csr_pem, "Cannot parse certificate request", id="csr"),
    ],
)
def test_garbage_pem_is_a_clear_error(loader: object, match: str) -> None:
    with pytest.raises(RpcError, match=match):
        loader("not pem")  # type: ignore[operator]


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RpcError, match=r"Cannot read .*missing\.pem"):
        pki.load_cert(tmp_path / "missing.pem")


def test_tampered_csr_is_not_signed(ca: tuple[pki.PrivateKey, x509.Certificate]) -> None:
    der = bytearray(pki.create_csr(pki.generate_key(), "n").public_bytes(
        serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature
    csr = x509.load_der_x509_csr(bytes(der))
    with pytest.raises(RpcError, match="invalid signature"):
        pki.sign_csr(csr, ca[0], ca[1], "n")
