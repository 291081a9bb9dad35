"""The master-candidate pool: how many candidates there should be, and whom to promote.

Pure functions over a :class:`ConfigData`; the logical units commit the result.
A node can be a candidate when it is master capable, online and not drained
(Ganeti's ``GetMasterCandidateStats`` and ``MaintainCandidatePool``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from corral.objects.config_data import ConfigData
from corral.objects.node import Node


@dataclass(frozen=True, slots=True)
class CandidateStats:
    """Candidate counts, leaving out excluded nodes."""

    current: int
    """Nodes flagged as master candidates now."""
    desired: int
    """``min(candidate_pool_size, possible)``: how many there should be."""
    possible: int
    """Nodes that could be candidates (master capable, online, not drained)."""


def can_be_candidate(node: Node) -> bool:
    """Whether ``node`` is eligible for the master-candidate role."""
    return node.master_capable and not node.offline and not node.drained


def candidate_stats(
    cfg: ConfigData, exclude: Iterable[str] = (), pool_size: int | None = None
) -> CandidateStats:
    """Counts over every node whose UUID is not in ``exclude``.

    ``pool_size`` overrides the cluster's ``candidate_pool_size`` (for a pending change).
    """
    size = cfg.cluster.candidate_pool_size if pool_size is None else pool_size
    skip = set(exclude)
    nodes = [n for n in cfg.nodes.values() if n.uuid not in skip]
    current = sum(1 for n in nodes if n.master_candidate)
    possible = sum(1 for n in nodes if can_be_candidate(n))
    return CandidateStats(current, min(possible, size), possible)


def desired_candidates(cfg: ConfigData, exclude: Iterable[str] = ()) -> int:
    """How many candidates the cluster should have (pool size capped by eligible nodes)."""
    return candidate_stats(cfg, exclude).desired


def wants_more_candidates(cfg: ConfigData, exclude: Iterable[str] = ()) -> bool:
    """Whether one more candidate would still fit in the pool (Ganeti's self-promotion rule)."""
    return candidate_stats(cfg, exclude).current < cfg.cluster.candidate_pool_size


def pick_promotions(
    cfg: ConfigData, exclude: Iterable[str] = (), pool_size: int | None = None
) -> list[Node]:
    """Eligible non-candidates to promote so the pool is full, in name order.

    Nodes in ``exclude`` are neither counted nor picked (e.g. the node being
    demoted or removed).
    """
    skip = set(exclude)
    stats = candidate_stats(cfg, skip, pool_size)
    missing = stats.desired - stats.current
    if missing <= 0:
        return []
    eligible = [
        n for n in cfg.nodes.values()
        if n.uuid not in skip and not n.master_candidate and can_be_candidate(n)
    ]
    return sorted(eligible, key=lambda n: n.name)[:missing]


def promoted(nodes: Iterable[Node], now: float) -> list[Node]:
    """New versions of ``nodes`` flagged as master candidates."""
    return [n.evolve(now, master_candidate=True) for n in nodes]


def fill_pool(
    cfg: ConfigData, exclude: Iterable[str], now: float, pool_size: int | None = None
) -> list[Node]:
    """:func:`pick_promotions`, already flagged as candidates (ready to commit)."""
    return promoted(pick_promotions(cfg, exclude, pool_size), now)
