"""Master side of the join handshake: MACs, names, and distrust of the node's answer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from corral.backend.context import NodeContext
from corral.backend.handlers import HANDLERS, Handler
from corral.backend.server import start_server
from corral.errors import RpcError
from corral.layout import NodeLayout
from corral.rpc import pki, tls
from corral.rpc.client import NodeTarget, RpcClient
from corral.rpc.join import check_name, join_mac, join_node, mac_matches, new_token


def test_mac_binds_every_part() -> None:
    mac = join_mac("token", "begin", "cluster", "node", "ca", "nonce")
    assert len(mac) == 64
    assert mac_matches("token", mac, "begin", "cluster", "node", "ca", "nonce")
    assert not mac_matches("other", mac, "begin", "cluster", "node", "ca", "nonce")
    assert not mac_matches("token", mac, "begin", "cluster", "node", "ca", "nonce2")
    assert not mac_matches("token", mac, "finish", "cluster", "node", "ca", "nonce")
    assert not mac_matches("token", "ü", "begin")


def test_tokens_are_fresh_and_urlsafe() -> None:
    tokens = {new_token() for _ in range(20)}
    assert len(tokens) == 20
    for token in tokens:
        assert len(token) == 43
        assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize("name", ["", "a|b", "node 1", "-x", "x" * 300], ids=repr)
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(RpcError, match="Invalid node name"):
        check_name(name, "node name")


def test_master_signs_nothing_when_the_node_cannot_prove_the_token(tmp_path: Path) -> None:
    layout = NodeLayout(tmp_path / "node")
    layout.ensure_dirs()
    finished: list[str] = []
    csr_pem = pki.csr_to_pem(pki.create_csr(pki.generate_key(), "node1")).decode()

    async def impostor_begin(ctx: NodeContext, cluster_name: str, node_name: str, ca_pem: str,
                             nonce: str, mac: str) -> dict[str, str]:
        return {"csr": csr_pem, "mac": join_mac("guessed", "csr", csr_pem, nonce)}

    async def impostor_finish(ctx: NodeContext, cert_pem: str, nonce: str, mac: str) -> str:
        finished.append(cert_pem)
        return ""

    handlers: dict[str, Handler] = {**HANDLERS, "node_join_begin": impostor_begin,
                                    "node_join_finish": impostor_finish}
    ca_key, ca_cert = pki.create_ca("c")

    async def main() -> None:
        server = await start_server(NodeContext(layout=layout, node_name="?"), "127.0.0.1", 0,
                                    handlers=handlers)
        target = NodeTarget("node1", "127.0.0.1", server.port)
        try:
            async with RpcClient(tls.join_client_ssl_context()) as client:
                with pytest.raises(RpcError, match="did not prove knowledge of the join token"):
                    await join_node(client, target, "token", "c", "node1",
                                    pki.cert_to_pem(ca_cert).decode(), ca_key)
        finally:
            await server.stop()

    asyncio.run(main())
    assert finished == []


def test_unreachable_node_is_a_clear_error() -> None:
    ca_key, ca_cert = pki.create_ca("c")

    async def main() -> None:
        async with RpcClient(tls.join_client_ssl_context()) as client:
            with pytest.raises(RpcError, match="refused to start joining: Cannot connect"):
                await join_node(client, NodeTarget("n", "127.0.0.1", 1), "t", "c", "n",
                                pki.cert_to_pem(ca_cert).decode(), ca_key)

    asyncio.run(main())
