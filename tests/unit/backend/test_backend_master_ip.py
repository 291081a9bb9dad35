"""Master IP: parsing, external script mode with hooks, and real addresses on a test bridge."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from corral.backend.context import NodeContext
from corral.backend.master_ip import (
    IfAddress,
    MasterParams,
    find_address,
    node_activate_master_ip,
    node_change_master_netmask,
    node_deactivate_master_ip,
    parse_ip_addr,
)
from corral.backend.ssconf import write_ssconf
from corral.errors import CommandError, HooksAbort, OpExecError, ParameterError
from corral.layout import NodeLayout
from corral.process import CommandResult

IP_ADDR = """\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever
4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever
4: eth0    inet 192.0.2.50/32 scope global eth0:0\\       valid_lft forever preferred_lft forever
4: eth0    inet6 2001:0db8:0000::0005/64 scope global \\       valid_lft forever
7: veth1@if6    inet 10.0.0.1/30 scope global veth1\\       valid_lft forever preferred_lft forever
"""

BRIDGE = "corraltestbr0"
TEST_IP = "198.51.100.10"


def test_parse_ip_addr() -> None:
    addrs = parse_ip_addr(IP_ADDR)
    assert addrs[0] == IfAddress("lo", "inet", "127.0.0.1", 8)
    assert addrs[3] == IfAddress("eth0", "inet", "192.0.2.50", 32)
    assert addrs[4] == IfAddress("eth0", "inet6", "2001:0db8:0000::0005", 64)
    assert addrs[5].ifname == "veth1"
    assert len(addrs) == 6
    assert parse_ip_addr("garbage\n\n2: x\n") == []


def test_find_address_normalizes_and_filters_by_device() -> None:
    addrs = parse_ip_addr(IP_ADDR)
    assert [a.prefixlen for a in find_address(addrs, "2001:db8::5")] == [64]
    assert find_address(addrs, "192.0.2.50", "eth0")[0].prefixlen == 32
    assert find_address(addrs, "192.0.2.50", "lo") == []
    assert find_address(addrs, "198.51.100.1") == []


def test_master_params_from_wire() -> None:
    base = {"ip": "192.0.2.1", "netmask": 24, "netdev": "eth0", "uuid": "u"}
    assert MasterParams.from_wire({**base, "ip_family": 2}).ip_version == 4
    six = MasterParams.from_wire({**base, "ip": "2001:db8::1", "ip_family": 10})
    assert six.env() == {"MASTER_NETDEV": "eth0", "MASTER_IP": "2001:db8::1",
                         "MASTER_NETMASK": "24", "CLUSTER_IP_VERSION": "6"}
    assert MasterParams.from_wire(base).ip_version == 4
    for bad in ({**base, "ip": "not-an-ip"}, {"ip": "192.0.2.1"}):
        with pytest.raises(ParameterError):
            MasterParams.from_wire(bad)


class FakeIp:
    """Answers ``ip -o addr show`` from a text and records every command."""

    def __init__(self, addr_text: str) -> None:
        self.addr_text = addr_text
        self.calls: list[tuple[str, ...]] = []

    async def run(self, argv: Sequence[str], *, timeout: float | None = None,
                  env: Mapping[str, str] | None = None, cwd: str | None = None,
                  stdin: bytes | None = None, reset_env: bool = False) -> CommandResult:
        self.calls.append(tuple(argv))
        out = self.addr_text if tuple(argv[1:]) == ("-o", "addr", "show") else ""
        return CommandResult(tuple(argv), 0, out, "")


def _fake_ctx(tmp_path: Path, addr_text: str) -> tuple[NodeContext, FakeIp]:
    runner = FakeIp(addr_text)
    return NodeContext(layout=NodeLayout(tmp_path), node_name="n1", runner=runner), runner


def _params(ip: str = "192.0.2.77", netdev: str = "eth0", netmask: int = 24) -> dict[str, object]:
    return {"ip": ip, "netmask": netmask, "netdev": netdev, "ip_family": 2, "uuid": "u1"}


def test_turnup_adds_label_and_announces(tmp_path: Path) -> None:
    ctx, runner = _fake_ctx(tmp_path, IP_ADDR)
    asyncio.run(node_activate_master_ip(ctx, _params(), False))
    assert runner.calls[1:] == [
        ("ip", "address", "add", "192.0.2.77/24", "dev", "eth0", "label", "eth0:0"),
        ("arping", "-q", "-U", "-c", "3", "-I", "eth0", "-s", "192.0.2.77", "192.0.2.77"),
    ]


def test_turnup_is_a_no_op_when_configured_and_turndown_when_absent(tmp_path: Path) -> None:
    ctx, runner = _fake_ctx(tmp_path, IP_ADDR)
    asyncio.run(node_activate_master_ip(ctx, _params(ip="192.0.2.50"), False))
    asyncio.run(node_deactivate_master_ip(ctx, _params(ip="192.0.2.99"), False))
    assert all(call[1:] == ("-o", "addr", "show") for call in runner.calls)
    asyncio.run(node_deactivate_master_ip(ctx, _params(ip="192.0.2.50", netmask=24), False))
    assert runner.calls[-1] == ("ip", "address", "del", "192.0.2.50/32", "dev", "eth0")


def _record_script(path: Path, out: Path, tag: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\n{{ echo "== {tag} $*"; /usr/bin/env | sort; }} >> {out}\n')
    path.chmod(0o755)


def _sections(text: str) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    for chunk in text.split("== ")[1:]:
        head, *lines = chunk.splitlines()
        sections[head] = dict(line.split("=", 1) for line in lines if line and line[:3] != "PWD")
    return sections


def test_external_script_mode_runs_script_between_hooks(tmp_path: Path) -> None:
    layout = NodeLayout(tmp_path)
    ctx = NodeContext(layout=layout, node_name="n1")
    write_ssconf(layout, {"cluster_name": "c.example.com", "master_node": "n1.example.com"})
    out = tmp_path / "record"
    _record_script(layout.external_mip_script, out, "script")
    _record_script(layout.hooks_dir / "master-ip-turnup-pre.d" / "h", out, "pre")
    _record_script(layout.hooks_dir / "master-ip-turnup-post.d" / "h", out, "post")
    asyncio.run(node_activate_master_ip(ctx, _params(ip=TEST_IP), True))
    asyncio.run(node_deactivate_master_ip(ctx, _params(ip=TEST_IP), True))
    sections = _sections(out.read_text())
    assert list(sections) == ["pre ", "script start", "post ", "script stop"]
    assert sections["script start"] == {
        "PATH": "/sbin:/bin:/usr/sbin:/usr/bin", "MASTER_NETDEV": "eth0", "MASTER_IP": TEST_IP,
        "MASTER_NETMASK": "24", "CLUSTER_IP_VERSION": "4"}
    pre, post = sections["pre "], sections["post "]
    assert pre["GANETI_OP_CODE"] == "OP_CLUSTER_IP_TURNUP"
    assert pre["GANETI_HOOKS_PATH"] == "master-ip-turnup"
    assert pre["GANETI_MASTER_IP"] == TEST_IP
    assert pre["GANETI_CLUSTER"] == "c.example.com"
    assert pre["GANETI_MASTER"] == "n1.example.com"
    assert "GANETI_POST_MASTER_IP" not in pre
    assert post["GANETI_POST_CLUSTER_IP_VERSION"] == "4"


def test_failing_pre_hook_aborts_before_the_script(tmp_path: Path) -> None:
    layout = NodeLayout(tmp_path)
    ctx = NodeContext(layout=layout, node_name="n1")
    out = tmp_path / "record"
    _record_script(layout.external_mip_script, out, "script")
    veto = layout.hooks_dir / "master-ip-turndown-pre.d" / "veto"
    veto.parent.mkdir(parents=True)
    veto.write_text("#!/bin/sh\nexit 1\n")
    veto.chmod(0o755)
    with pytest.raises(HooksAbort, match=r"master-ip-turndown-pre\.d/veto"):
        asyncio.run(node_deactivate_master_ip(ctx, _params(), True))
    assert not out.exists()


def test_failing_external_script_is_an_error(tmp_path: Path) -> None:
    ctx = NodeContext(layout=NodeLayout(tmp_path), node_name="n1")
    with pytest.raises(CommandError, match="Failed to start the master IP"):
        asyncio.run(node_activate_master_ip(ctx, _params(), True))


# --- real addresses on a throw-away bridge --------------------------------------


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def bridge() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root to create a bridge and add addresses")
    if shutil.which("ip") is None:
        pytest.skip("the ip command (iproute2) is not installed")
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True, check=False)
    _ip("link", "add", BRIDGE, "type", "bridge")
    try:
        _ip("link", "set", BRIDGE, "up")
        yield BRIDGE
    finally:
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True, check=False)


def _prefixes(dev: str) -> list[int]:
    addrs = parse_ip_addr(_ip("-o", "addr", "show"))
    return [a.prefixlen for a in find_address(addrs, TEST_IP, dev)]


def test_real_turnup_netmask_change_and_turndown(tmp_path: Path, bridge: str) -> None:
    ctx = NodeContext(layout=NodeLayout(tmp_path), node_name="n1")
    ctx.services.announce_master_ip = False
    params = _params(ip=TEST_IP, netdev=bridge)
    asyncio.run(node_activate_master_ip(ctx, params, False))
    assert _prefixes(bridge) == [24]
    assert f"{bridge}:0" in _ip("-o", "addr", "show", "dev", bridge)
    asyncio.run(node_activate_master_ip(ctx, params, False))
    assert _prefixes(bridge) == [24]
    asyncio.run(node_change_master_netmask(ctx, 24, 25, TEST_IP, bridge))
    assert _prefixes(bridge) == [25]
    asyncio.run(node_deactivate_master_ip(ctx, params, False))
    assert _prefixes(bridge) == []
    asyncio.run(node_deactivate_master_ip(ctx, params, False))
    with pytest.raises(OpExecError, match="not up"):
        asyncio.run(node_change_master_netmask(ctx, 25, 26, TEST_IP, bridge))
