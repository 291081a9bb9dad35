"""Each operator of Ganeti 3.0's filter language in the engine, with its type rules.

The filters are written in Ganeti's textual language and parsed by the CLI's parser, so
each case also shows what ``gnt-node list -F '...'`` sends and selects.
"""

from __future__ import annotations

from typing import Any

import pytest

from corral.cli.qlang import parse_filter
from corral.errors import QueryFilterError
from corral.query import QueryContext, query_values, requested_names
from corral.query import filter as qfilter_module
from corral.query.fields import UNAVAIL, FieldDef, FieldFlag, FieldKind, field_table
from corral.query.filter import compile_filter


@pytest.fixture
def ctx(builder: Any) -> QueryContext:
    rack = builder.group("rack2")
    builder.node("node1.example.com", master_candidate=True, tags=("web", "ssd"), ctime=100.0)
    builder.node("node2.example.com", drained=True, tags=("db",), ctime=200.0, serial_no=2)
    builder.node("node10.example.com", group=rack, serial_no=7, ctime=300.5)
    builder.node("other.example.com", offline=True, serial_no=3, ctime=400.0)
    context: QueryContext = builder.context()
    return context


def names(ctx: QueryContext, qfilter: Any) -> list[str]:
    return [row[0] for row in query_values("node", ["name"], qfilter, ctx)]


N1, N2, N10, OTHER = ("node1.example.com", "node2.example.com", "node10.example.com",
                      "other.example.com")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name == "node2.example.com"', [N2]),
        ('name = "node2.example.com"', [N2]),          # legacy spelling
        ('name == "node2"', [N2]),                     # hostname fields: a name's first parts
        ('name == "NODE2.Example"', [N2]),             # ... case-insensitively
        ('name == "node" and serial_no > 0', []),   # "node" is no prefix ending at a dot
        ('name != "node2"', [N1, N10, OTHER]),
        ('group == "rack2"', [N10]),
        ("serial_no == 1", [N1]),
        ("serial_no != 1", [N2, N10, OTHER]),
        ("serial_no < 3", [N1, N2]),
        ("serial_no <= 3", [N1, N2, OTHER]),
        ("serial_no > 3", [N10]),
        ("serial_no >= 3", [N10, OTHER]),
        ("serial_no >= -1 and serial_no < +3", [N1, N2]),
        ("ctime > 250", [N10, OTHER]),                 # timestamps compare as numbers
        ("ctime == 100", [N1]),
        (r"name =~ m/^node\\d\\./", [N1, N2]),          # a doubled backslash leaves one
        (r"name =~ m/^node[0-9]\./", [N1, N2, N10]),   # qlang turns "\." into "."
        ("name =~ /10/", [N10]),                       # search, not match
        ("name =~ m/^NODE1[.]/i", [N1]),
        ("name !~ /^node/", [OTHER]),
        ('name =* "node?"', [N1, N2]),                 # globs stop at the dot
        ('name =* "node*.example.com"', [N1, N2, N10]),
        ('name !* "node*"', [OTHER]),
        ('"ssd" in tags', [N1]),
        ('"web" not in tags', [N2, N10, OTHER]),
        ('"2" in name', [N2]),                         # =[] on text: a substring, as Ganeti's
        ("master_candidate", [N1]),                    # ? on a boolean
        ("not offline", [N1, N2, N10]),
        ("tags", [N1, N2]),                            # ? on a list: not empty
        ("drained or offline", [N2, OTHER]),
        ("not (drained or offline) and serial_no == 1", [N1]),
        ('(serial_no == 2 or serial_no == 7) and group =~ m/^rack/', [N10]),
        ("offline == 1", None),                        # an integer is no boolean: error below
    ],
)
def test_textual_filter_selects(ctx, text, expected):
    qfilter = parse_filter(text)
    if expected is None:
        with pytest.raises(QueryFilterError, match="Unable to compare field 'offline'"):
            names(ctx, qfilter)
        return
    assert names(ctx, qfilter) == expected


def test_equal_and_legacy_equal_take_the_set_path_and_name_hints(ctx):
    wanted = ["node1", "node10.example.com"]
    for op in ("==", "="):
        qfilter = ["|", *([op, "name", n] for n in wanted)]
        assert requested_names(qfilter, "name") == wanted
        assert names(ctx, qfilter) == [N1, N10]
    assert requested_names(["|", ["==", "name", "a"], ["!=", "name", "b"]], "name") is None
    mixed = ["|", ["==", "serial_no", 2], ["=", "serial_no", 7], ["=", "serial_no", 9]]
    assert names(ctx, mixed) == [N2, N10]


def test_one_set_lookup_for_a_run_of_either_spelling(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[Any]] = []
    real = qfilter_module._member_test

    def spy(fdef: Any, values: list[Any]) -> Any:
        calls.append(values)
        return real(fdef, values)

    monkeypatch.setattr(qfilter_module, "_member_test", spy)
    qfilter = ["|", ["==", "num", 1], ["=", "num", 2], ["==", "num", 3], ["?", "flag"]]
    predicate = compile_filter(qfilter, FIELDS).predicate
    assert calls == [[1, 2, 3]]
    assert [n for n in range(5) if predicate(None, {"num": n, "flag": False})] == [1, 2, 3]


def _get(name: str) -> Any:
    return lambda _shared, item: item[name]


FIELDS = field_table([
    FieldDef("text", "Text", FieldKind.TEXT, "", _get("text")),
    FieldDef("num", "Num", FieldKind.NUMBER, "", _get("num")),
    FieldDef("flag", "Flag", FieldKind.BOOL, "", _get("flag")),
    FieldDef("ts", "Ts", FieldKind.TIMESTAMP, "", _get("ts")),
    FieldDef("split", "Split", FieldKind.OTHER, "", _get("split"),
             flags=FieldFlag.SPLIT_TIMESTAMP),
    FieldDef("items", "Items", FieldKind.OTHER, "", _get("items")),
])


def matches(qfilter: Any, **item: Any) -> bool:
    return compile_filter(qfilter, FIELDS).predicate(None, item)


def test_true_operator_is_python_truth():
    assert matches(["?", "flag"], flag=True)
    assert not matches(["?", "flag"], flag=False)
    assert matches(["?", "items"], items=["a"])
    assert not matches(["?", "items"], items=[])
    assert matches(["?", "text"], text="x")
    assert not matches(["?", "text"], text="")
    assert matches(["?", "num"], num=3)
    assert not matches(["?", "num"], num=0)
    assert matches(["?", "text"], text=UNAVAIL)  # no data: the item passes


def test_contains_on_lists_and_text():
    assert matches(["=[]", "items", "b"], items=["a", "b"])
    assert not matches(["=[]", "items", "c"], items=["a", "b"])
    assert matches(["=[]", "items", 2], items=[1, 2])
    assert matches(["=[]", "text", "ell"], text="hello")
    with pytest.raises(QueryFilterError, match="Unable to compare field 'text'"):
        matches(["=[]", "text", 1], text="hello")
    with pytest.raises(QueryFilterError, match="is not a list"):
        matches(["=[]", "num", 1], num=1)


def test_timestamps_plain_and_split():
    assert matches(["<", "ts", 10], ts=9.5)
    assert matches(["==", "ts", 9.5], ts=9.5)
    assert matches([">=", "split", [10, 500000]], split=[10, 500000])
    assert matches(["<", "split", 10.6], split=[10, 500000])
    assert not matches(["==", "split", 10], split=[10, 1])
    with pytest.raises(QueryFilterError, match="Unable to compare field 'ts'"):
        matches(["<", "ts", "yesterday"], ts=1.0)
    with pytest.raises(QueryFilterError, match="expected a timestamp"):
        matches(["<", "split", "x"], split=[1, 0])


@pytest.mark.parametrize(
    ("qfilter", "message"),
    [
        (["==", "num", "1"], "Unable to compare field 'num' (type 'number') with 'str'"),
        (["<", "num", "1"], "Unable to compare field 'num' (type 'number') with 'str'"),
        (["==", "text", 1], "Unable to compare field 'text' (type 'text') with 'int'"),
        (["==", "num", True], "Unable to compare field 'num' (type 'number') with 'bool'"),
        (["<", "ts", False], "Unable to compare field 'ts' (type 'timestamp') with 'bool'"),
        (["==", "num", 1], None),
        (["==", "flag", 1], "Unable to compare field 'flag' (type 'bool') with 'int'"),
        (["=~", "num", "1"], "Unable to compare field 'num' (type 'number') with 'str'"),
        (["=~", "text", "("], "Invalid regex pattern"),
        (["=~", "text", 1], "Regular expression for field 'text' must be a string"),
        (["~=", "text", "x"], "Unknown operator '~='"),
        (["==", "text"], "Invalid binary operator '==', expected exactly two operands"),
        (["=", "text", "a", "b"], "Invalid binary operator '=', expected exactly two operands"),
        (["==", "nosuch", 1], "Unknown field 'nosuch'"),
    ],
)
def test_compile_errors(qfilter, message):
    if message is None:
        compile_filter(qfilter, FIELDS)
        return
    with pytest.raises(QueryFilterError) as info:
        compile_filter(qfilter, FIELDS)
    assert message in str(info.value)


def test_ordering_across_types_in_custom_fields_is_a_filter_error():
    with pytest.raises(QueryFilterError, match="Invalid types in comparison"):
        matches(["<", "items", 1], items=["a"])
    assert not matches(["==", "items", 1], items=["a"])  # equality never fails
