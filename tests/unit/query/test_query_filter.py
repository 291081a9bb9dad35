"""The filter language: every operator, nesting, validation errors."""

from typing import Any

import pytest

from corral.errors import ErrorCode, OpPrereqError, QueryFilterError
from corral.query import (
    QueryContext,
    make_simple_filter,
    query_prereq,
    query_values,
    requested_names,
)


@pytest.fixture
def ctx(builder):
    g2 = builder.group("rack2")
    builder.node("node1.example.com", master_candidate=True, tags=("web", "ssd"))
    builder.node("node2.example.com", drained=True, tags=("db",))
    builder.node("node10.example.com", group=g2, serial_no=7)
    builder.node("other.example.com", offline=True, serial_no=3)
    return builder.context()


def names(ctx: QueryContext, qfilter: Any) -> list[Any]:
    return [row[0] for row in query_values("node", ["name"], qfilter, ctx)]


ALL = ["node1.example.com", "node2.example.com", "node10.example.com", "other.example.com"]


@pytest.mark.parametrize(
    ("qfilter", "expected"),
    [
        (["=", "name", "node2.example.com"], ["node2.example.com"]),
        (["=", "group", "rack2"], ["node10.example.com"]),
        (["!=", "group", "rack2"], ["node1.example.com", "node2.example.com",
                                    "other.example.com"]),
        (["<", "serial_no", 3], ["node1.example.com", "node2.example.com"]),
        (["<=", "serial_no", 3], ["node1.example.com", "node2.example.com",
                                  "other.example.com"]),
        ([">", "serial_no", 3], ["node10.example.com"]),
        ([">=", "serial_no", 3], ["node10.example.com", "other.example.com"]),
        (["=~", "name", r"^node\d\."], ["node1.example.com", "node2.example.com"]),
        (["=~", "name", "10"], ["node10.example.com"]),
        (["=[]", "tags", "ssd"], ["node1.example.com"]),
        (["?", "master_candidate"], ["node1.example.com"]),
        (["!", ["?", "offline"]], ["node1.example.com", "node2.example.com",
                                   "node10.example.com"]),
        (["|", ["?", "drained"], ["?", "offline"]], ["node2.example.com", "other.example.com"]),
        (["&", ["=~", "name", "^node"], ["!", ["=", "group", "default"]]],
         ["node10.example.com"]),
        (["&"], ALL),
        (["|"], []),
        (["=", "serial_no", 1], ["node1.example.com", "node2.example.com"]),
        (["=", "offline", True], ["other.example.com"]),
    ],
    ids=["eq", "eq-group", "ne", "lt", "le", "gt", "ge", "regex", "regex-search", "contains",
         "true", "not", "or", "and-nested", "empty-and", "empty-or", "eq-number", "eq-bool"],
)
def test_operators(ctx, qfilter, expected):
    assert names(ctx, qfilter) == expected


def test_deep_nesting_within_limit(ctx):
    qfilter: list[Any] = ["=", "name", "node2.example.com"]
    for _ in range(4):
        qfilter = ["!", ["!", qfilter]]
    assert names(ctx, qfilter) == ["node2.example.com"]


def test_hostname_equality_matches_short_names(ctx):
    qfilter = ["|", ["=", "name", "node10"], ["?", "drained"]]
    assert names(ctx, qfilter) == ["node2.example.com", "node10.example.com"]
    assert names(ctx, ["!=", "name", "NODE1"]) == ALL[1:]


def test_unavailable_values_pass_the_filter(builder):
    asked = builder.node("asked")
    builder.node("unasked")
    ctx = builder.context(live_nodes={asked.uuid: {"memory_free": 100}})
    rows = query_values("node", ["name"], [">", "mfree", 500], ctx)
    assert rows == [["unasked"]]


@pytest.mark.parametrize(
    ("qfilter", "message"),
    [
        ("name", "Invalid filter on level 0"),
        ([], "Invalid filter on level 0"),
        (["|", "x"], "Invalid filter on level 1"),
        (["~~", "name", "x"], "Unknown operator '~~'"),
        ([["="], "name"], "Unknown operator ['=']"),
        (["=", "nosuch", 1], "Unknown field 'nosuch'"),
        (["?", "nosuch"], "Unknown field 'nosuch'"),
        (["!"], "Unary operator '!' expects exactly one operand"),
        (["?", "offline", "drained"], "Unary operator '?' expects exactly one operand"),
        (["=", "name"], "Invalid binary operator '=', expected exactly two operands"),
        (["=", "name", "a", "b"], "Invalid binary operator '=', expected exactly two operands"),
        (["=", "name", 5], "Unable to compare field 'name' (type 'text') with 'int'"),
        (["<", "serial_no", "3"], "Unable to compare field 'serial_no' (type 'number')"),
        (["=", "offline", "yes"], "Unable to compare field 'offline' (type 'bool')"),
        (["=~", "name", "("], "Invalid regex pattern"),
        (["=~", "name", 5], "Regular expression for field 'name' must be a string"),
    ],
    ids=["not-list", "empty", "bad-operand", "unknown-op", "unhashable-op", "unknown-field",
         "unknown-true-field", "not-no-operand", "true-two-operands", "binary-one",
         "binary-three", "text-vs-int", "number-vs-str", "bool-vs-str", "bad-regex",
         "regex-not-str"],
)
def test_malformed_filters(ctx, qfilter, message):
    with pytest.raises(QueryFilterError) as info:
        query_values("node", ["name"], qfilter, ctx)
    assert message in str(info.value)


def test_too_deep(ctx):
    qfilter: list[Any] = ["?", "offline"]
    for _ in range(10):
        qfilter = ["!", qfilter]
    with pytest.raises(QueryFilterError, match="Only up to 10 levels are allowed"):
        query_values("node", ["name"], qfilter, ctx)


def test_evaluation_type_errors(ctx):
    with pytest.raises(QueryFilterError, match="expecting string"):
        query_values("node", ["name"], ["=~", "tags", "web"], ctx)
    with pytest.raises(QueryFilterError, match="is not a list"):
        query_values("node", ["name"], ["=[]", "serial_no", 1], ctx)
    with pytest.raises(QueryFilterError, match="Invalid types in comparison"):
        query_values("node", ["name"], ["<", "tags", 1], ctx)


def test_prereq_wrapper_turns_filter_errors_into_wrong_input(ctx):
    with pytest.raises(OpPrereqError) as info:
        query_prereq("node", ["name"], ["=", "nosuch", 1], ctx)
    assert info.value.code is ErrorCode.INVAL
    assert "Unknown field 'nosuch'" in str(info.value)
    assert isinstance(info.value.__cause__, QueryFilterError)


def test_make_simple_filter():
    assert make_simple_filter("name", ["a", "b"]) == ["|", ["==", "name", "a"], ["==", "name", "b"]]
    assert make_simple_filter("id", [3]) == ["|", ["==", "id", 3]]
    assert make_simple_filter("name", []) is None
    assert make_simple_filter("name", None) is None


@pytest.mark.parametrize(
    ("qfilter", "expected"),
    [
        (None, None),
        (["|", ["=", "name", "a"], ["=", "name", "b"]], ["a", "b"]),
        (["=", "name", "a"], ["a"]),
        (["|", ["|", ["=", "name", "a"]], ["=", "name", "b"]], ["a", "b"]),
        (["|", ["=", "name", "a"], ["=", "group", "b"]], None),
        (["&", ["=", "name", "a"]], None),
        (["=~", "name", "a"], None),
    ],
    ids=["none", "or", "single", "nested-or", "other-field", "and", "regex"],
)
def test_requested_names(qfilter, expected):
    assert requested_names(qfilter, "name") == expected
