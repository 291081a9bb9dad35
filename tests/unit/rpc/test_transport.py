"""Server and client end to end over real TLS on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

import corral.backend.basics  # noqa: F401  (registers the handlers under test)
from corral.backend.context import NodeContext
from corral.backend.handlers import HANDLERS, Handler
from corral.backend.server import MAX_BODY, RpcServer, ServerState, start_server
from corral.clock import FakeClock
from corral.errors import HypervisorError, RpcError
from corral.layout import NodeLayout
from corral.rpc import pki, tls
from corral.rpc.client import NodeTarget, RpcClient
from corral.rpc.payloads import NodeVerifyResult
from corral.version import PROTOCOL_VERSION
from tests.support.connections import joined_layout


class Cluster:
    """A CA, a master layout (client side) and one node layout."""

    def __init__(self, root: Path) -> None:
        self.ca_key, self.ca_cert = pki.create_ca("test.example.com")
        self.master = joined_layout(root / "master", "master", self.ca_key, self.ca_cert)
        self.node = joined_layout(root / "node1", "node1", self.ca_key, self.ca_cert)
        self.root = root

    def client(self, **kwargs: Any) -> RpcClient:
        return RpcClient(tls.client_ssl_context(self.master), **kwargs)


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    return Cluster(tmp_path)


def with_server(
    layout: NodeLayout,
    body: Callable[[RpcServer], Awaitable[None]],
    handlers: dict[str, Handler] | None = None,
) -> None:
    async def main() -> None:
        ctx = NodeContext(layout=layout, node_name="node1", clock=FakeClock(1234.5))
        server = await start_server(ctx, "127.0.0.1", 0, handlers=handlers)
        try:
            await body(server)
        finally:
            await server.stop()

    asyncio.run(main())


def target(server: RpcServer, name: str = "node1") -> NodeTarget:
    return NodeTarget(name, "127.0.0.1", server.port)


def counting(calls: list[str]) -> dict[str, Handler]:
    async def version(ctx: NodeContext) -> int:
        calls.append("version")
        return PROTOCOL_VERSION

    return {**HANDLERS, "version": version}


def test_successful_call(cluster: Cluster) -> None:
    async def body(server: RpcServer) -> None:
        assert server.state is ServerState.JOINED
        async with cluster.client() as client:
            result = await client.call_single("version", target(server))
            clock = await client.call_single("node_time", target(server))
        assert result.ok
        assert result.payload == PROTOCOL_VERSION
        assert result.node == "node1"
        assert result.call == "version"
        assert clock.payload == 1234.5

    with_server(cluster.node, body)


def test_client_without_certificate_is_refused(cluster: Cluster) -> None:
    calls: list[str] = []

    async def body(server: RpcServer) -> None:
        no_cert = tls.make_client_context(cluster.master.ca_cert, None, None)
        async with RpcClient(no_cert) as client:
            result = await client.call_single("version", target(server))
        assert not result.ok
        assert result.fail_msg
        async with cluster.client() as client:
            assert (await client.call_single("version", target(server))).ok

    with_server(cluster.node, body, counting(calls))
    assert calls == ["version"]  # only the client with a certificate got through


def test_client_with_certificate_from_another_ca_is_refused(
    cluster: Cluster, tmp_path: Path
) -> None:
    calls: list[str] = []
    other_key, other_ca = pki.create_ca("intruder")
    intruder = joined_layout(tmp_path / "intruder", "master", other_key, other_ca)
    # The intruder trusts the real CA for the server, but its own cert is from another CA.
    ctx = tls.make_client_context(cluster.master.ca_cert, intruder.node_cert, intruder.node_key)

    async def body(server: RpcServer) -> None:
        async with RpcClient(ctx) as client:
            result = await client.call_single("version", target(server))
        assert not result.ok
        assert calls == []

    with_server(cluster.node, body, counting(calls))


def test_server_with_certificate_from_another_ca_is_not_trusted(
    cluster: Cluster, tmp_path: Path
) -> None:
    other_key, other_ca = pki.create_ca("rogue")
    rogue = joined_layout(tmp_path / "rogue", "node1", other_key, other_ca)
    # The rogue node requires certificates from its CA; the master's is not, but the
    # master must already refuse at the server's certificate.

    async def body(server: RpcServer) -> None:
        async with cluster.client() as client:
            result = await client.call_single("version", target(server))
        assert result.fail_msg is not None
        assert "certificate" in result.fail_msg.lower()

    with_server(rogue, body)


def raw_session(cluster: Cluster) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(ssl=tls.client_ssl_context(cluster.master))
    return aiohttp.ClientSession(connector=connector)


async def raw_put(
    session: aiohttp.ClientSession, server: RpcServer, name: str, data: bytes | io.BytesIO,
    method: str = "PUT",
) -> tuple[int, Any]:
    url = f"https://127.0.0.1:{server.port}/{name}"
    async with session.request(method, url, data=data) as resp:
        return resp.status, await resp.json(content_type=None)


async def assert_still_serving(cluster: Cluster, server: RpcServer) -> None:
    async with cluster.client() as client:
        assert (await client.call_single("version", target(server))).payload == PROTOCOL_VERSION


@pytest.mark.parametrize(
    ("name", "data", "status", "fragments"),
    [
        pytest.param("no_such_call", b"[]", 404, ["unknown RPC call", "no_such_call"],
                     id="unknown-call"),
        pytest.param("a/b", b"[]", 404, ["unknown RPC call", "'a/b'"], id="nested-path"),
        pytest.param("jobqueue_purge", b"[]", 404, ["not implemented", "jobqueue_purge"],
                     id="call-without-handler"),
        pytest.param("test_delay", b"[1.0", 400, ["test_delay", "not valid JSON"],
                     id="not-json"),
        pytest.param("test_delay", b'{"duration": 1}', 400, ["test_delay", "JSON list"],
                     id="not-a-list"),
        pytest.param("test_delay", b"[1, 2]", 400, ["test_delay", "1 argument", "duration",
                                                    "got 2"], id="wrong-arity"),
        pytest.param("test_delay", b'["soon"]', 400, ["test_delay", "duration",
                                                      "must be float", "got str"],
                     id="wrong-type"),
        pytest.param("jobqueue_set_drain_flag", b"[1]", 400, ["flag", "must be bool"],
                     id="int-for-bool"),
    ],
)
def test_bad_requests_get_clear_errors_and_server_keeps_serving(
    cluster: Cluster, name: str, data: bytes, status: int, fragments: list[str]
) -> None:
    async def body(server: RpcServer) -> None:
        async with raw_session(cluster) as session:
            got_status, reply = await raw_put(session, server, name, data)
        assert got_status == status
        for fragment in fragments:
            assert fragment in reply["error"]
        await assert_still_serving(cluster, server)

    async def drain_flag(ctx: NodeContext, flag: bool) -> None:
        raise AssertionError("never reached")

    handlers = {k: v for k, v in HANDLERS.items() if k != "jobqueue_purge"}
    with_server(cluster.node, body, {**handlers, "jobqueue_set_drain_flag": drain_flag})


def test_method_other_than_put_is_refused(cluster: Cluster) -> None:
    async def body(server: RpcServer) -> None:
        async with raw_session(cluster) as session:
            status, reply = await raw_put(session, server, "version", b"", method="GET")
        assert status == 405
        assert "PUT" in reply["error"]

    with_server(cluster.node, body)


def test_body_over_limit_is_refused(cluster: Cluster) -> None:
    async def body(server: RpcServer) -> None:
        payload = io.BytesIO(b'["' + b"x" * MAX_BODY + b'"]')
        async with raw_session(cluster) as session:
            status, reply = await raw_put(session, server, "test_delay", payload)
        assert status == 413
        assert "larger than" in reply["error"]
        await assert_still_serving(cluster, server)

    with_server(cluster.node, body)


def test_handler_errors_become_failure_results(cluster: Cluster) -> None:
    async def corral_error(ctx: NodeContext) -> int:
        raise HypervisorError("kvm is not running")

    async def os_error(ctx: NodeContext) -> float:
        raise FileNotFoundError(2, "No such file or directory", "/nope")

    async def bug(ctx: NodeContext) -> str:
        raise ValueError("oops")

    handlers = {**HANDLERS, "version": corral_error, "node_time": os_error,
                "node_boot_id": bug}

    async def body(server: RpcServer) -> None:
        async with cluster.client() as client:
            results = [await client.call_single(name, target(server))
                       for name in ("version", "node_time", "node_boot_id")]
            assert (await client.call_single("master_node_name", target(server))).fail_msg
        assert [r.fail_msg for r in results] == [
            "kvm is not running",
            "[Errno 2] No such file or directory: '/nope'",
            "Internal error: ValueError: oops",
        ]

    with_server(cluster.node, body, handlers)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_fanout_with_a_down_node_and_an_offline_node(cluster: Cluster, tmp_path: Path) -> None:
    node2 = joined_layout(tmp_path / "node2", "node2", cluster.ca_key, cluster.ca_cert)

    async def main() -> None:
        servers = [
            await start_server(NodeContext(layout=layout, node_name=name), "127.0.0.1", 0)
            for layout, name in ((cluster.node, "node1"), (node2, "node2"))
        ]
        targets = [
            target(servers[0], "node1"),
            target(servers[1], "node2"),
            NodeTarget("node3", "127.0.0.1", free_port()),
            NodeTarget("node4", "127.0.0.1", 1, offline=True),
        ]
        try:
            async with cluster.client() as client:
                results = await client.call("version", targets)
        finally:
            for server in servers:
                await server.stop()
        assert sorted(results) == ["node1", "node2", "node3", "node4"]
        assert results["node1"].payload == results["node2"].payload == PROTOCOL_VERSION
        down = results["node3"]
        assert down.fail_msg is not None
        assert "Cannot connect" in down.fail_msg
        assert not down.offline
        assert results["node4"].offline
        assert results["node4"].fail_msg == "Node is marked offline"

    asyncio.run(main())


def test_timeout_override_gives_a_failure_result(cluster: Cluster) -> None:
    async def slow(ctx: NodeContext, duration: float) -> None:
        await asyncio.sleep(duration)

    async def body(server: RpcServer) -> None:
        async with cluster.client() as client:
            start = time.monotonic()
            result = await client.call_single("test_delay", target(server), 3.0, timeout=0.2)
            elapsed = time.monotonic() - start
            assert result.fail_msg is not None
            assert "Timed out after 0.2 s" in result.fail_msg
            assert elapsed < 1.5
            assert (await client.call_single("version", target(server))).ok

    with_server(cluster.node, body, {**HANDLERS, "test_delay": slow})


def test_client_checks_the_table_before_sending(cluster: Cluster) -> None:
    async def main() -> None:
        async with cluster.client() as client:
            with pytest.raises(RpcError, match="takes 1 argument"):
                await client.call("test_delay", [NodeTarget("n", "127.0.0.1", 1)])
            with pytest.raises(RpcError, match="Unknown RPC call 'nope'"):
                await client.call("nope", [])
            with pytest.raises(RpcError, match="Cannot encode"):
                await client.call("test_delay", [], object())
        with pytest.raises(RpcError, match="closed"):
            await client.call("version", [])

    asyncio.run(main())


def test_unjoined_node_allows_only_join_calls(tmp_path: Path) -> None:
    layout = NodeLayout(tmp_path / "fresh")
    layout.ensure_dirs()

    async def body(server: RpcServer) -> None:
        assert server.state is ServerState.JOINING
        async with RpcClient(tls.join_client_ssl_context()) as client:
            result = await client.call_single("version", target(server))
            join = await client.call_single("node_join_finish", target(server), "x", "n", "m")
        assert result.fail_msg is not None
        assert "HTTP 403" in result.fail_msg
        assert "not joined" in result.fail_msg
        assert join.fail_msg is not None
        assert "Join refused" in join.fail_msg
        assert layout.join_token.stat().st_mode & 0o777 == 0o600

    with_server(layout, body)


def test_many_calls_in_a_row_over_keepalive(cluster: Cluster) -> None:
    rounds = 200

    async def body(server: RpcServer) -> None:
        async with cluster.client() as client:
            results = [await client.call_single("version", target(server)) for _ in range(rounds)]
        assert all(r.ok for r in results)

    with_server(cluster.node, body)


def test_plain_context_refuses_tls_below_1_2(cluster: Cluster) -> None:
    ctx = tls.server_ssl_context(cluster.node)
    assert ctx.minimum_version is ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode is ssl.CERT_REQUIRED


class Checks(msgspec.Struct):
    nodelist: list[str]
    version: int


def test_structs_and_large_bodies_travel(cluster: Cluster) -> None:
    async def verify(ctx: NodeContext, checks: dict[str, Any], cluster_name: str,
                     all_hvparams: dict[str, Any]) -> dict[str, Any]:
        return {"nodelist": dict.fromkeys(checks["nodelist"], cluster_name),
                "version": [checks["version"], "x"]}

    async def command(ctx: NodeContext, cmd: str) -> str:
        return str(len(cmd))

    async def body(server: RpcServer) -> None:
        async with cluster.client() as client:
            checks = Checks(nodelist=["a", "b"], version=3)
            result = await client.call_single("node_verify", target(server), checks, "c", {})
            big = await client.call_single("restricted_command", target(server), "x" * (3 << 20))
        assert result.payload == NodeVerifyResult(nodelist={"a": "c", "b": "c"},
                                                  version=(3, "x"))
        assert big.payload == str(3 << 20)

    with_server(cluster.node, body,
                {**HANDLERS, "node_verify": verify, "restricted_command": command})
