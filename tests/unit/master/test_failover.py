"""gnt-cluster master-failover's refusals and steps, with a scripted node RPC."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

from corral.clock import FakeClock
from corral.config.ssconf import compute_ssconf
from corral.config.store import ConfigStore
from corral.errors import OpPrereqError
from corral.layout import NodeLayout
from corral.master.failover import FailoverOptions, FailoverOutcome, master_failover
from corral.objects import Cluster, ConfigData, Node, NodeGroup
from corral.objects.config_data import Kind
from tests.support.fake_rpc import FakeNodeRpc


def _config(serial: int = 7) -> ConfigData:
    data = ConfigData(cluster=Cluster(uuid="c1", cluster_name="c.example", master_node="n1"),
                      serial_no=serial)
    data.put(NodeGroup(uuid="g1", name="default"))
    for index in (1, 2, 3):
        data.put(Node(uuid=f"n{index}", name=f"node{index}", primary_ip=f"127.0.0.{index}",
                      group="g1", master_candidate=index != 3))
    return data


def _candidate(tmp_path: Path, me: str = "node2", serial: int = 7) -> NodeLayout:
    """A node root holding a configuration replica, ssconf and its node name."""
    layout = NodeLayout(tmp_path)
    layout.data_dir.mkdir(parents=True)
    data = _config(serial)
    store = ConfigStore(layout.config_db)
    store.replace_all(data)
    store.close()
    for key, value in compute_ssconf(data).items():
        layout.ssconf_file(key).write_text(value)
    layout.node_name_file.write_text(me + "\n")
    return layout


def _run(layout: NodeLayout, rpc: FakeNodeRpc, no_voting: bool = False
         ) -> tuple[FailoverOutcome, list[bool]]:
    started: list[bool] = []
    outcome = asyncio.run(master_failover(layout, rpc, FailoverOptions(no_voting),
                                          started.append, feedback=lambda _m: None))
    return outcome, started


def _rpc(votes: str = "node1", serial: int = 7) -> FakeNodeRpc:
    rpc = FakeNodeRpc(FakeClock())
    rpc.script("master_node_name", payload=votes)
    rpc.script("config_serial", payload=serial)
    return rpc


def _stored_master(layout: NodeLayout) -> tuple[str, int]:
    store = ConfigStore(layout.config_db)
    data = store.load()
    store.close()
    assert data is not None
    return data.master_node.name, data.serial_no


def test_failover_sets_master_stops_old_pushes_and_starts(tmp_path: Path) -> None:
    layout = _candidate(tmp_path)
    rpc = _rpc()
    outcome, started = _run(layout, rpc)
    assert (outcome.code, outcome.warnings, started) == (0, [], [False])
    assert _stored_master(layout) == ("node2", 8)
    assert rpc.nodes_called("node_deactivate_master_ip") == []  # the cluster has no master IP
    stop = rpc.calls_of("node_ensure_daemon")
    assert [(c.node, c.args) for c in stop] == [("node1", ("corral-masterd", False))]
    ssconf = rpc.calls_of("write_ssconf_files")
    assert sorted(c.node for c in ssconf) == ["node1", "node2", "node3"]
    assert all(c.args[0]["master_node"].strip() == "node2" for c in ssconf)
    assert rpc.nodes_called("config_replicate") == ["node1"]


def test_unreachable_old_master_gives_warnings_not_failure(tmp_path: Path) -> None:
    layout = _candidate(tmp_path)
    _with_master_ip(layout)
    rpc = _rpc()
    started: list[bool] = []
    for call in ("master_node_name", "config_serial", "node_deactivate_master_ip",
                 "node_ensure_daemon", "write_ssconf_files", "config_replicate"):
        rpc.script(call, "node1", fail="connection refused")
    outcome = asyncio.run(master_failover(layout, rpc, FailoverOptions(ip_wait=0.0),
                                          started.append, lambda _m: None,
                                          lambda _a, _p: False))
    assert outcome.code == 1  # the master IP did not come up here
    assert started == [False]
    assert any("Could not disable the master IP" in w for w in outcome.warnings)
    assert any("please disable manually" in w for w in outcome.warnings)


def test_refused_on_the_master_itself(tmp_path: Path) -> None:
    layout = _candidate(tmp_path, me="node1")
    with pytest.raises(OpPrereqError, match="node1 is already the master"):
        _run(layout, _rpc())
    assert _stored_master(layout) == ("node1", 7)


def test_refused_on_a_node_that_is_not_a_candidate(tmp_path: Path) -> None:
    layout = _candidate(tmp_path, me="node3")
    with pytest.raises(OpPrereqError, match="not among the nodes marked as master candidates"):
        _run(layout, _rpc())


def test_refused_without_a_healthy_majority(tmp_path: Path) -> None:
    layout = _candidate(tmp_path)
    rpc = _rpc()
    rpc.script("master_node_name", "node1", fail="down")
    rpc.script("master_node_name", "node3", fail="down")
    with pytest.raises(OpPrereqError, match="Unhealthy nodes: node1, node3"):
        _run(layout, rpc)
    assert _stored_master(layout) == ("node1", 7)


def test_refused_when_the_vote_contradicts_the_local_view(tmp_path: Path) -> None:
    layout = _candidate(tmp_path)
    with pytest.raises(OpPrereqError, match="I believe the master is node1 but the other"
                                            " nodes voted node3"):
        _run(layout, _rpc(votes="node3"))


@pytest.mark.parametrize("no_voting", [False, True])
def test_stale_candidate_refused_even_without_voting(tmp_path: Path, no_voting: bool) -> None:
    layout = _candidate(tmp_path, serial=7)
    rpc = _rpc()
    rpc.script("config_serial", "node1", payload=9)
    with pytest.raises(OpPrereqError, match=r"serial 7\) is older than the one of node1"
                                            r" \(serial 9\)"):
        _run(layout, rpc, no_voting=no_voting)
    assert _stored_master(layout) == ("node1", 7)


def test_no_voting_skips_the_vote(tmp_path: Path) -> None:
    layout = _candidate(tmp_path)
    rpc = _rpc()
    rpc.script("master_node_name", fail="down")
    outcome, started = _run(layout, rpc, no_voting=True)
    assert started == [True]
    assert outcome.code == 0
    assert rpc.calls_of("master_node_name") == []


def _with_master_ip(layout: NodeLayout) -> None:
    store = ConfigStore(layout.config_db)
    data = store.load()
    assert data is not None
    cluster = msgspec.structs.replace(data.cluster, master_ip="192.0.2.10")
    store.apply(data.serial_no, [(Kind.CLUSTER, cluster.uuid, cluster)], {})
    store.close()


def test_master_ip_moves_down_then_up(tmp_path: Path) -> None:
    layout = _candidate(tmp_path)
    _with_master_ip(layout)
    states = iter([True, False, True])
    probed: list[tuple[str, int]] = []

    def probe(address: str, port: int) -> bool:
        probed.append((address, port))
        return next(states)

    outcome = asyncio.run(master_failover(layout, _rpc(), FailoverOptions(ip_wait=5.0),
                                          lambda _nv: None, lambda _m: None, probe))
    assert (outcome.code, outcome.warnings) == (0, [])
    assert probed == [("192.0.2.10", 1811)] * 3


def test_master_ip_still_answering_is_reported(tmp_path: Path) -> None:
    layout = _candidate(tmp_path)
    _with_master_ip(layout)
    outcome = asyncio.run(master_failover(layout, _rpc(), FailoverOptions(ip_wait=0.0),
                                          lambda _nv: None, lambda _m: None,
                                          lambda _a, _p: True))
    assert outcome.code == 1
    assert any("The master IP is still reachable" in w for w in outcome.warnings)


def test_refused_in_automatic_failover_mode(tmp_path: Path) -> None:
    layout = _candidate(tmp_path)
    store = ConfigStore(layout.config_db)
    data = store.load()
    assert data is not None
    cluster = msgspec.structs.replace(data.cluster, auto_failover=True,
                                      etcd_endpoints=("http://127.0.0.1:2379",))
    store.apply(data.serial_no + 1, [(Kind.CLUSTER, cluster.uuid, cluster)], {})
    store.close()
    rpc = _rpc()
    with pytest.raises(OpPrereqError, match="automatic master failover"):
        _run(layout, rpc)
    assert rpc.calls == []
