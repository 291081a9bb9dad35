"""Master failover starts a new master term; a master daemon of an ended term refuses
to start."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from corral.clock import FakeClock
from corral.config.store import ConfigStore
from corral.errors import OpPrereqError
from corral.master.failover import FailoverOptions, master_failover
from corral.master.term import check_term, refuse_if_fenced
from corral.master.voting import EXIT_NOTMASTER, NotMasterError
from tests.support.fake_rpc import FakeNodeRpc
from tests.unit.master.test_failover import _candidate, _rpc


def test_failover_announces_a_new_epoch_before_acting(tmp_path: Path) -> None:
    layout = _candidate(tmp_path)
    rpc = _rpc()
    rpc.script("master_epoch", "node3", payload=4)
    outcome = asyncio.run(master_failover(layout, rpc, FailoverOptions(), lambda _nv: None,
                                          feedback=lambda _m: None))
    assert outcome.code == 0
    announced = rpc.calls_of("master_epoch_announce")
    assert sorted((c.node, c.args) for c in announced) == [
        ("node1", (5,)), ("node2", (5,)), ("node3", (5,))]
    assert rpc.epoch == 5
    names = [c.name for c in rpc.calls]
    assert names.index("master_epoch_announce") < names.index("node_ensure_daemon")
    assert names.index("master_epoch_announce") < names.index("config_replicate")
    store = ConfigStore(layout.config_db)
    data = store.load()
    store.close()
    assert data is not None
    assert (data.master_node.name, data.cluster.master_epoch) == ("node2", 5)


def test_failover_refused_when_a_node_knows_a_later_term(tmp_path: Path) -> None:
    layout = _candidate(tmp_path)
    rpc = _rpc()
    rpc.script("master_epoch_announce", "node3",
               fail="fenced: master epoch 2 is older than 3")
    with pytest.raises(OpPrereqError, match="Cannot start master term 2: node node3"):
        asyncio.run(master_failover(layout, rpc, FailoverOptions(), lambda _nv: None,
                                    feedback=lambda _m: None))
    store = ConfigStore(layout.config_db)
    data = store.load()
    store.close()
    assert data is not None
    assert data.master_node.name == "node1"
    assert rpc.calls_of("node_ensure_daemon") == []


def test_master_daemon_of_an_ended_term_refuses_to_start(tmp_path: Path) -> None:
    data = _candidate(tmp_path)
    store = ConfigStore(data.config_db)
    config = store.load()
    store.close()
    assert config is not None
    rpc = FakeNodeRpc(FakeClock())
    asyncio.run(refuse_if_fenced(rpc, config.online_nodes(), 1))
    rpc.script("master_epoch", "node2", payload=2)
    with pytest.raises(NotMasterError, match="node node2 has seen term 2") as err:
        asyncio.run(refuse_if_fenced(rpc, config.online_nodes(), 1))
    assert err.value.exit_code == EXIT_NOTMASTER
    announced = rpc.calls_of("master_epoch_announce")
    assert sorted((c.node, c.args) for c in announced) == [("node1", (2,)), ("node3", (2,))]


def test_master_daemon_refuses_when_the_configuration_names_another(tmp_path: Path) -> None:
    layout = _candidate(tmp_path)
    store = ConfigStore(layout.config_db)
    config = store.load()
    store.close()
    assert config is not None
    rpc = FakeNodeRpc(FakeClock())
    with pytest.raises(NotMasterError, match=r"\(node2\) is not the master; the"
                       r" configuration names node1"):
        asyncio.run(check_term("node2", config, rpc))
    asyncio.run(check_term("node1", config, rpc))
