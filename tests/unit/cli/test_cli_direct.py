"""gnt-cluster command/copyfile over node RPC (the RPC itself is faked)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from corral.cli import direct, gnt_cluster
from corral.rpc.client import NodeTarget
from corral.rpc.payloads import CommandOutput
from corral.rpc.results import NodeResult

if TYPE_CHECKING:
    from tests.unit.cli.conftest import FakeLuxi, Runner

RpcCalls = list[tuple[list[NodeTarget], list[str], float]]

NODE_ROWS = [
    [[0, "node1"], [0, "192.0.2.1"], [0, False]],
    [[0, "node2"], [0, "192.0.2.2"], [0, False]],
    [[0, "node3"], [0, "192.0.2.3"], [0, True]],
]


@pytest.fixture
def rpc(monkeypatch: pytest.MonkeyPatch) -> RpcCalls:
    """Replace the RPC fan-out; node2 fails with exit 1, others print their name."""
    calls: RpcCalls = []

    def fake(targets: list[NodeTarget], argv: list[str], timeout: float) -> dict[str, Any]:
        calls.append((targets, argv, timeout))
        results: dict[str, Any] = {}
        for t in targets:
            code = 1 if t.name == "node2" else 0
            results[t.name] = NodeResult(node=t.name, call="run_oob",
                                         payload=CommandOutput(exit_code=code,
                                                               output=f"hello {t.name}\n"))
        return results

    monkeypatch.setattr(direct, "run_on_nodes", fake)
    return calls


def _script_cluster(luxi: FakeLuxi, master: str = "node1") -> None:
    luxi.on("Query", {"fields": [], "data": NODE_ROWS})
    luxi.on("QueryConfigValues", [master])
    luxi.on("QueryClusterInfo", {"noded_port": 1911})


def test_command_output_master_last(run: Runner, luxi: FakeLuxi, rpc: RpcCalls) -> None:
    _script_cluster(luxi)
    code, out, err = run(gnt_cluster.main, "command", "uname", "-r")
    assert code == 0
    assert err == "Note: skipping offline node(s): node3\n"
    assert out.splitlines() == [
        "-" * 48, "node: node2", "hello node2", "return code = 1",
        "-" * 48, "node: node1", "hello node1", "return code = 0",
    ]
    [(targets, argv, _)] = rpc
    assert targets == [NodeTarget("node2", "192.0.2.2", 1911),
                       NodeTarget("node1", "192.0.2.1", 1911)]
    assert argv == ["/bin/sh", "-c", "uname -r"]
    assert luxi.args_of("Query")[0] == ["node", ["name", "pip", "offline"], None]


def test_command_options(run: Runner, luxi: FakeLuxi, rpc: RpcCalls) -> None:
    _script_cluster(luxi)
    code, out, _ = run(gnt_cluster.main, "command", "-n", "node1", "-n", "node2", "-M",
                       "--failure-only", "-g", "default", "ls", "-l")
    assert code == 0
    assert out.splitlines() == ["-" * 48, "node2: hello node2", "return code = 1"]
    assert rpc[0][1] == ["/bin/sh", "-c", "ls -l"]
    assert luxi.args_of("Query")[0][2] == [
        "&", ["|", ["==", "name", "node1"], ["==", "name", "node2"]],
        ["|", ["=", "group", "default"], ["=", "group.uuid", "default"]]]


def test_command_unknown_node(run: Runner, luxi: FakeLuxi, rpc: RpcCalls) -> None:
    _script_cluster(luxi)
    code, _, err = run(gnt_cluster.main, "command", "-n", "ghost", "true")
    assert code == 1
    assert err.endswith("Node(s) not known to the cluster: ghost\n")
    assert rpc == []


def test_unreachable_node_is_reported_like_ssh() -> None:
    failed: NodeResult[Any] = NodeResult.failure("node9", "run_oob", "Connection refused")
    assert direct.outcome(failed) == (255, "RPC failure: Connection refused")
    assert direct.outcome(None) == (255, "No answer from the node")


def test_copyfile_skips_master_and_reports_failures(
    run: Runner, luxi: FakeLuxi, rpc: RpcCalls, tmp_path: Path
) -> None:
    _script_cluster(luxi)
    source = tmp_path / "motd"
    source.write_text("welcome\n")
    code, out, err = run(gnt_cluster.main, "copyfile", str(source))
    assert (code, out) == (0, "")
    assert err.splitlines() == [
        "Note: skipping offline node(s): node3",
        f"Copy of file {source} to node node2:1911 failed: hello node2",
    ]
    [(targets, argv, _)] = rpc
    assert [t.name for t in targets] == ["node2"]
    assert argv[:3] == ["python3", "-c", direct.DECODER]
    assert argv[3] == str(source)


def test_copyfile_missing_file(run: Runner, luxi: FakeLuxi, tmp_path: Path) -> None:
    code, _, err = run(gnt_cluster.main, "copyfile", str(tmp_path / "nope"))
    assert code == 1
    assert err.endswith(f"No such filename '{tmp_path / 'nope'}'\n")
    assert luxi.calls == []


def test_copy_decoder_writes_the_file(tmp_path: Path) -> None:
    data = os.urandom(200_000)
    target = tmp_path / "copy.bin"
    argv = direct.copy_argv(str(target), data, 0o640, 1600000000.0, 1600000001.5)
    assert len(argv) > 8  # split into several argument-sized chunks
    subprocess.run([sys.executable, *argv[1:]], check=True)
    assert target.read_bytes() == data
    assert target.stat().st_mode & 0o7777 == 0o640
    assert target.stat().st_mtime == 1600000001.5
    assert [p.name for p in tmp_path.iterdir()] == ["copy.bin"]


def test_run_on_nodes_uses_the_rpc_client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import corral.rpc.client as rpc_client
    import corral.rpc.tls as tls

    seen: dict[str, Any] = {}

    class FakeClient:
        def __init__(self, ssl_context: Any, *, connect_timeout: float) -> None:
            seen["ssl"] = ssl_context
            seen["connect_timeout"] = connect_timeout

        async def call(self, name: str, targets: list[NodeTarget], *args: Any,
                       timeout: float | None = None) -> dict[str, Any]:
            seen["call"] = (name, targets, args, timeout)
            return {"n1": "result"}

        async def close(self) -> None:
            seen["closed"] = True

    monkeypatch.setattr(rpc_client, "RpcClient", FakeClient)
    monkeypatch.setattr(tls, "client_ssl_context", lambda layout: f"ctx:{layout.root}")
    monkeypatch.setenv("CORRAL_ROOT", str(tmp_path))
    targets = [NodeTarget("n1", "192.0.2.1")]
    assert direct.run_on_nodes(targets, ["true"], 30.0) == {"n1": "result"}
    assert seen == {"ssl": f"ctx:{tmp_path}", "connect_timeout": 5.0,
                    "call": ("run_oob", targets, (["true"], 30.0), 40.0), "closed": True}
