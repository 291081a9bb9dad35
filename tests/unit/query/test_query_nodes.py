"""Node queries: titles, config values, instance counts, live data statuses."""

from typing import Any

import pytest

from corral.errors import ErrorCode, OpPrereqError
from corral.query import (
    RS_NODATA,
    RS_NORMAL,
    RS_OFFLINE,
    RS_UNAVAIL,
    make_simple_filter,
    query,
    query_values,
)

DEFAULT_FIELDS = ["name", "dtotal", "dfree", "mtotal", "mnode", "mfree", "pinst_cnt", "sinst_cnt"]


def live(total: int = 4096, free: int = 1024, dom0: int = 512,
         disk: tuple[int, int] = (10240, 2048)) -> dict[str, Any]:
    return {
        "memory_total": total,
        "memory_free": free,
        "memory_dom0": dom0,
        "cpu_total": 8,
        "cpu_nodes": 1,
        "cpu_sockets": 2,
        "cpu_dom0": 1,
        "bootid": "boot-1",
        "storage": [
            {"type": "lvm-vg", "name": "xenvg", "storage_size": disk[0], "storage_free": disk[1]},
            {"type": "lvm-pv", "name": "xenvg", "storage_size": 4, "storage_free": 3},
        ],
    }


def test_default_list_titles_and_kinds(builder):
    builder.node("node1.example.com")
    result = query("node", DEFAULT_FIELDS, None, builder.context())
    titles = [f["title"] for f in result["fields"]]
    assert titles == ["Node", "DTotal", "DFree", "MTotal", "MNode", "MFree", "Pinst", "Sinst"]
    kinds = [f["kind"] for f in result["fields"]]
    assert kinds == ["text", "unit", "unit", "unit", "unit", "unit", "number", "number"]
    assert set(result["fields"][0]) == {"name", "title", "kind", "doc"}


@pytest.mark.parametrize(
    ("field", "title"),
    [
        ("pip", "PrimaryIP"),
        ("sip", "SecondaryIP"),
        ("group", "Group"),
        ("group.uuid", "GroupUUID"),
        ("master", "IsMaster"),
        ("master_candidate", "MasterC"),
        ("master_capable", "MasterCapable"),
        ("vm_capable", "VMCapable"),
        ("role", "Role"),
        ("tags", "Tags"),
        ("offline", "Offline"),
        ("drained", "Drained"),
        ("pinst_list", "PriInstances"),
        ("sinst_list", "SecInstances"),
        ("ndparams", "NodeParameters"),
        ("custom_ndparams", "CustomNodeParameters"),
        ("ctotal", "CTotal"),
        ("bootid", "BootID"),
        ("serial_no", "SerialNo"),
        ("uuid", "UUID"),
        ("ctime", "CTime"),
        ("powered", "Powered"),
        ("ndp/oob_program", "OutOfBandProgram"),
    ],
    ids=lambda v: v,
)
def test_field_titles(builder, field, title):
    builder.node("node1")
    assert query("node", [field], None, builder.context())["fields"][0]["title"] == title


def test_config_values_and_roles(builder):
    grp = builder.group("rack2")
    builder.node("master.example.com", secondary_ip="10.0.0.1", master_candidate=True,
                 tags=("b", "a"))
    builder.node("cand.example.com", master_candidate=True, primary_ip="192.0.2.50")
    builder.node("drained.example.com", drained=True, group=grp)
    builder.node("offline.example.com", offline=True)
    builder.node("regular.example.com")
    fields = ["name", "role", "master", "group", "group.uuid", "tags", "offline"]
    rows = query_values("node", fields, None, builder.context())
    assert rows == [
        ["cand.example.com", "C", False, "default", "group-default", [], False],
        ["drained.example.com", "D", False, "rack2", "group-rack2", [], False],
        ["master.example.com", "M", True, "default", "group-default", ["a", "b"], False],
        ["offline.example.com", "O", False, "default", "group-default", [], True],
        ["regular.example.com", "R", False, "default", "group-default", [], False],
    ]
    ips = query_values("node", ["pip", "sip"], ["=", "name", "cand.example.com"],
                       builder.context())
    assert ips == [["192.0.2.50", "192.0.2.50"]]
    ips = query_values("node", ["sip"], ["=", "name", "master"], builder.context())
    assert ips == [["10.0.0.1"]]


def test_nice_sort_orders_numbers_numerically(builder):
    for name in ["node10", "node2", "node1", "node1a", "node02x", "alpha"]:
        builder.node(name)
    rows = query_values("node", ["name"], None, builder.context())
    assert [r[0] for r in rows] == ["alpha", "node1", "node1a", "node2", "node02x", "node10"]


def test_instance_counts_and_lists(builder):
    n1, n2, n3 = builder.node("n1"), builder.node("n2"), builder.node("n3")
    builder.instance("web10", n1, n2, disks=(1024,))
    builder.instance("web2", n1, n3, disks=(1024,))
    builder.instance("db1", n2)
    fields = ["name", "pinst_cnt", "sinst_cnt", "pinst_list", "sinst_list"]
    rows = query_values("node", fields, None, builder.context())
    assert rows == [
        ["n1", 2, 0, ["web2", "web10"], []],
        ["n2", 1, 1, ["db1"], ["web10"]],
        ["n3", 0, 1, [], ["web2"]],
    ]


def test_live_fields_from_node_info(builder):
    node = builder.node("n1")
    ctx = builder.context(live_nodes={node.uuid: live()})
    fields = ["mtotal", "mnode", "mfree", "dtotal", "dfree", "ctotal", "cnodes", "csockets",
              "cnos", "bootid", "spfree", "sptotal"]
    result = query("node", fields, None, ctx)
    assert result["data"] == [[
        [RS_NORMAL, 4096], [RS_NORMAL, 512], [RS_NORMAL, 1024], [RS_NORMAL, 10240],
        [RS_NORMAL, 2048], [RS_NORMAL, 8], [RS_NORMAL, 1], [RS_NORMAL, 2], [RS_NORMAL, 1],
        [RS_NORMAL, "boot-1"], [RS_NORMAL, 3], [RS_NORMAL, 4],
    ]]


def test_live_statuses_nodata_offline_unavail(builder):
    asked = builder.node("asked")
    failed = builder.node("failed")
    builder.node("never-asked")
    offline = builder.node("offline", offline=True)
    builder.node("storage-only", vm_capable=False)
    ctx = builder.context(
        live_nodes={asked.uuid: live(), failed.uuid: live()},
        offline_or_failed={failed.uuid, offline.uuid},
    )
    result = query("node", ["name", "mfree", "dtotal"], None, ctx)
    by_name = {row[0][1]: (row[1], row[2]) for row in result["data"]}
    assert by_name["asked"] == ([RS_NORMAL, 1024], [RS_NORMAL, 10240])
    assert by_name["failed"] == ([RS_NODATA, None], [RS_NODATA, None])
    assert by_name["never-asked"] == ([RS_NODATA, None], [RS_NODATA, None])
    assert by_name["offline"] == ([RS_OFFLINE, None], [RS_OFFLINE, None])
    assert by_name["storage-only"] == ([RS_UNAVAIL, None], [RS_UNAVAIL, None])


def test_missing_live_key_is_nodata_and_values_are_ints(builder):
    node = builder.node("n1")
    data = {"memory_total": "2048", "storage": []}
    result = query("node", ["mtotal", "mfree", "dfree"], None,
                   builder.context(live_nodes={node.uuid: data}))
    assert result["data"] == [[[RS_NORMAL, 2048], [RS_NODATA, None], [RS_NODATA, None]]]


def test_ndparams_merge_and_powered(builder):
    grp = builder.group("oob", ndparams={"oob_program": "/bin/oob", "spindle_count": 4})
    builder.set_cluster(ndparams={"oob_program": "", "spindle_count": 1, "ssh_port": 22})
    builder.node("plain")
    builder.node("withoob", group=grp, ndparams={"ssh_port": 2222}, powered=False)
    fields = ["name", "ndparams", "custom_ndparams", "powered", "ndp/spindle_count"]
    result = query("node", fields, None, builder.context())
    plain, withoob = result["data"]
    assert plain[1][1] == {"oob_program": "", "spindle_count": 1, "ssh_port": 22}
    assert plain[3] == [RS_UNAVAIL, None]
    assert withoob[1][1] == {"oob_program": "/bin/oob", "spindle_count": 4, "ssh_port": 2222}
    assert withoob[2][1] == {"ssh_port": 2222}
    assert withoob[3] == [RS_NORMAL, False]
    assert withoob[4] == [RS_NORMAL, 4]


def test_names_filter_accepts_short_names(builder):
    builder.node("node1.example.com")
    builder.node("node10.example.com")
    builder.node("node2.example.com")
    flt = make_simple_filter("name", ["node2", "node1.example.com"])
    rows = query_values("node", ["name"], flt, builder.context())
    assert rows == [["node1.example.com"], ["node2.example.com"]]


def test_names_filter_unknown_name_is_noent(builder):
    builder.node("node1.example.com")
    with pytest.raises(OpPrereqError) as info:
        query("node", ["name"], make_simple_filter("name", ["node9"]), builder.context())
    assert info.value.code is ErrorCode.NOENT
    assert str(info.value) == "Node name node9 not found"


def test_names_filter_ambiguous_short_name(builder):
    builder.node("node1.a.example.com")
    builder.node("node1.b.example.com")
    with pytest.raises(OpPrereqError, match="has multiple matches"):
        query("node", ["name"], ["=", "name", "node1"], builder.context())
