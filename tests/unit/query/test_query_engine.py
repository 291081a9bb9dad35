"""Engine entry points: QueryFields, unknown fields, legacy values, live-data needs."""

import pytest

from corral.errors import ErrorCode, OpPrereqError
from corral.query import (
    RESOURCES,
    RS_NORMAL,
    RS_UNKNOWN,
    names_filter,
    needs_live_data,
    query,
    query_fields,
    query_values,
)


def test_query_fields_named_keeps_order_and_marks_unknown():
    result = query_fields("node", ["mfree", "nosuch", "name"])
    assert result == {
        "fields": [
            {"name": "mfree", "title": "MFree", "kind": "unit",
             "doc": "Memory available for instance allocations"},
            {"name": "nosuch", "title": "nosuch", "kind": "unknown",
             "doc": "Unknown field 'nosuch'"},
            {"name": "name", "title": "Node", "kind": "text", "doc": "Node name"},
        ]
    }


@pytest.mark.parametrize("what", sorted(RESOURCES), ids=lambda w: w)
def test_query_fields_all_sorted_by_name(what):
    names = [f["name"] for f in query_fields(what, None)["fields"]]
    assert names == sorted(names)
    assert len(names) == len(RESOURCES[what].fields)
    assert query_fields(what, [])["fields"] == query_fields(what, None)["fields"]


@pytest.mark.parametrize("what", sorted(RESOURCES), ids=lambda w: w)
def test_field_definitions_are_well_formed(what):
    for fdef in query_fields(what, None)["fields"]:
        assert fdef["title"], fdef
        assert " " not in fdef["title"], fdef
        assert fdef["kind"] in {"text", "number", "float", "bool", "timestamp", "unit", "other"}
        assert fdef["doc"][0].isupper(), fdef
        assert fdef["doc"][-1] not in ".,?!", fdef


def test_every_field_of_every_resource_evaluates(builder):
    n1, n2 = builder.node("n1"), builder.node("n2")
    builder.instance("i1", n1, n2, disks=(10,), nics=(builder.nic(1),))
    builder.network("net", "10.0.0.0/24")
    ctx = builder.context(
        jobs=[{"id": 1, "ops": [], "status": "success"}],
        lock_info=[{"name": "cluster/BGL", "mode": None, "owners": None, "pending": []}],
    )
    for what, res in RESOURCES.items():
        result = query(what, list(res.fields), None, ctx)
        assert result["data"], what
        for row in result["data"]:
            assert len(row) == len(res.fields)
            assert all(value is None for status, value in row if status != RS_NORMAL), what


def test_unknown_field_in_query_is_rs_unknown(builder):
    builder.node("n1")
    result = query("node", ["name", "bogus"], None, builder.context())
    assert result["fields"][1]["kind"] == "unknown"
    assert result["data"] == [[[RS_NORMAL, "n1"], [RS_UNKNOWN, None]]]


def test_legacy_values(builder):
    n1 = builder.node("n1")
    builder.node("n2", offline=True)
    ctx = builder.context(live_nodes={n1.uuid: {"memory_free": 300}})
    assert query_values("node", ["name", "mfree", "offline"], None, ctx) == [
        ["n1", 300, False],
        ["n2", None, True],
    ]


def test_legacy_values_reject_unknown_fields(builder):
    with pytest.raises(OpPrereqError) as info:
        query_values("node", ["name", "foo", "bar"], None, builder.context())
    assert info.value.code is ErrorCode.INVAL
    assert str(info.value) == "Unknown output fields selected: foo, bar"


def test_unknown_resource(builder):
    with pytest.raises(OpPrereqError, match="Unknown query resource 'disk'"):
        query("disk", ["name"], None, builder.context())
    with pytest.raises(OpPrereqError, match="Unknown query resource"):
        query_fields("disk", None)


@pytest.mark.parametrize(
    ("what", "fields", "qfilter", "expected"),
    [
        ("node", ["name", "pinst_cnt"], None, False),
        ("node", ["name", "mfree"], None, True),
        ("node", ["name"], [">", "dfree", 10], True),
        ("node", ["name"], ["|", ["=", "name", "a"], ["?", "offline"]], False),
        ("node", ["nosuch"], None, False),
        ("instance", ["name", "status"], None, True),
        ("instance", ["name", "oper_ram"], None, True),
        ("instance", ["name", "be/maxmem"], None, False),
        ("group", ["name", "node_cnt"], None, False),
        ("job", ["id", "status"], None, False),
    ],
    ids=["node-config", "node-live", "node-live-filter", "node-config-filter", "unknown",
         "inst-status", "inst-oper", "inst-config", "group", "job"],
)
def test_needs_live_data(what, fields, qfilter, expected):
    assert needs_live_data(what, fields, qfilter) is expected


def test_names_filter_uses_the_resource_name_field():
    assert names_filter("node", ["a"]) == ["|", ["==", "name", "a"]]
    assert names_filter("job", [1, 2]) == ["|", ["==", "id", 1], ["==", "id", 2]]
    assert names_filter("group", []) is None
