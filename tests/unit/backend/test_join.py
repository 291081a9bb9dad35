"""The join handshake: node-side handlers, and the whole exchange over TLS."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

import corral.backend.basics  # noqa: F401  (registers "version")
from corral.backend.context import NodeContext
from corral.backend.join import ensure_join_token, node_join_begin, node_join_finish
from corral.backend.server import RpcServer, ServerState, start_server
from corral.errors import RpcError
from corral.layout import NodeLayout
from corral.rpc import pki, tls
from corral.rpc.client import NodeTarget, RpcClient
from corral.rpc.join import join_mac, join_node
from corral.version import PROTOCOL_VERSION
from tests.support.fake_rpc import wire

CLUSTER = "cluster.example.com"
NODE = "node1.example.com"


class Master:
    """The master's CA and its own node certificate (its RPC client certificate)."""

    def __init__(self, root: Path) -> None:
        self.ca_key, self.ca_cert = pki.create_ca(CLUSTER)
        self.ca_pem = pki.cert_to_pem(self.ca_cert).decode()
        self.layout = NodeLayout(root)
        self.layout.ensure_dirs()
        key = pki.generate_key()
        csr = pki.create_csr(key, "master")
        pki.save_cert(self.layout.ca_cert, self.ca_cert)
        pki.save_key(self.layout.node_key, key)
        pki.save_cert(self.layout.node_cert, pki.sign_csr(csr, self.ca_key, self.ca_cert, "master"))

    def client(self) -> RpcClient:
        return RpcClient(tls.client_ssl_context(self.layout))

    async def join(self, target: NodeTarget, token: str, confirm: bool = False) -> str:
        async with RpcClient(tls.join_client_ssl_context()) as client, self.client() as strict:
            return await join_node(
                client, target, token, CLUSTER, NODE, self.ca_pem, self.ca_key,
                confirm_with=strict if confirm else None,
            )


@pytest.fixture
def master(tmp_path: Path) -> Master:
    return Master(tmp_path / "master")


@pytest.fixture
def node_layout(tmp_path: Path) -> NodeLayout:
    layout = NodeLayout(tmp_path / "node")
    layout.ensure_dirs()
    return layout


def installed_files(layout: NodeLayout) -> list[str]:
    paths = [layout.node_cert, layout.node_key, layout.ca_cert, layout.node_name_file]
    return [p.name for p in paths if p.exists()]


def crypto_listing(layout: NodeLayout) -> set[str]:
    return {p.name for p in layout.crypto_dir.iterdir()}


def serve(layout: NodeLayout, body: Any) -> None:
    async def main() -> None:
        ctx = NodeContext(layout=layout, node_name="unknown")
        server = await start_server(ctx, "127.0.0.1", 0)
        try:
            await body(server, NodeTarget(NODE, "127.0.0.1", server.port), ctx)
        finally:
            await server.stop()

    asyncio.run(main())


def test_join_token_is_created_once_with_mode_0600(node_layout: NodeLayout) -> None:
    token = ensure_join_token(node_layout)
    assert len(token) >= 43
    assert ensure_join_token(node_layout) == token
    assert node_layout.join_token.stat().st_mode & 0o777 == 0o600


def test_full_join_then_only_certificate_holders_are_served(
    master: Master, node_layout: NodeLayout
) -> None:
    async def body(server: RpcServer, target: NodeTarget, ctx: NodeContext) -> None:
        states = [server.state]
        token = node_layout.join_token.read_text().strip()
        cert_pem = await master.join(target, token, confirm=True)
        states.append(server.state)  # join_node confirmed over the strict listener
        assert states == [ServerState.JOINING, ServerState.JOINED]
        assert ctx.node_name == NODE
        cert = pki.load_cert_pem(cert_pem)
        assert pki.common_name(cert) == NODE
        assert pki.is_issued_by(cert, master.ca_cert)
        assert node_layout.node_cert.read_text() == cert_pem
        async with RpcClient(tls.join_client_ssl_context()) as anonymous:
            refused = await anonymous.call_single("version", target)
        assert not refused.ok
        async with master.client() as client:
            served = await client.call_single("version", target)
        assert served.payload == PROTOCOL_VERSION

    serve(node_layout, body)
    assert installed_files(node_layout) == ["node.pem", "node-key.pem", "ca.pem", "node-name"]
    assert node_layout.node_key.stat().st_mode & 0o777 == 0o600
    assert node_layout.node_name_file.read_text().strip() == NODE
    assert crypto_listing(node_layout) == {"node.pem", "node-key.pem", "ca.pem"}


def test_wrong_token_installs_nothing(master: Master, node_layout: NodeLayout) -> None:
    async def body(server: RpcServer, target: NodeTarget, ctx: NodeContext) -> None:
        with pytest.raises(RpcError, match="not authenticated by this node's join token"):
            await master.join(target, "not-the-token")
        assert server.state is ServerState.JOINING

    serve(node_layout, body)
    assert installed_files(node_layout) == []
    assert crypto_listing(node_layout) == {"join-token", "join-temp.pem", "join-temp.key"}


def test_second_join_is_refused(master: Master, node_layout: NodeLayout) -> None:
    async def body(server: RpcServer, target: NodeTarget, ctx: NodeContext) -> None:
        token = node_layout.join_token.read_text().strip()
        first = await master.join(target, token)
        await server.wait_switched()
        # An anonymous client no longer gets through TLS at all...
        with pytest.raises(RpcError, match="refused to start joining"):
            await master.join(target, token)
        # ...and a certificate holder is refused by the handler.
        async with master.client() as client:
            again = await client.call_single(
                "node_join_begin", target, CLUSTER, NODE, master.ca_pem, "n", "m"
            )
        assert again.fail_msg is not None
        assert "already joined" in again.fail_msg
        assert node_layout.node_cert.read_text() == first

    serve(node_layout, body)


# --- handlers called directly --------------------------------------------------


def begin(ctx: NodeContext, token: str, nonce: str = "nonce-1", ca_pem: str = "") -> dict[str, str]:
    mac = join_mac(token, "begin", CLUSTER, NODE, ca_pem, nonce)
    answer: dict[str, str] = wire(
        asyncio.run(node_join_begin(ctx, CLUSTER, NODE, ca_pem, nonce, mac))
    )
    return answer


def finish(ctx: NodeContext, token: str, cert_pem: str, nonce: str = "nonce-1") -> str:
    mac = join_mac(token, "finish", cert_pem, nonce)
    return asyncio.run(node_join_finish(ctx, cert_pem, nonce, mac))


def signed(master: Master, csr_pem: str, name: str = NODE) -> str:
    csr = pki.load_csr_pem(csr_pem)
    return pki.cert_to_pem(pki.sign_csr(csr, master.ca_key, master.ca_cert, name)).decode()


@pytest.fixture
def ctx(node_layout: NodeLayout) -> NodeContext:
    return NodeContext(layout=node_layout, node_name="unknown")


def test_begin_answers_an_authenticated_csr(master: Master, ctx: NodeContext) -> None:
    token = ensure_join_token(ctx.layout)
    answer = begin(ctx, token, ca_pem=master.ca_pem)
    assert answer["mac"] == join_mac(token, "csr", answer["csr"], "nonce-1")
    csr = pki.load_csr_pem(answer["csr"])
    assert csr.is_signature_valid
    assert installed_files(ctx.layout) == []


def test_begin_refuses_a_certificate_that_is_not_a_ca(master: Master, ctx: NodeContext) -> None:
    token = ensure_join_token(ctx.layout)
    not_ca = pki.cert_to_pem(pki.create_self_signed("x")[1]).decode()
    with pytest.raises(RpcError, match="not a CA certificate"):
        begin(ctx, token, ca_pem=not_ca)


def test_finish_without_begin_is_refused(master: Master, ctx: NodeContext) -> None:
    token = ensure_join_token(ctx.layout)
    with pytest.raises(RpcError, match="No join in progress"):
        finish(ctx, token, "cert")


def test_finish_with_another_nonce_is_refused(master: Master, ctx: NodeContext) -> None:
    token = ensure_join_token(ctx.layout)
    answer = begin(ctx, token, ca_pem=master.ca_pem)
    with pytest.raises(RpcError, match="nonce does not match"):
        finish(ctx, token, signed(master, answer["csr"]), nonce="nonce-2")
    assert installed_files(ctx.layout) == []


def test_finish_with_a_certificate_for_another_key_is_refused(
    master: Master, ctx: NodeContext
) -> None:
    token = ensure_join_token(ctx.layout)
    begin(ctx, token, ca_pem=master.ca_pem)
    other_csr = pki.csr_to_pem(pki.create_csr(pki.generate_key(), NODE)).decode()
    with pytest.raises(RpcError, match="not for this node's key"):
        finish(ctx, token, signed(master, other_csr))
    assert installed_files(ctx.layout) == []


def test_finish_with_a_certificate_from_another_ca_is_refused(
    master: Master, ctx: NodeContext, tmp_path: Path
) -> None:
    token = ensure_join_token(ctx.layout)
    answer = begin(ctx, token, ca_pem=master.ca_pem)
    rogue = Master(tmp_path / "rogue")
    with pytest.raises(RpcError, match="not signed by the cluster CA"):
        finish(ctx, token, signed(rogue, answer["csr"]))
    assert installed_files(ctx.layout) == []


def test_finish_with_a_certificate_for_another_name_is_refused(
    master: Master, ctx: NodeContext
) -> None:
    token = ensure_join_token(ctx.layout)
    answer = begin(ctx, token, ca_pem=master.ca_pem)
    with pytest.raises(RpcError, match=r"not for node node1\.example\.com"):
        finish(ctx, token, signed(master, answer["csr"], name="node2.example.com"))
    assert installed_files(ctx.layout) == []


def test_finish_with_a_wrong_mac_is_refused(master: Master, ctx: NodeContext) -> None:
    token = ensure_join_token(ctx.layout)
    answer = begin(ctx, token, ca_pem=master.ca_pem)
    with pytest.raises(RpcError, match="not authenticated"):
        finish(ctx, "wrong-token", signed(master, answer["csr"]))
    assert installed_files(ctx.layout) == []


def test_handlers_call_on_joined_and_refuse_afterwards(master: Master, ctx: NodeContext) -> None:
    joined: list[bool] = []
    ctx.services.on_joined = lambda: joined.append(True)
    token = ensure_join_token(ctx.layout)
    answer = begin(ctx, token, ca_pem=master.ca_pem)
    fingerprint = finish(ctx, token, signed(master, answer["csr"]))
    assert joined == [True]
    assert fingerprint == pki.fingerprint(pki.load_cert(ctx.layout.node_cert))
    assert not ctx.layout.join_token.exists()
    with pytest.raises(RpcError, match="already joined"):
        begin(ctx, token, ca_pem=master.ca_pem)


def test_join_token_is_never_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    layout = NodeLayout(tmp_path / "root")
    with caplog.at_level(logging.DEBUG):
        token = ensure_join_token(layout)
        ensure_join_token(layout)
    assert token not in caplog.text
    assert str(layout.join_token) in caplog.text
    assert layout.join_token.stat().st_mode & 0o777 == 0o600
