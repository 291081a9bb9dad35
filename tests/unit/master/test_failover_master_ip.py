"""Master failover and the master IP, through the real node handlers: the old master's
address is taken down (its turndown hooks run there) and its master daemon stopped; ssconf
naming the new master is written; the new master's daemon then turns the address up on
its own node with the ``master-ip-turnup`` hooks. The virtual cluster has no master IP (every
127.0.0.0/8 address answers on loopback), so the nodes here use the external master-IP
script, which records what it is asked."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import msgspec

from corral.backend.commands import node_ensure_daemon
from corral.backend.context import NodeContext
from corral.backend.files import write_ssconf_files
from corral.backend.master_ip import node_activate_master_ip, node_deactivate_master_ip
from corral.clock import FakeClock
from corral.cmdlib.context import MasterContext
from corral.config.store import ConfigStore
from corral.daemons.masterd import activate_master_ip
from corral.layout import NodeLayout
from corral.master.failover import FailoverOptions, master_failover
from corral.objects.config_data import Kind
from corral.objects.node import Node
from tests.support.fake_rpc import FakeNodeRpc
from tests.unit.backend.test_backend_master_ip import _record_script, _sections
from tests.unit.master.test_failover import _candidate

MASTER_IP = "192.0.2.10"


def _on_node(coro: Coroutine[Any, Any, None]) -> None:
    """Run a node handler to its end from inside the fake transport (another loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


def _node(root: Path, name: str, record: Path) -> NodeContext:
    layout = NodeLayout(root)
    _record_script(layout.external_mip_script, record, f"{name} script")
    for hpath in ("master-ip-turnup", "master-ip-turndown"):
        for phase in ("pre", "post"):
            _record_script(layout.hooks_dir / f"{hpath}-{phase}.d" / "h", record,
                           f"{name} {hpath} {phase}")
    return NodeContext(layout=layout, node_name=name)


def _fake_rpc(nodes: dict[str, NodeContext]) -> FakeNodeRpc:
    rpc = FakeNodeRpc(FakeClock())
    rpc.script("master_node_name", payload="node1")
    rpc.script("config_serial", payload=7)

    def handler(call: Any) -> Any:
        def respond(target: Node, args: tuple[Any, ...]) -> None:
            if target.name in nodes:
                _on_node(call(nodes[target.name], *args))

        return respond

    for name, call in (("node_deactivate_master_ip", node_deactivate_master_ip),
                       ("node_activate_master_ip", node_activate_master_ip),
                       ("write_ssconf_files", write_ssconf_files),
                       ("node_ensure_daemon", node_ensure_daemon)):
        rpc.script(name, fn=handler(call))
    return rpc


def test_failover_moves_the_master_ip_with_its_hooks(tmp_path: Path) -> None:
    record = tmp_path / "record"
    layout = _candidate(tmp_path / "node2")
    store = ConfigStore(layout.config_db)
    data = store.load()
    assert data is not None
    cluster = msgspec.structs.replace(data.cluster, master_ip=MASTER_IP, master_netmask=24,
                                      master_netdev="br0", use_external_mip_script=True)
    store.apply(data.serial_no, [(Kind.CLUSTER, cluster.uuid, cluster)], {})
    store.close()
    nodes = {"node1": _node(tmp_path / "node1", "node1", record),
             "node2": _node(tmp_path / "node2", "node2", record)}
    rpc = _fake_rpc(nodes)

    def start_master(_no_voting: bool) -> None:
        """What the new master daemon does about the master IP once it runs."""
        new = ConfigStore(layout.config_db)
        config = new.load()
        new.close()
        ctx = SimpleNamespace(config=SimpleNamespace(data=config), rpc=rpc)
        asyncio.run(activate_master_ip(cast(MasterContext, ctx)))

    answers = iter([True, False, True])  # up on the old master, down, up here
    outcome = asyncio.run(master_failover(layout, rpc, FailoverOptions(ip_wait=5.0),
                                          start_master, lambda _m: None,
                                          lambda _a, _p: next(answers)))
    assert (outcome.code, outcome.warnings) == (0, [])
    sections = _sections(record.read_text())
    assert list(sections) == [
        "node1 master-ip-turndown pre ", "node1 script stop", "node1 master-ip-turndown post ",
        "node2 master-ip-turnup pre ", "node2 script start", "node2 master-ip-turnup post "]
    assert sections["node2 script start"]["MASTER_IP"] == MASTER_IP
    assert sections["node2 script start"]["MASTER_NETDEV"] == "br0"
    assert sections["node1 script stop"]["MASTER_NETMASK"] == "24"
    turnup = sections["node2 master-ip-turnup pre "]
    assert turnup["GANETI_OP_CODE"] == "OP_CLUSTER_IP_TURNUP"
    assert turnup["GANETI_MASTER"] == "node2"  # ssconf naming it was written first
    assert rpc.nodes_called("node_activate_master_ip") == ["node2"]
    stops = rpc.calls_of("node_ensure_daemon")
    assert [(c.node, c.args) for c in stops] == [("node1", ("corral-masterd", False))]
