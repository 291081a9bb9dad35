"""node_verify checks."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from pathlib import Path
from typing import Any

from corral import __version__
from corral.backend.context import NodeContext
from corral.backend.verify import node_setup_problems, node_verify
from corral.clock import FakeClock
from corral.layout import NodeLayout
from corral.version import PROTOCOL_VERSION
from tests.support.fake_rpc import wire


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _with_listener(coro_fn: Any) -> Any:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await coro_fn(port)
    finally:
        server.close()
        await server.wait_closed()


def test_filelist_hashes_relative_to_node_root(tmp_path: Path) -> None:
    layout = NodeLayout(tmp_path)
    ctx = NodeContext(layout=layout, node_name="node1")
    layout.rapi_users_file.parent.mkdir(parents=True)
    layout.rapi_users_file.write_bytes(b"users")
    checks = {"filelist": ["/var/lib/corral/rapi/users", "etc/corral/missing"]}
    result = wire(asyncio.run(node_verify(ctx, checks, "cluster", {})))
    assert result == {"filelist": {
        "/var/lib/corral/rapi/users": hashlib.sha1(b"users").hexdigest(),
        "etc/corral/missing": None,
    }}


def test_nodelist_reports_only_unreachable_nodes(tmp_path: Path) -> None:
    ctx = NodeContext(layout=NodeLayout(tmp_path), node_name="node1")
    closed = _free_port()

    async def run(port: int) -> dict[str, Any]:
        nodes = {"up": ["127.0.0.1", port], "down": ["127.0.0.1", closed], "junk": "x"}
        answer: dict[str, Any] = wire(await node_verify(ctx, {"nodelist": nodes}, "cluster", {}))
        return answer

    errors = asyncio.run(_with_listener(run))["nodelist"]
    assert set(errors) == {"down", "junk"}
    assert f"127.0.0.1:{closed}" in errors["down"]
    assert "Malformed" in errors["junk"]


def test_master_ip_reachability(tmp_path: Path) -> None:
    ctx = NodeContext(layout=NodeLayout(tmp_path), node_name="node1")

    async def run(port: int) -> tuple[Any, Any]:
        ctx.port = port
        up = wire(await node_verify(ctx, {"master-ip": ["master", "127.0.0.1"]}, "c", {}))
        ctx.port = _free_port()
        down = wire(await node_verify(ctx, {"master-ip": "127.0.0.1"}, "c", {}))
        return up["master-ip"], down["master-ip"]

    assert asyncio.run(_with_listener(run)) == (True, False)


def test_simple_checks_and_unknown_names(tmp_path: Path) -> None:
    clock = FakeClock(start=1_700_000_000.25)
    ctx = NodeContext(layout=NodeLayout(tmp_path), node_name="node1", clock=clock)
    checks = {"version": None, "time": None, "hypervisor": ["fake", "xen-pvm"],
              "some-future-check": 1}
    result = wire(asyncio.run(node_verify(ctx, checks, "cluster", {"fake": {}})))
    assert result["version"] == [PROTOCOL_VERSION, __version__]
    assert result["time"] == [1_700_000_000, 250_000]
    assert result["hypervisor"]["fake"] is None
    assert "xen-pvm" in result["hypervisor"]["xen-pvm"]
    assert "some-future-check" not in result


def test_node_setup_problems(tmp_path: Path) -> None:
    layout = NodeLayout(tmp_path)
    ctx = NodeContext(layout=layout, node_name="node1")
    problems = wire(asyncio.run(node_verify(ctx, {"node-setup": None}, "c", {})))["node-setup"]
    assert any(str(layout.data_dir) in p for p in problems)
    layout.ensure_dirs()
    for path in (layout.ca_cert, layout.node_cert, layout.node_key):
        path.write_text("pem")
    layout.node_key.chmod(0o600)
    assert node_setup_problems(layout) == []
    layout.node_key.chmod(0o644)
    assert node_setup_problems(layout) == [f"{layout.node_key} is readable by group or others"]
    assert wire(asyncio.run(node_verify(ctx, {"nodesetup": None}, "c", {})))["nodesetup"] != []
