"""The master-candidate pool arithmetic."""

from __future__ import annotations

from corral.cmdlib.common.nodes.candidates import (
    candidate_stats,
    desired_candidates,
    fill_pool,
    pick_promotions,
    wants_more_candidates,
)
from tests.support.config import ConfigBuilder, standard_cluster


def test_stats_count_only_eligible_nodes() -> None:
    b = standard_cluster(nodes=2, pool_size=10)
    b.node("off", offline=True)
    b.node("drained", drained=True)
    b.node("incapable", master_capable=False)
    b.node("spare")
    stats = candidate_stats(b.data)
    assert (stats.current, stats.possible, stats.desired) == (2, 3, 3)
    assert desired_candidates(b.data) == 3
    assert [n.name for n in pick_promotions(b.data)] == ["spare"]


def test_pool_size_caps_promotions_and_order_is_by_name() -> None:
    b = ConfigBuilder(candidate_pool_size=3)
    b.node("master")
    b.nodes("zeta", "alpha", "mid")
    assert [n.name for n in pick_promotions(b.data)] == ["alpha", "mid"]
    assert [n.name for n in pick_promotions(b.data, pool_size=2)] == ["alpha"]
    promoted = fill_pool(b.data, (), 5.0)
    assert all(n.master_candidate and n.mtime == 5.0 for n in promoted)


def test_exclusion_removes_node_from_counts_and_choices() -> None:
    b = standard_cluster(nodes=3, pool_size=3)
    b.node("node4", master_candidate=False)
    assert pick_promotions(b.data) == []
    assert [n.name for n in pick_promotions(b.data, exclude={"node-node2"})] == ["node4"]
    assert not wants_more_candidates(b.data)
    assert wants_more_candidates(b.data, exclude={"node-node2"})
