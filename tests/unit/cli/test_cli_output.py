"""Table layout, units, query result formatting and the generic info layout."""

from __future__ import annotations

import time
from typing import Any

import pytest

from corral.cli.info import format_generic_info, format_params_info
from corral.cli.output import (
    QR_INCOMPLETE,
    QR_NORMAL,
    QR_UNKNOWN,
    format_query_result,
    format_time,
    format_timestamp,
    format_unit,
    generate_table,
    parse_fields,
)


@pytest.mark.parametrize(
    ("mib", "units", "text"),
    [pytest.param(512, "h", "512M", id="h-mib"),
     pytest.param(2000, "h", "2.0G", id="h-gib"),
     pytest.param(1946, "h", "1.9G", id="h-gib-rounding"),
     pytest.param(3 * 1024 * 1024, "h", "3.0T", id="h-tib"),
     pytest.param(2048, "m", "2048", id="m"),
     pytest.param(2048, "g", "2.0", id="g"),
     pytest.param(1024 * 1024, "t", "1.0", id="t")],
)
def test_format_unit(mib: int, units: str, text: str) -> None:
    assert format_unit(mib, units) == text


def test_format_unit_rejects_bad_unit() -> None:
    with pytest.raises(ValueError, match="Invalid unit"):
        format_unit(1, "x")


def test_generate_table_aligns_numbers_right_and_text_left() -> None:
    lines = generate_table({"name": "Node", "cnt": "Count"}, ["name", "cnt"], None,
                           [["node1", 3], ["n2", 12]], numfields=["cnt"])
    assert lines == ["Node  Count", "node1     3", "n2       12"]


def test_generate_table_last_text_column_is_not_padded() -> None:
    lines = generate_table({"a": "A", "b": "B"}, ["a", "b"], None, [["x", "longer"], ["yy", "s"]])
    assert lines == ["A  B", "x  longer", "yy s"]


def test_generate_table_separator_and_no_headers() -> None:
    lines = generate_table(None, ["name", "mem"], "|", [["node1", 2048]], unitfields=["mem"])
    assert lines == ["node1|2048"]  # with a separator the default unit is MiB


def test_generate_table_units() -> None:
    data = [["n", 2048]]
    assert generate_table(None, ["n", "m"], None, data, unitfields=["m"]) == ["n 2.0G"]
    assert generate_table(None, ["n", "m"], ":", data, unitfields=["m"], units="g") == ["n:2.0"]


def _response(rows: list[list[Any]]) -> dict[str, Any]:
    return {
        "fields": [
            {"name": "name", "title": "Node", "kind": "text", "doc": ""},
            {"name": "mfree", "title": "MFree", "kind": "unit", "doc": ""},
            {"name": "master_candidate", "title": "MasterC", "kind": "bool", "doc": ""},
            {"name": "pinst_list", "title": "PriInstances", "kind": "other", "doc": ""},
        ],
        "data": rows,
    }


def test_format_query_result_normal() -> None:
    status, lines = format_query_result(_response([
        [[0, "node1"], [0, 1946], [0, True], [0, ["i1", "i2"]]],
        [[0, "node22"], [0, 512], [0, False], [0, []]],
    ]))
    assert status == QR_NORMAL
    assert lines == [
        "Node   MFree MasterC PriInstances",
        "node1   1.9G Y       i1,i2",
        "node22  512M N       ",
    ]


@pytest.mark.parametrize(
    ("status", "text", "verbose_text"),
    [pytest.param(2, "?", "(nodata)", id="nodata"),
     pytest.param(3, "-", "(unavail)", id="unavail"),
     pytest.param(4, "*", "(offline)", id="offline"),
     pytest.param(1, "??", "(unknown)", id="unknown")],
)
def test_format_query_result_abnormal_statuses(status: int, text: str, verbose_text: str) -> None:
    rows = [[[0, "n1"], [status, None], [0, True], [0, []]]]
    overall, lines = format_query_result(_response(rows), separator="|", header=False)
    assert lines == [f"n1|{text}|Y|"]
    assert overall == (QR_UNKNOWN if status == 1 else QR_INCOMPLETE)
    _, verbose = format_query_result(_response(rows), separator="|", header=False, verbose=True)
    assert verbose == [f"n1|{verbose_text}|Y|"]


def test_format_query_result_unknown_field_kind() -> None:
    response = {"fields": [{"name": "bogus", "title": "bogus", "kind": "unknown"}], "data": []}
    status, lines = format_query_result(response)
    assert status == QR_UNKNOWN
    assert lines == ["bogus"]


def test_format_query_result_separator_uses_mib_and_units_override() -> None:
    rows = [[[0, "n1"], [0, 2048], [0, False], [0, ["a"]]]]
    assert format_query_result(_response(rows), separator=",", header=False)[1] == ["n1,2048,N,a"]
    assert format_query_result(_response(rows), unit="g", header=False)[1] == ["n1 2.0 N a"]


def test_format_time_and_timestamps() -> None:
    when = time.mktime((2024, 3, 5, 14, 7, 9, 0, 0, -1))
    assert format_time(when) == "2024-03-05 14:07:09"
    assert format_timestamp([int(when), 42]) == "2024-03-05 14:07:09.000042"
    assert format_time(None) == "N/A"
    assert format_timestamp("bogus") == "?"


def test_parse_fields() -> None:
    assert parse_fields(None, ["a", "b"]) == ["a", "b"]
    assert parse_fields("+c,d", ["a", "b"]) == ["a", "b", "c", "d"]
    assert parse_fields("x,y", ["a", "b"]) == ["x", "y"]


def test_generic_info_layout() -> None:
    data = [[
        ("Node name", "node1"),
        ("primary ip", "192.0.2.1"),
        ("primary for instances", ["i1", "i2"]),
        ("secondary for instances", []),
        ("node parameters", {"b": "2", "a": "1"}),
        ("Received", "t1", "ts"),
        ("Processing start", "t2", "ts"),
        ("Content", (1, "message", "hello")),
    ]]
    assert format_generic_info(data) == "\n".join([
        "- Node name: node1",
        "  primary ip: 192.0.2.1",
        "  primary for instances: ",
        "    - i1",
        "    - i2",
        "  secondary for instances: ",
        "  node parameters: ",
        "    a: 1",
        "    b: 2",
        "  Received:         t1",
        "  Processing start: t2",
        "  Content: [1, message, hello]",
    ])


def test_params_info_marks_defaults() -> None:
    assert format_params_info({"ssh_port": 2222}, {"ssh_port": 2222, "ovs": False}) == {
        "ssh_port": "2222", "ovs": "default (False)"}
