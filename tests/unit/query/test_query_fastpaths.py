"""The engine's column-wise evaluation, item-only getters and cached field selections."""

from typing import Any

import msgspec
import pytest

from corral.errors import OpPrereqError
from corral.objects import DiskTemplate
from corral.query import RS_NORMAL, RS_UNKNOWN, query, query_values
from corral.query.fields import ItemGetter, attr
from corral.query.instances import INSTANCE_FIELDS
from tests.unit.query.conftest import ConfigBuilder


def _small_cluster(builder: ConfigBuilder) -> Any:
    n1, n2, n3 = (builder.node(f"node{i}.example.com") for i in (1, 2, 3))
    builder.instance("web2", n1, n2, disks=(1024, 2048), nics=(builder.nic(1),), os="debian")
    builder.instance("web10", n2, disks=(512,), tags=("b", "a"), os="centos")
    builder.instance("db1", n3, nics=(builder.nic(2, nicparams={"mode": "openvswitch",
                                                                "vlan": ".5"}),))
    return builder.context(instance_live={"inst-web2": {"state": "running", "memory": 64}})


def test_attr_is_an_item_getter_usable_as_a_plain_getter(builder):
    ctx = _small_cluster(builder)
    get = attr("name")
    assert isinstance(get, ItemGetter)
    assert get(None, ctx.config.instances["inst-db1"]) == "db1"
    assert isinstance(INSTANCE_FIELDS["tags"].getter, ItemGetter)


def test_rows_match_columns_in_order(builder):
    ctx = _small_cluster(builder)
    result = query("instance", ["name", "tags", "snodes", "status", "nic.vlans", "disk.sizes"],
                   None, ctx)
    assert result["data"] == [
        [[0, "db1"], [0, []], [0, []], [0, "ERROR_down"], [0, [".5"]], [0, []]],
        [[0, "web2"], [0, []], [0, ["node2.example.com"]], [0, "running"], [0, [None]],
         [0, [1024, 2048]]],
        [[0, "web10"], [0, ["a", "b"]], [0, []], [0, "ERROR_down"], [0, []], [0, [512]]],
    ]


def test_no_fields_still_gives_one_empty_row_per_item(builder):
    ctx = _small_cluster(builder)
    assert query("instance", [], None, ctx)["data"] == [[], [], []]
    assert query_values("instance", [], ["=", "name", "web2"], ctx) == [[]]


def test_filter_selects_rows_before_the_columns_are_built(builder):
    ctx = _small_cluster(builder)
    qfilter = ["|", ["=", "oper_state", True], ["=[]", "tags", "a"]]
    assert query_values("instance", ["name", "oper_ram"], qfilter, ctx) == [
        ["web2", 64], ["web10", None]]
    cells = query("instance", ["name", "oper_ram"], qfilter, ctx)["data"]
    assert cells == [[[0, "web2"], [0, 64]], [[0, "web10"], [3, None]]]


def test_values_form_equals_the_cells_stripped_of_status(builder):
    ctx = _small_cluster(builder)
    fields = sorted(INSTANCE_FIELDS)
    cells = query("instance", fields, None, ctx)["data"]
    assert query_values("instance", fields, None, ctx) == [[v for _s, v in row] for row in cells]


def test_cached_selection_gives_fresh_results(builder):
    ctx = _small_cluster(builder)
    first = query("instance", ["name", "beparams"], None, ctx)
    first["fields"][0]["title"] = "changed"
    first["data"][0][1][1]["maxmem"] = -1
    second = query("instance", ["name", "beparams"], None, ctx)
    assert second["fields"][0]["title"] == "Instance"
    assert second["data"][0][1][1]["maxmem"] != -1
    assert second["data"][0][1][1] is not second["data"][1][1][1]


def test_non_string_field_names_are_unknown_not_cached_as_equal(builder):
    ctx = _small_cluster(builder)
    for name in (1, True):
        result = query("instance", ["name", name], None, ctx)  # type: ignore[list-item]
        assert result["fields"][1]["name"] is name
        assert result["data"][0][1] == [RS_UNKNOWN, None]
        assert result["data"][0][0] == [RS_NORMAL, "db1"]


def test_unknown_field_in_values_form_is_refused(builder):
    ctx = _small_cluster(builder)
    with pytest.raises(OpPrereqError, match="Unknown output fields selected: nosuch"):
        query_values("instance", ["name", "nosuch"], None, ctx)


def test_secondary_nodes_merge_several_disks_once(builder):
    n1, n2, n3 = (builder.node(f"n{i}") for i in (1, 2, 3))
    builder.instance("multi", n1, n2, disks=(1, 2), template=DiskTemplate.DRBD)
    extra = builder.disk("multi", 9, 5, DiskTemplate.PLAIN, (n1.uuid, n3.uuid, n2.uuid))
    inst = builder.config.instances["inst-multi"]
    builder.config.put(msgspec.structs.replace(inst, disks=(*inst.disks, extra.uuid)))
    values = query_values("instance", ["snodes", "disk.count"], None, builder.context())
    assert values == [[["n2", "n3"], 3]]
