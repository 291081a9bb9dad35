"""The cluster's small PKI: a CA, node keys, CSRs and node certificates.

Keys are ECDSA on curve P-256. Compared with RSA 2048 (about the same strength),
key generation takes well under a millisecond instead of tens of milliseconds,
signatures and handshakes are cheaper, certificates are a third of the size, and
every TLS 1.2/1.3 stack in use supports it. Generation speed matters here: each
join creates a key, and tests and virtual clusters create many.

Validity: the CA lives 10 years, node certificates 5 years. Node certificates
carry the node name as CN and DNS SAN, the node address as IP SAN, and both the
serverAuth and clientAuth usages, because a node serves RPC and the master (and
nodes talking to nodes) present their own node certificate as client certificate.

Raises: every loader raises :class:`corral.errors.RpcError` with a message that
names what could not be read or parsed; the cause is chained.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import ipaddress
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from corral.errors import RpcError
from corral.serde import atomic_write

PrivateKey = ec.EllipticCurvePrivateKey

CA_VALIDITY = datetime.timedelta(days=3650)
NODE_VALIDITY = datetime.timedelta(days=5 * 365)
_BACKDATE = datetime.timedelta(hours=1)
"""Certificates start an hour in the past so that small clock skews do not reject them."""

KEY_MODE = 0o600
CERT_MODE = 0o644


# --- keys, CSRs, certificates ---------------------------------------------


def generate_key() -> PrivateKey:
    """A new P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def create_ca(cluster_name: str) -> tuple[PrivateKey, x509.Certificate]:
    """A new cluster CA: its key and a self-signed certificate valid for 10 years."""
    key = generate_key()
    name = _name(f"corral-ca:{cluster_name}")
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def create_csr(key: PrivateKey, node_name: str) -> x509.CertificateSigningRequest:
    """A certificate signing request for ``node_name`` over ``key``."""
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_name(node_name))
        .sign(key, hashes.SHA256())
    )


def _alt_names(node_name: str, address: str | None) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = [x509.DNSName(node_name)]
    if address:
        with contextlib.suppress(ValueError):
            names.append(x509.IPAddress(ipaddress.ip_address(address)))
    return x509.SubjectAlternativeName(names)


def sign_csr(
    csr: x509.CertificateSigningRequest,
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    node_name: str,
    address: str | None = None,
) -> x509.Certificate:
    """A 5-year node certificate for the CSR's key, issued by the CA.

    The subject comes from ``node_name`` (the CSR's own subject is ignored); ``address``
    becomes an IP SAN when it is an IP address.

    Raises:
        RpcError: the CSR's signature is invalid (it was tampered with).
    """
    if not csr.is_signature_valid:
        raise RpcError(f"Certificate signing request for {node_name} has an invalid signature")
    now = _now()
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    public_key = csr.public_key()
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(node_name))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + NODE_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(_alt_names(node_name, address), critical=False)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
    )
    return builder.sign(ca_key, hashes.SHA256())


def create_self_signed(common_name: str, days: int = 3650) -> tuple[PrivateKey, x509.Certificate]:
    """A throw-away self-signed server certificate (the join listener's)."""
    key = generate_key()
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(_alt_names(common_name, None), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


# --- checks ------------------------------------------------------------------


def is_ca(cert: x509.Certificate) -> bool:
    """Whether ``cert`` is marked as a CA (basicConstraints ca=true)."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return ext.value.ca


def is_issued_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    """Whether ``ca_cert`` issued and signed ``cert``."""
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def matches_key(cert: x509.Certificate, key: PrivateKey) -> bool:
    """Whether ``cert`` certifies the public half of ``key``."""
    return _spki(cert.public_key()) == _spki(key.public_key())


def _spki(public_key: object) -> bytes:
    return public_key.public_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def common_name(cert: x509.Certificate) -> str:
    """The subject's CN, or ``""``."""
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lower-case hex."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


# --- PEM ---------------------------------------------------------------------


def key_to_pem(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM (the file's mode is what protects it)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_to_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def csr_to_pem(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.PEM)


@contextlib.contextmanager
def _parsing(what: str) -> Iterator[None]:
    try:
        yield
    except (ValueError, TypeError) as err:
        raise RpcError(f"Cannot parse {what}: {err}") from err


def load_key_pem(data: bytes | str, what: str = "private key") -> PrivateKey:
    """Parse a PEM private key; only P-256 EC keys are accepted."""
    raw = data.encode() if isinstance(data, str) else data
    with _parsing(what):
        key = serialization.load_pem_private_key(raw, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise RpcError(f"Cannot use {what}: not an EC key")
    return key


def load_cert_pem(data: bytes | str, what: str = "certificate") -> x509.Certificate:
    """Parse one PEM certificate."""
    with _parsing(what):
        return x509.load_pem_x509_certificate(data.encode() if isinstance(data, str) else data)


def load_csr_pem(
    data: bytes | str, what: str = "certificate request"
) -> x509.CertificateSigningRequest:
    """Parse one PEM certificate signing request."""
    with _parsing(what):
        return x509.load_pem_x509_csr(data.encode() if isinstance(data, str) else data)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise RpcError(f"Cannot read {path}: {err.strerror}") from err


def save_key(path: Path, key: PrivateKey) -> None:
    """Write ``key`` atomically with mode 0600."""
    atomic_write(path, key_to_pem(key), mode=KEY_MODE)


def save_cert(path: Path, cert: x509.Certificate) -> None:
    """Write ``cert`` atomically with mode 0644."""
    atomic_write(path, cert_to_pem(cert), mode=CERT_MODE)


def load_key(path: Path) -> PrivateKey:
    return load_key_pem(_read(path), str(path))


def load_cert(path: Path) -> x509.Certificate:
    return load_cert_pem(_read(path), str(path))
