"""LockPlan, LevelRequest and Acquired values."""

import dataclasses
from typing import Any

import pytest

from corral.locking import (
    ALL_SET,
    BGL,
    Acquired,
    Level,
    LevelGrant,
    LevelRequest,
    LockPlan,
    exclusive,
    opportunistic,
    shared,
)


def test_of_adds_the_bgl_shared_by_default() -> None:
    plan = LockPlan.of({Level.NODE: exclusive(["n1", "n2"])})
    assert plan.levels == (Level.CLUSTER, Level.NODE)
    assert plan.get(Level.CLUSTER) == LevelRequest(frozenset({BGL}), shared=True)
    assert plan.get(Level.NODE) == LevelRequest(frozenset({"n1", "n2"}))


def test_of_takes_the_bgl_exclusive_on_request() -> None:
    plan = LockPlan.of(exclusive_bgl=True)
    assert plan.requests == ((Level.CLUSTER, LevelRequest(frozenset({BGL}))),)


def test_of_keeps_an_explicit_cluster_request() -> None:
    plan = LockPlan.of({Level.CLUSTER: exclusive(ALL_SET)})
    request = plan.get(Level.CLUSTER)
    assert request is not None
    assert request.all_set
    assert not request.shared


def test_bare_adds_nothing_and_sorts_levels() -> None:
    plan = LockPlan.bare({Level.NODE: shared("n1"), Level.INSTANCE: exclusive("i1")})
    assert plan.levels == (Level.INSTANCE, Level.NODE)
    assert not LockPlan.bare()
    assert list(plan) == list(plan.requests)


def test_a_level_may_appear_only_once() -> None:
    with pytest.raises(ValueError, match="twice"):
        LockPlan(((Level.NODE, shared("a")), (Level.NODE, shared("b"))))


def test_plans_are_frozen_and_hashable() -> None:
    plan = LockPlan.of()
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.requests = ()  # type: ignore[misc]
    assert hash(plan) == hash(LockPlan.of())


def test_with_level_without_and_only() -> None:
    plan = LockPlan.of({Level.NODE: exclusive("n1")})
    changed = plan.with_level(Level.NODE, shared("n2")).with_level(Level.INSTANCE, shared("i"))
    assert changed.levels == (Level.CLUSTER, Level.INSTANCE, Level.NODE)
    assert changed.get(Level.NODE) == shared("n2")
    assert changed.without(Level.CLUSTER).levels == (Level.INSTANCE, Level.NODE)
    assert changed.only(Level.NODE).requests == ((Level.NODE, shared("n2")),)
    assert not changed.only(Level.NETWORK)
    assert plan.get(Level.NODE) == exclusive("n1")


def test_request_helpers_accept_one_name_many_or_all_set() -> None:
    assert exclusive("n1").names == frozenset({"n1"})
    assert shared(["a", "b", "a"]).names == frozenset({"a", "b"})
    assert shared(ALL_SET).names is ALL_SET
    request = opportunistic(ALL_SET, shared=True, count=2)
    assert (request.opportunistic, request.shared, request.opportunistic_count) == (True, True, 2)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"names": ["n1"]}, TypeError),
        ({"names": frozenset({""})}, TypeError),
        ({"names": frozenset({"n1"}), "opportunistic_count": 1}, ValueError),
        (
            {"names": frozenset({"n1"}), "opportunistic": True, "opportunistic_count": -1},
            ValueError,
        ),
    ],
    ids=["list", "empty-name", "count-without-opportunistic", "negative-count"],
)
def test_level_request_validation(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        LevelRequest(**kwargs)


def test_acquired_lookups() -> None:
    got = Acquired(
        "job/1",
        (
            (Level.CLUSTER, LevelGrant(frozenset({BGL}), shared=True)),
            (Level.NODE, LevelGrant(frozenset({"n1"}), shared=False, all_set=True)),
        ),
    )
    assert got.levels == (Level.CLUSTER, Level.NODE)
    assert got.names(Level.NODE) == frozenset({"n1"})
    assert got.names(Level.INSTANCE) == frozenset()
    grant = got.get(Level.NODE)
    assert grant is not None
    assert grant.mode == "exclusive"
    assert grant.all_set
