"""Adding and re-adding nodes through the processor."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

import corral.backend.join  # noqa: F401  (registers the join handlers)
from corral.backend.context import NodeContext
from corral.backend.join import ensure_join_token
from corral.backend.server import start_server
from corral.clock import FakeClock
from corral.errors import ErrorCode, OpExecError
from corral.jobs.model import Job, QueuedOp
from corral.jobs.persist import JobSaver
from corral.jobs.queue import JobQueue
from corral.jobs.store import JobStore
from corral.layout import NodeLayout
from corral.objects import Node
from corral.opcodes.node import OpNodeAdd
from corral.rpc import pki
from corral.rpc.results import NodeResult
from corral.version import PROTOCOL_VERSION
from tests.support.config import ConfigBuilder, standard_cluster
from tests.support.lu_harness import MakeHarness, expect_failure


def add(name: str = "new1", **kw: Any) -> OpNodeAdd:
    kw.setdefault("primary_ip", "192.0.2.50")
    kw.setdefault("join_token", "tok")
    return OpNodeAdd(node_name=name, **kw)


class RecordingQueueReplicator:
    def __init__(self) -> None:
        self.updates: list[list[tuple[str, str]]] = []

    async def update(self, files: list[tuple[str, str]]) -> None:
        self.updates.append(files)

    async def rename(self, renames: list[tuple[str, str]]) -> None:
        return None

    async def set_drain_flag(self, flag: bool) -> None:
        return None


def test_add_joins_checks_version_and_commits_a_candidate(
    make_harness: MakeHarness, tmp_path: Path,
) -> None:
    h = make_harness(standard_cluster(nodes=2))
    replicator = RecordingQueueReplicator()
    saver = JobSaver(JobStore(tmp_path / "queue.db"), replicator)
    queue = JobQueue(saver, h.processor, FakeClock())
    queue.jobs[7] = Job(id=7, ops=[QueuedOp(input={"OP_ID": "OP_TEST_DELAY"})])
    h.ctx.queue = queue
    h.layout.rapi_users_file.parent.mkdir(parents=True, exist_ok=True)
    h.layout.rapi_users_file.write_text("admin secret write\n")
    assert h.run_sync(add(rpc_port=1999)) is None
    node = h.data.node_by_name("new1")
    assert node is not None
    assert node.master_candidate
    assert node.primary_ip == "192.0.2.50"
    assert node.group == "group-default"
    assert node.rpc_port == 1999
    assert node.secondary_ip == "192.0.2.50"
    h.assert_persisted()
    assert h.joiner.joined == [("new1", "192.0.2.50", "tok")]
    assert h.rpc.nodes_called("version") == ["new1"]
    assert "new1" in h.rpc.nodes_called("write_ssconf_files")
    uploads = h.rpc.calls_of("upload_file")
    assert [(c.node, c.args[0], c.args[3]) for c in uploads] == [
        ("new1", "var/lib/corral/rapi/users", "root")]
    full = [c for c in h.rpc.calls_of("config_replicate") if c.args[1] == -1]
    assert "new1" in {c.node for c in full}
    assert replicator.updates
    assert replicator.updates[-1][0][0] == "job-7"
    hooks = [(c.node, c.args[1], c.args[2]["GANETI_NODE_PIP"])
             for c in h.rpc.calls_of("hooks_runner") if c.args[0] == "node-add"]
    assert hooks == [("node1", "pre", "192.0.2.50"), ("node2", "pre", "192.0.2.50"),
                     ("new1", "post", "192.0.2.50"), ("node1", "post", "192.0.2.50"),
                     ("node2", "post", "192.0.2.50")]
    saver.store.close()


def test_add_beyond_pool_is_a_regular_node(make_harness: MakeHarness) -> None:
    h = make_harness(standard_cluster(nodes=2, pool_size=2))
    h.run_sync(add(master_capable=True, vm_capable=False))
    node = h.data.node_by_name("new1")
    assert node is not None
    assert not node.master_candidate
    assert not node.vm_capable
    assert all(c.args[1] != -1 for c in h.rpc.calls_of("config_replicate"))


def test_add_resolves_the_name_when_no_ip_is_given(
    make_harness: MakeHarness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = make_harness(standard_cluster(nodes=1))
    seen: list[str] = []

    def fake_getaddrinfo(name: str, *args: Any, **kw: Any) -> list[Any]:
        seen.append(name)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.77", 0))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    h.run_sync(add(primary_ip=None))
    assert seen == ["new1"]
    node = h.data.node_by_name("new1")
    assert node is not None
    assert node.primary_ip == "192.0.2.77"


def test_unresolvable_name_is_a_resolver_error(
    make_harness: MakeHarness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = make_harness(standard_cluster(nodes=1))

    def no_such_host(*args: Any, **kw: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    expect_failure(h, add(primary_ip=None), code=ErrorCode.RESOLVER, match="new1")


@pytest.mark.parametrize(
    ("op", "code", "match"),
    [
        pytest.param(add("node2"), ErrorCode.EXISTS, "already in the configuration", id="dup"),
        pytest.param(add(readd=True, join_token=None), ErrorCode.NOENT, "not in the config",
                     id="readd-unknown"),
        pytest.param(add(join_token=None), ErrorCode.INVAL, "join token", id="no-token"),
        pytest.param(add(primary_ip="192.0.2.2"), ErrorCode.NOTUNIQUE, "node2", id="ip-used"),
        pytest.param(add(primary_ip="not-an-ip"), ErrorCode.INVAL, "not-an-ip", id="bad-ip"),
        pytest.param(add(secondary_ip="198.51.100.9"), ErrorCode.INVAL, "no secondary ip",
                     id="homing"),
        pytest.param(add(group="nosuch"), ErrorCode.NOENT, "nosuch", id="group"),
        pytest.param(add(readd=True, group="default"), ErrorCode.INVAL, "node group",
                     id="readd-group"),
        pytest.param(add("node1", readd=True), ErrorCode.STATE, "master", id="readd-master"),
        pytest.param(add(ndparams={"spindle_count": "x"}), ErrorCode.INVAL, "spindle_count",
                     id="ndparams"),
        pytest.param(add(name="bad name"), ErrorCode.INVAL, "bad name", id="name"),
    ],
)
def test_add_prerequisites(
    make_harness: MakeHarness, op: OpNodeAdd, code: ErrorCode, match: str,
) -> None:
    h = make_harness(standard_cluster(nodes=2))
    expect_failure(h, op, code=code, match=match)
    assert h.joiner.joined == []


def test_ambiguous_group_needs_an_explicit_one(make_harness: MakeHarness) -> None:
    b = ConfigBuilder(default_group="g1")
    b.group("g2")
    b.node("master")
    h = make_harness(b)
    expect_failure(h, add(), code=ErrorCode.INVAL, match="More than one node group")
    h.run_sync(add(group="g2"))
    node = h.data.node_by_name("new1")
    assert node is not None
    assert node.group == "group-g2"


def test_version_check_waits_for_the_restarted_daemon(make_harness: MakeHarness) -> None:
    h = make_harness(standard_cluster(nodes=2))
    answers: list[NodeResult[Any]] = [NodeResult.failure("new1", "version", "refused")] * 3

    def flaky(node: Node, args: tuple[Any, ...]) -> Any:
        return answers.pop() if answers else PROTOCOL_VERSION

    h.rpc.script("version", fn=flaky)
    h.run_sync(add())
    assert h.rpc.nodes_called("version") == ["new1"] * 4
    assert h.data.node_by_name("new1") is not None
    h.rpc.script("version", fail="Connection refused")
    expect_failure(h, add("new2", primary_ip="192.0.2.51"), OpExecError,
                   match="Can't get version information from node new2: Connection refused")


def test_version_mismatch_or_join_failure_adds_nothing(make_harness: MakeHarness) -> None:
    h = make_harness(standard_cluster(nodes=2))
    h.rpc.script("version", payload=PROTOCOL_VERSION + 1)
    expect_failure(h, add(), OpExecError, match="Version mismatch")
    h.rpc.script("version", payload=PROTOCOL_VERSION)
    h.joiner.fail = "Join refused: the request is not authenticated"
    expect_failure(h, add(), OpExecError, match="not authenticated")
    assert h.data.node_by_name("new1") is None


def test_readd_resets_flags_keeps_identity_and_demotes_non_candidate(
    make_harness: MakeHarness,
) -> None:
    b = standard_cluster(nodes=2, pool_size=1)
    b.node("node3", offline=True, drained=True, master_candidate=False)
    h = make_harness(b)
    h.run_sync(OpNodeAdd(node_name="node3", readd=True, primary_ip="192.0.2.3"))
    node = h.data.nodes["node-node3"]
    assert not node.offline
    assert not node.drained
    assert not node.master_candidate
    assert h.joiner.joined == []
    assert h.rpc.nodes_called("node_demote_from_mc") == ["node3"]
    assert any("offline/drained flags were reset" in line for line in h.feedback)
    h.assert_persisted()


def test_real_join_handshake_over_tls(make_harness: MakeHarness, tmp_path: Path) -> None:
    h = make_harness(standard_cluster(nodes=1), with_ca=False)
    ca_key, ca_cert = pki.create_ca("cluster.example.com")
    pki.save_key(h.layout.ca_key, ca_key)
    pki.save_cert(h.layout.ca_cert, ca_cert)
    h.ctx.joiner = None
    node_layout = NodeLayout(tmp_path / "newnode")
    node_layout.ensure_dirs()
    token = ensure_join_token(node_layout)

    async def main() -> None:
        server = await start_server(NodeContext(layout=node_layout, node_name="?"),
                                    "127.0.0.1", 0)
        try:
            await h.run(add("newnode", primary_ip="127.0.0.1", rpc_port=server.port,
                            join_token=token))
        finally:
            await server.stop()

    asyncio.run(main())
    cert = pki.load_cert(node_layout.node_cert)
    assert pki.common_name(cert) == "newnode"
    assert pki.is_issued_by(cert, ca_cert)
    assert h.data.node_by_name("newnode") is not None
