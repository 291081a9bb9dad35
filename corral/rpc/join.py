"""The secure join handshake, master side, and the MACs both sides compute.

A node without a certificate holds a one-time join token (shown to the operator).
The master proves it knows the token, and the node proves it too, with
HMAC-SHA256 over each message and a fresh nonce, so the exchange can run over a
TLS connection that verifies nothing:

1. master → node  ``node_join_begin(cluster_name, node_name, ca_pem, nonce,
   HMAC(token, "begin|cluster|node|ca_pem|nonce"))``
2. node → master  ``{"csr": pem, "mac": HMAC(token, "csr|pem|nonce")}``
3. master signs the CSR with the cluster CA and sends
   ``node_join_finish(cert_pem, nonce, HMAC(token, "finish|cert_pem|nonce"))``
4. the node checks the certificate against its key and the CA from step 1,
   installs them, deletes the token and restarts its listener in strict mode.

Nobody without the token can make the node install anything, or make the master
sign a key the node did not generate.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets

from corral.errors import RpcError
from corral.objects import names
from corral.rpc import pki
from corral.rpc.client import NodeTarget, RpcClient
from corral.rpc.nodes import NodeRpc
from corral.rpc.payloads import JoinCsr

CONFIRM_TIMEOUT = 10.0
CONFIRM_INTERVAL = 0.05


def new_token() -> str:
    """A fresh join token: 32 random bytes, URL-safe base64."""
    return secrets.token_urlsafe(32)


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def join_mac(token: str, *parts: str) -> str:
    """HMAC-SHA256 (hex) keyed by the token over ``"|".join(parts)``."""
    message = "|".join(parts).encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def mac_matches(token: str, mac: str, *parts: str) -> bool:
    """Constant-time check of ``mac`` against :func:`join_mac`."""
    return hmac.compare_digest(join_mac(token, *parts).encode(), mac.encode(errors="replace"))


def check_name(value: str, what: str) -> None:
    """The object name syntax (:mod:`corral.objects.names`) as a join-protocol error.

    Raises:
        RpcError: ``value`` is not a valid name.
    """
    try:
        names.check_name(value, what)
    except names.InvalidName as err:
        raise RpcError(str(err)) from None


def _csr_from_answer(token: str, answer: JoinCsr | None, nonce: str, node: str) -> str:
    if answer is None:
        raise RpcError(f"Node {node} sent a malformed join answer")
    csr = answer.csr
    if not mac_matches(token, answer.mac, "csr", csr, nonce):
        raise RpcError(f"Node {node} did not prove knowledge of the join token; not signing")
    return csr


async def join_node(
    client: RpcClient,
    target: NodeTarget,
    token: str,
    cluster_name: str,
    node_name: str,
    ca_cert_pem: str,
    ca_key: pki.PrivateKey,
    *,
    confirm_with: RpcClient | None = None,
) -> str:
    """Run the handshake with an un-joined node; returns the node certificate (PEM).

    ``client`` should use :func:`corral.rpc.tls.join_client_ssl_context`. With
    ``confirm_with`` (a client holding a cluster certificate), also wait until the
    node answers ``version`` over its restarted, strict listener.

    Raises:
        RpcError: the node is unreachable, refused the token, answered without
            proving the token (nothing is signed then), or does not come back in
            strict mode within :data:`CONFIRM_TIMEOUT`.
    """
    check_name(cluster_name, "cluster name")
    check_name(node_name, "node name")
    ca_cert = pki.load_cert_pem(ca_cert_pem, "cluster CA certificate")
    nonce = new_nonce()
    begin_mac = join_mac(token, "begin", cluster_name, node_name, ca_cert_pem, nonce)
    rpc = NodeRpc(client)
    begun = await rpc.node_join_begin(
        target, cluster_name, node_name, ca_cert_pem, nonce, begin_mac
    )
    if not begun.ok:
        raise RpcError(f"Node {target.name} refused to start joining: {begun.fail_msg}")
    csr_pem = _csr_from_answer(token, begun.payload, nonce, target.name)
    csr = pki.load_csr_pem(csr_pem, f"certificate request of node {target.name}")
    cert = pki.sign_csr(csr, ca_key, ca_cert, node_name, target.address)
    cert_pem = pki.cert_to_pem(cert).decode()
    finish_mac = join_mac(token, "finish", cert_pem, nonce)
    finished = await rpc.node_join_finish(target, cert_pem, nonce, finish_mac)
    if not finished.ok:
        raise RpcError(f"Node {target.name} refused its certificate: {finished.fail_msg}")
    if finished.payload != pki.fingerprint(cert):
        raise RpcError(f"Node {target.name} reports a different certificate after joining")
    if confirm_with is not None:
        await confirm_joined(confirm_with, target)
    return cert_pem


async def confirm_joined(
    client: RpcClient, target: NodeTarget, timeout: float = CONFIRM_TIMEOUT
) -> None:
    """Wait until ``target`` answers ``version`` to a certificate-holding client.

    The node restarts its listener right after joining, so the first attempts may
    find no listener.

    Raises:
        RpcError: no answer within ``timeout`` seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = (await NodeRpc(client).version([target], rpc_timeout=timeout))[target.name]
        if result.ok:
            return
        if loop.time() >= deadline:
            raise RpcError(
                f"Node {target.name} joined but does not answer with its certificate: "
                f"{result.fail_msg}"
            )
        await asyncio.sleep(CONFIRM_INTERVAL)
