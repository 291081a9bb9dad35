"""Lock levels, lock names and the ALL_SET sentinel."""

import pytest

from corral.locking import ALL_SET, BGL, AllSet, Level, lock_name, parse_lock_name, set_lock_name


def test_levels_follow_ganeti_acquisition_order() -> None:
    assert list(Level) == [
        Level.CLUSTER,
        Level.INSTANCE,
        Level.NODEGROUP,
        Level.NODE,
        Level.NODE_RES,
        Level.NETWORK,
    ]
    assert [int(level) for level in Level] == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("level", "name", "expected"),
    [
        (Level.CLUSTER, BGL, "cluster/BGL"),
        (Level.INSTANCE, "inst1.example.com", "instance/inst1.example.com"),
        (Level.NODEGROUP, "0b3c-uuid", "nodegroup/0b3c-uuid"),
        (Level.NODE, "node1", "node/node1"),
        (Level.NODE_RES, "node1", "node-res/node1"),
        (Level.NETWORK, "net-uuid", "network/net-uuid"),
    ],
    ids=["cluster", "instance", "nodegroup", "node", "node-res", "network"],
)
def test_lock_names_round_trip(level: Level, name: str, expected: str) -> None:
    assert lock_name(level, name) == expected
    assert parse_lock_name(expected) == (level, name)


def test_set_lock_name() -> None:
    assert set_lock_name(Level.INSTANCE) == "instance/[lockset]"


@pytest.mark.parametrize(
    "bad", ["node", "node/", "bogus/x", ""], ids=["no-sep", "empty", "level", "blank"]
)
def test_parse_rejects_non_lock_names(bad: str) -> None:
    with pytest.raises(ValueError, match="not a lock name"):
        parse_lock_name(bad)


def test_all_set_is_a_singleton_sentinel() -> None:
    assert ALL_SET is AllSet.ALL_SET
    assert repr(ALL_SET) == "ALL_SET"
    assert list(AllSet) == [ALL_SET]
