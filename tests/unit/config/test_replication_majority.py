"""Configuration commits are acknowledged by a majority of the candidate pool; a hung
candidate lags, is skipped by later commits, and is caught up in the background."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from corral.clock import FakeClock
from corral.config.replication import RpcReplicator
from corral.config.store import ConfigStore
from corral.config.writer import ConfigWriter
from corral.errors import ConfigurationError
from corral.objects import Cluster, ConfigData, Node, NodeGroup
from corral.rpc.majority import CatchUpBackoff, acks_needed
from tests.support.fake_rpc import FakeNodeRpc

BOUND = 0.05
"""The fake never answers a held node, so any bound works; a small one keeps tests short."""


def _data(candidates: int) -> ConfigData:
    data = ConfigData(cluster=Cluster(uuid="c1", cluster_name="c.example", master_node="n1"),
                      serial_no=1)
    data.put(NodeGroup(uuid="g1", name="default"))
    for index in range(1, candidates + 1):
        data.put(Node(uuid=f"n{index}", name=f"node{index}", primary_ip=f"127.0.0.{index}",
                      group="g1", master_candidate=True))
    return data


def _writer(tmp_path: Path, candidates: int = 3) -> tuple[ConfigWriter, RpcReplicator,
                                                          FakeNodeRpc]:
    store = ConfigStore(tmp_path / "config.db")
    store.replace_all(_data(candidates))
    rpc = FakeNodeRpc(FakeClock())
    replicator = RpcReplicator(rpc, "n1", bound=BOUND, backoff=CatchUpBackoff(0.001, 0.01))
    return ConfigWriter(store, _data(candidates), FakeClock(), replicator), replicator, rpc


def _group(index: int) -> NodeGroup:
    return NodeGroup(uuid=f"g{index}", name=f"group{index}")


def test_majority_sizes() -> None:
    assert [acks_needed(pool) for pool in (1, 2, 3, 4, 5)] == [0, 1, 1, 2, 2]


def test_hung_candidate_lags_and_catches_up(tmp_path: Path) -> None:
    writer, replicator, rpc = _writer(tmp_path)
    rpc.hold("node3")

    async def scenario() -> None:
        assert await writer.commit(_group(2)) == 2
        assert rpc.held_calls("node3", "config_replicate") == 1, "the hung call is still pending"
        assert replicator.lagging() == {"node3": "configuration serial 1 of 2"}
        assert await writer.commit(_group(3)) == 3
        assert rpc.held_calls("node3", "config_replicate") == 1, "not contacted again"
        assert replicator.lagging() == {"node3": "configuration serial 1 of 3"}
        assert [c.args[0] for c in rpc.calls_of("config_replicate")] == [2, 3]
        rpc.release("node3")
        await replicator.catch_up.settle()

    asyncio.run(scenario())
    assert replicator.lagging() == {}
    assert replicator.needs_full == set()
    last = rpc.calls_of("config_replicate")[-1]
    assert (last.node, last.args[0], last.args[1]) == ("node3", 3, -1)  # a full copy
    assert {u for _, u, _ in last.args[2]} >= {"g2", "g3"}


def test_caught_up_candidate_gets_deltas_again(tmp_path: Path) -> None:
    writer, replicator, rpc = _writer(tmp_path)
    rpc.hold("node3")

    async def scenario() -> None:
        await writer.commit(_group(2))
        rpc.release("node3")
        await replicator.catch_up.settle()
        rpc.reset()
        await writer.commit(_group(3))

    asyncio.run(scenario())
    assert sorted((c.node, c.args[1]) for c in rpc.calls_of("config_replicate")) == [
        ("node2", 2), ("node3", 2)
    ]


def test_without_majority_the_commit_fails_naming_candidates(tmp_path: Path) -> None:
    writer, replicator, rpc = _writer(tmp_path)
    rpc.hold("node2")
    rpc.hold("node3")

    async def scenario() -> None:
        with pytest.raises(ConfigurationError) as raised:
            await writer.commit(_group(2))
        message = str(raised.value)
        assert "not acknowledged" in message
        assert "node2: no answer" in message
        assert "node3: no answer" in message
        with pytest.raises(ConfigurationError, match=r"node2: lagging.*node3: lagging"):
            await writer.commit(_group(3))

    asyncio.run(scenario())
    assert set(replicator.lagging()) == {"node2", "node3"}


def test_failed_candidate_with_majority_is_lagging(tmp_path: Path) -> None:
    writer, replicator, rpc = _writer(tmp_path)
    rpc.script("config_replicate", "node3", fail="Connection refused")

    async def scenario() -> None:
        await writer.commit(_group(2))
        assert "node3" in replicator.lagging()

    asyncio.run(scenario())


def test_master_alone_is_a_majority_of_one(tmp_path: Path) -> None:
    writer, _replicator, rpc = _writer(tmp_path, candidates=1)
    assert asyncio.run(writer.commit(_group(2))) == 2
    assert rpc.calls_of("config_replicate") == []


def test_pool_of_two_needs_the_other_candidate(tmp_path: Path) -> None:
    writer, _replicator, rpc = _writer(tmp_path, candidates=2)
    rpc.hold("node2")

    async def scenario() -> None:
        with pytest.raises(ConfigurationError, match="1 of 2 master candidates"):
            await writer.commit(_group(2))

    asyncio.run(scenario())
