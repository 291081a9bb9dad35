"""Node RPC refuses clients without the cluster's certificate; LUXI and RPC survive garbage."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from pathlib import Path

import pytest

from corral.layout import SSCONF_PREFIX, NodeLayout
from corral.luxi.client import wait_for_job
from corral.rpc import pki, tls
from corral.rpc.client import NodeTarget, RpcClient
from tests.integration.conftest import LiveCluster


def _node2(live: LiveCluster) -> NodeTarget:
    node = live.vc.nodes[1]
    return NodeTarget(node.name, node.address, node.port)


def _raw_tls(target: NodeTarget, context: ssl.SSLContext, request: bytes) -> bytes:
    raw = socket.create_connection((target.address, target.port), timeout=5)
    with raw, context.wrap_socket(raw) as conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _no_cert_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _request(call: str, body: bytes) -> bytes:
    head = (
        f"PUT /{call} HTTP/1.1\r\nHost: x\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def _refused(target: NodeTarget, context: ssl.SSLContext) -> bool:
    """True when the node answers nothing at all (TLS alert or closed connection)."""
    try:
        answer = _raw_tls(target, context, _request("version", b"[]"))
    except (ssl.SSLError, OSError):
        return True
    return answer == b""


def test_rpc_without_client_certificate_is_refused(live: LiveCluster) -> None:
    assert _refused(_node2(live), _no_cert_context())


def test_rpc_with_cluster_certificate_is_served(live: LiveCluster) -> None:
    assert not _refused(_node2(live), _cluster_client(live))


def test_rpc_with_certificate_from_another_ca_is_refused(live: LiveCluster, tmp_path: Path) -> None:
    ca_key, ca_cert = pki.create_ca("intruder")
    key = pki.generate_key()
    cert = pki.sign_csr(pki.create_csr(key, "intruder"), ca_key, ca_cert, "intruder")
    pki.save_key(tmp_path / "key.pem", key)
    pki.save_cert(tmp_path / "cert.pem", cert)
    context = _no_cert_context()
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    assert _refused(_node2(live), context)


def _cluster_client(live: LiveCluster) -> ssl.SSLContext:
    return tls.client_ssl_context(NodeLayout(Path(live.vc.master.root)))


@pytest.mark.parametrize(
    ("call", "body", "status", "needle"),
    [
        ("no_such_call", b"[]", 404, "no_such_call"),
        ("test_delay", b"not json", 400, "test_delay"),
        ("test_delay", b'["soon"]', 400, "duration"),
        ("test_delay", b"[1, 2, 3]", 400, "test_delay"),
    ],
    ids=["unknown-call", "not-json", "bad-type", "bad-arity"],
)
def test_rpc_bad_requests_get_clear_errors(
    live: LiveCluster, call: str, body: bytes, status: int, needle: str
) -> None:
    answer = _raw_tls(_node2(live), _cluster_client(live), _request(call, body))
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.split()[1] == str(status).encode()
    assert needle in json.loads(payload)["error"]


def test_rpc_keeps_serving_after_bad_requests(live: LiveCluster) -> None:
    _raw_tls(_node2(live), _cluster_client(live), _request("nope", b"{{{"))

    async def ask() -> object:
        async with RpcClient(_cluster_client(live)) as client:
            result = await client.call_single("version", _node2(live))
            return result.payload

    assert asyncio.run(ask()) == 3000000


def _luxi_exchange(path: str, payload: bytes) -> dict[str, object]:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(path)
        sock.sendall(payload)
        data = b""
        while not data.endswith(b"\x03"):
            chunk = sock.recv(65536)
            assert chunk, "masterd closed the connection without answering"
            data += chunk
    answer: dict[str, object] = json.loads(data[:-1])
    return answer


@pytest.mark.parametrize(
    "payload",
    [
        b"garbage\x03",
        b'{"method": "NoSuchMethod", "args": []}\x03',
        b"[1,2,3]\x03",
        b"\xff\xfe\x03",
    ],
    ids=["text", "unknown-method", "not-object", "binary"],
)
def test_luxi_garbage_gets_an_error(live: LiveCluster, payload: bytes) -> None:
    answer = _luxi_exchange(str(live.vc.luxi_socket), payload)
    assert answer["success"] is False


def test_luxi_keeps_serving_after_garbage(live: LiveCluster) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(live.vc.luxi_socket))
        sock.sendall(b"half a message without its terminator")
    with live.client() as client:
        assert client.QueryClusterInfo()["name"] == "cluster.vcluster"


def _public_by_design(path: Path) -> bool:
    """ssconf files (0444, as Ganeti), the node's name, and certificates without a key."""
    if path.name.startswith(SSCONF_PREFIX) or path.name == "node-name":
        return True
    text = path.read_bytes()
    return text.startswith(b"-----BEGIN CERTIFICATE-----") and b"PRIVATE KEY" not in text


def test_daemon_state_files_are_private(live: LiveCluster) -> None:
    """Configuration, queue (SQLite's -wal/-shm included), keys and tokens are 0600 on every
    node: the daemons run with umask 077."""
    with live.client() as client:
        job_id = client.SubmitJob([{"OP_ID": "OP_TAGS_SET", "kind": "cluster", "name": None,
                                    "tags": ["private-check"]}])
        assert wait_for_job(client, job_id)[0] == "success"
    exposed: list[str] = []
    checked = 0
    for node in live.vc.nodes:
        layout = NodeLayout(Path(node.root))
        for directory in (layout.data_dir, layout.crypto_dir):
            for path in directory.rglob("*"):
                if not path.is_file() or _public_by_design(path):
                    continue
                checked += 1
                if path.stat().st_mode & 0o077:
                    exposed.append(f"{path} {oct(path.stat().st_mode & 0o777)}")
    assert checked > 0
    assert not exposed, exposed


def test_join_tokens_are_not_kept_in_jobs(live: LiveCluster) -> None:
    """The nodes were added with their join tokens; the stored jobs show ``<redacted>``."""
    with live.client() as client:
        jobs = client.QueryJobs(None, ["ops"])
    adds = [op for (ops,) in jobs for op in ops if op.get("OP_ID") == "OP_NODE_ADD"]
    assert adds, "the virtual cluster adds its nodes with OP_NODE_ADD jobs"
    assert {op["join_token"] for op in adds} == {"<redacted>"}
