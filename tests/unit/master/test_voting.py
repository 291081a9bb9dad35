"""The master vote (Ganeti's CheckAgreement): majority, undecided with retries, cannot win."""

from __future__ import annotations

import asyncio

import pytest

from corral.clock import FakeClock
from corral.master.voting import (
    Answers,
    NotMasterError,
    Verdict,
    VotePolicy,
    check_agreement,
    majority_healthy,
    tally,
    vote_at_start,
)
from corral.objects import Cluster, ConfigData, Node, NodeGroup
from tests.support.fake_rpc import FakeNodeRpc


@pytest.mark.parametrize(
    ("answers", "verdict"),
    [
        ({"a": "a", "b": "a", "c": "a"}, Verdict.WON),
        ({"a": "a", "b": "a", "c": None}, Verdict.WON),
        ({"a": "a", "b": None, "c": None}, Verdict.UNDECIDED),
        ({"a": "a", "b": "b", "c": None}, Verdict.UNDECIDED),
        ({"a": "a", "b": "b", "c": "b"}, Verdict.LOST),
        ({"a": None, "b": "b", "c": "b"}, Verdict.LOST),
        # two nodes: a majority is both of them (the two-node caveat)
        ({"a": "a", "b": None}, Verdict.UNDECIDED),
        ({"a": "a", "b": "a"}, Verdict.WON),
        ({"a": "a"}, Verdict.WON),
    ],
)
def test_verdict(answers: Answers, verdict: Verdict) -> None:
    assert tally("a", answers).verdict is verdict


def test_leader_is_the_name_with_most_votes() -> None:
    count = tally("a", {"a": "a", "b": "b", "c": "b", "d": None})
    assert count.leader == "b"
    assert count.votes == (("b", 2), ("a", 1))
    assert count.unknown == 1
    assert count.voters == 4


def test_majority_healthy_counts_nodes_naming_any_master() -> None:
    assert majority_healthy({"a": "a", "b": "x", "c": None}) == (True, ["c"])
    assert majority_healthy({"a": "a", "b": None, "c": None}) == (False, ["b", "c"])
    assert majority_healthy({"a": "a", "b": None}) == (False, ["b"])


def test_undecided_vote_is_asked_again_until_won() -> None:
    slept: list[float] = []
    undecided: Answers = {"a": "a", "b": None, "c": None}
    won: Answers = {"a": "a", "b": "a", "c": None}
    rounds = [undecided, undecided, undecided, won]

    async def ask() -> Answers:
        return rounds[len(slept)]

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    count = asyncio.run(check_agreement("a", ask, VotePolicy(6, 2.5), sleep))
    assert count.verdict is Verdict.WON
    assert slept == [2.5, 2.5, 2.5]


def test_undecided_vote_gives_up_after_the_retries() -> None:
    slept: list[float] = []

    async def ask() -> Answers:
        return {"a": "a", "b": None, "c": None}

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    count = asyncio.run(check_agreement("a", ask, VotePolicy(6, 10.0), sleep))
    assert count.verdict is Verdict.UNDECIDED
    assert slept == [10.0] * 6


def test_lost_vote_is_not_retried() -> None:
    slept: list[float] = []

    async def ask() -> Answers:
        return {"a": "a", "b": "b", "c": "b"}

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    assert asyncio.run(check_agreement("a", ask, VotePolicy(), sleep)).verdict is Verdict.LOST
    assert slept == []


def _config(master: str = "n1") -> ConfigData:
    data = ConfigData(cluster=Cluster(uuid="c1", cluster_name="c.example", master_node=master))
    data.put(NodeGroup(uuid="g1", name="default"))
    for index in (1, 2, 3):
        data.put(Node(uuid=f"n{index}", name=f"node{index}", primary_ip=f"127.0.0.{index}",
                      group="g1", master_candidate=True))
    return data


def test_start_vote_won_by_the_master() -> None:
    rpc = FakeNodeRpc(FakeClock())
    rpc.script("master_node_name", payload="node1")
    rpc.script("master_node_name", "node3", fail="connection refused")
    count = asyncio.run(vote_at_start("node1", _config(), rpc, VotePolicy(0, 0.0)))
    assert count.in_favor == 2
    assert count.unknown == 1


def test_start_vote_lost_names_the_other_master() -> None:
    rpc = FakeNodeRpc(FakeClock())
    rpc.script("master_node_name", payload="node2")
    rpc.script("master_node_name", "node1", payload="node1")
    with pytest.raises(NotMasterError, match="vote node2 as master") as caught:
        asyncio.run(vote_at_start("node1", _config(), rpc, VotePolicy(0, 0.0)))
    assert caught.value.exit_code == 11


def test_start_vote_undecided_gives_up_with_advice() -> None:
    rpc = FakeNodeRpc(FakeClock())
    rpc.script("master_node_name", payload="node1")
    rpc.script("master_node_name", "node2", fail="timed out")
    rpc.script("master_node_name", "node3", fail="timed out")
    with pytest.raises(NotMasterError, match="--no-voting --yes-do-it"):
        asyncio.run(vote_at_start("node1", _config(), rpc, VotePolicy(0, 0.0)))


def test_start_refused_when_the_configuration_names_another_master() -> None:
    rpc = FakeNodeRpc(FakeClock())
    with pytest.raises(NotMasterError, match="configuration names node2"):
        asyncio.run(vote_at_start("node1", _config("n2"), rpc, VotePolicy(0, 0.0)))
    assert rpc.calls_of("master_node_name") == []
