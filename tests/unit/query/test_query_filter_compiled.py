"""Compiled filters (``|`` of ``=`` as set lookups) against naive evaluation, and limits."""

from __future__ import annotations

import enum
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral.errors import QueryFilterError
from corral.query import filter as qfilter_module
from corral.query.fields import UNAVAIL, FieldDef, FieldFlag, FieldKind, field_table
from corral.query.filter import (
    MAX_LEVELS,
    compile_filter,
    filter_size,
    make_simple_filter,
)


class Color(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    ONE = 1
    TWO = 2


def _get(name: str) -> Any:
    return lambda _shared, item: item[name]


FIELDS = field_table([
    FieldDef("name", "Name", FieldKind.TEXT, "", _get("name"), flags=FieldFlag.HOSTNAME),
    FieldDef("text", "Text", FieldKind.TEXT, "", _get("text")),
    FieldDef("num", "Num", FieldKind.NUMBER, "", _get("num")),
    FieldDef("flt", "Flt", FieldKind.FLOAT, "", _get("flt")),
    FieldDef("id", "Id", FieldKind.NUMBER, "", _get("id"), flags=FieldFlag.JOB_ID),
    FieldDef("other", "Other", FieldKind.OTHER, "", _get("other")),
    FieldDef("ts", "Ts", FieldKind.OTHER, "", _get("ts"), flags=FieldFlag.SPLIT_TIMESTAMP),
])

NAMES = ["a", "A", "a.b", "A.B.c", "b", "ab", "a.", "a..b", "b.a", ""]
NAN = float("nan")
ITEM_VALUES: dict[str, list[Any]] = {
    "name": [*NAMES, Color.RED, 3, None, UNAVAIL],
    "text": ["red", "blue", "", Color.RED, Color.BLUE, 1, None, ["red"], UNAVAIL],
    "num": [0, 1, 2, -1, True, False, 1.0, 1.5, Level.ONE, Level.TWO, NAN, "1", [1], UNAVAIL],
    "flt": [0.0, -0.0, 1.0, 1, 2.5, NAN, float("inf"), True, "x", UNAVAIL],
    "id": [1, 2, 3, 10, UNAVAIL],
    "other": [1, "1", "red", Color.RED, None, [1], {"a": 1}, (1,), NAN, 1.0, UNAVAIL],
    "ts": [[1, 0], [1, 500000], 1.5, 1, UNAVAIL],
}
FILTER_VALUES: dict[str, list[Any]] = {
    "name": [*NAMES, "red", 1],
    "text": ["red", "blue", "", "x", None],
    "num": [0, 1, 2, -1, True, 1.0, "1"],
    "flt": [0.0, 1, 2.5, -0.0, float("inf"), NAN],
    "id": [1, 2, "3", 10, -1, "x"],
    "other": [1, "1", "red", None, [1], NAN, 1.0, True],
    "ts": [[1, 0], 1.5, 1, "x"],
}
LEAF_OPS = ["=", "==", "==", "!=", "<", "=~", "=[]"]


@st.composite
def equality(draw: st.DrawFn, field: str | None = None) -> list[Any]:
    name = field or draw(st.sampled_from(sorted(FIELDS)))
    op = draw(st.sampled_from(["==", "="]))  # Ganeti's operator and its legacy spelling
    return [op, name, draw(st.sampled_from(FILTER_VALUES[name]))]


@st.composite
def leaf(draw: st.DrawFn) -> list[Any]:
    op = draw(st.sampled_from(LEAF_OPS))
    if op == "?":
        return ["?", draw(st.sampled_from(sorted(FIELDS)))]
    name = draw(st.sampled_from(sorted(FIELDS)))
    value = draw(st.sampled_from(FILTER_VALUES[name]))
    if op == "=~":
        value = draw(st.sampled_from(["^a", "b$", "[", "x"]))
    return [op, name, value]


@st.composite
def wide_or(draw: st.DrawFn, inner: st.SearchStrategy[list[Any]]) -> list[Any]:
    """``|`` with runs of ``=`` on one field, mixed with other filters."""
    parts: list[Any] = ["|"]
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            field = draw(st.sampled_from(sorted(FIELDS)))
            parts.extend(draw(st.lists(equality(field), min_size=1, max_size=6)))
        else:
            parts.append(draw(inner))
    return parts


def filters() -> st.SearchStrategy[list[Any]]:
    return st.recursive(
        st.one_of(leaf(), equality(), st.just(["?", "num"])),
        lambda inner: st.one_of(
            wide_or(inner),
            st.lists(inner, max_size=3).map(lambda subs: ["&", *subs]),
            inner.map(lambda sub: ["!", sub]),
        ),
        max_leaves=20,
    )


items = st.fixed_dictionaries({name: st.sampled_from(vals) for name, vals in ITEM_VALUES.items()})


def outcome(qfilter: Any, item: dict[str, Any]) -> tuple[str, Any]:
    """("ok", bool) or ("error", message), compile and evaluation errors alike."""
    try:
        return "ok", compile_filter(qfilter, FIELDS).predicate(None, item)
    except QueryFilterError as err:
        return "error", str(err)


def assert_same_as_naive(qfilter: Any, item: dict[str, Any]) -> None:
    compiled = outcome(qfilter, item)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(qfilter_module, "SET_MIN_TERMS", 10**9)  # one test per `=`, as before
        naive = outcome(qfilter, item)
    assert compiled == naive


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(qfilter=filters(), item=items)
def test_compiled_equals_naive(qfilter: Any, item: dict[str, Any]) -> None:
    assert_same_as_naive(qfilter, item)


@settings(max_examples=1500, deadline=None)
@given(data=st.data(), field=st.sampled_from(sorted(FIELDS)))
def test_one_wide_or_equals_naive(data: st.DataObject, field: str) -> None:
    values = data.draw(st.lists(st.sampled_from(FILTER_VALUES[field]), min_size=2, max_size=8))
    item = {field: data.draw(st.sampled_from(ITEM_VALUES[field]))}
    assert_same_as_naive(make_simple_filter(field, values), item)


@pytest.mark.parametrize(
    ("actual", "expected"),
    [("a.example.com", True), ("A.Example.COM", True), ("b.example.com", True),
     ("ab.example.com", False), ("c", False), ("example.com", False), (UNAVAIL, True)],
)
def test_wide_or_on_a_hostname_matches_short_names(actual: Any, expected: bool) -> None:
    wide = make_simple_filter("name", ["a", "B.example.com", *(f"n{i}" for i in range(100))])
    assert compile_filter(wide, FIELDS).predicate(None, {"name": actual}) is expected


def test_wide_or_on_job_ids_accepts_digit_strings() -> None:
    predicate = compile_filter(make_simple_filter("id", ["7", 8, "9"]), FIELDS).predicate
    assert [i for i in range(12) if predicate(None, {"id": i})] == [7, 8, 9]


def test_filter_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qfilter_module, "MAX_FILTER_NODES", 100)
    assert compile_filter(make_simple_filter("num", list(range(99))), FIELDS)
    with pytest.raises(QueryFilterError, match="Filter too large: more than 100 operators"):
        compile_filter(make_simple_filter("num", list(range(100))), FIELDS)


def test_depth_limit() -> None:
    deep: list[Any] = ["=", "num", 1]
    for _ in range(MAX_LEVELS):
        deep = ["|", deep, ["=", "num", 2]]
    with pytest.raises(QueryFilterError, match="nested too deep"):
        compile_filter(deep, FIELDS)


def test_filter_size_counts_up_to_a_limit() -> None:
    wide = make_simple_filter("num", list(range(1000)))
    assert filter_size(wide, 10**6) == 1001
    assert filter_size(wide, 50) == 50
    assert filter_size(["!", ["&", ["?", "num"], "junk"]], 100) == 3
    assert filter_size(None, 100) == 0
