"""Group, job, lock, cluster and network resources."""

from typing import Any

import pytest

from corral.errors import QueryFilterError
from corral.objects import AllocPolicy
from corral.objects.ipolicy import default_ipolicy
from corral.query import RS_NORMAL, RS_UNAVAIL, query, query_values


def test_group_default_list(builder):
    rack = builder.group("rack10", alloc_policy=AllocPolicy.LAST_RESORT,
                         ndparams={"spindle_count": 3})
    builder.group("rack2")
    n1 = builder.node("n1")
    n2 = builder.node("n2", group=rack)
    builder.node("n10", group=rack)
    builder.instance("i1", n1)
    builder.instance("i2", n2)
    builder.set_cluster(ndparams={"spindle_count": 1, "oob_program": ""})
    fields = ["name", "node_cnt", "pinst_cnt", "alloc_policy", "ndparams"]
    result = query("group", fields, None, builder.context())
    assert [f["title"] for f in result["fields"]] == [
        "Group", "Nodes", "Instances", "AllocPolicy", "NDParams"]
    assert [[v for _s, v in row] for row in result["data"]] == [
        ["default", 1, 1, "preferred", {"spindle_count": 1, "oob_program": ""}],
        ["rack2", 0, 0, "preferred", {"spindle_count": 1, "oob_program": ""}],
        ["rack10", 2, 1, "last_resort", {"spindle_count": 3, "oob_program": ""}],
    ]
    rows = query_values("group", ["node_list", "pinst_list", "custom_ndparams"],
                        ["=", "name", "rack10"], builder.context())
    assert rows == [[["n2", "n10"], ["i2"], {"spindle_count": 3}]]


def test_group_params_and_networks(builder):
    net = builder.network("net1", "10.0.0.0/24")
    builder.set_cluster(ipolicy={"std": {"cpu-count": 1, "memory-size": 128}, "vcpu-ratio": 4.5},
                        diskparams={"drbd": {"resync-rate": 1024}})
    builder.group("g", ipolicy={"std": {"cpu-count": 2}}, diskparams={"drbd": {"metavg": "x"}},
                  networks={net.uuid: {"mode": "bridged", "link": "br1"}})
    rows = query_values("group", ["ipolicy", "diskparams", "networks"], ["=", "name", "g"],
                        builder.context())
    # A stored partial cluster policy is completed from Ganeti's defaults; the group's
    # std overrides merge key by key.
    policy = {**default_ipolicy(), "vcpu-ratio": 4.5}
    policy["std"] = {**policy["std"], "cpu-count": 2, "memory-size": 128}
    assert rows == [[
        policy,
        {"drbd": {"resync-rate": 1024, "metavg": "x"}},
        ["net1"],
    ]]


def job(job_id: int, status: str, *ops: dict[str, Any], archived: bool = False,
        received: tuple[int, int] = (100, 500)) -> dict[str, Any]:
    return {
        "id": job_id,
        "status": status,
        "archived": archived,
        "received_timestamp": list(received),
        "start_timestamp": None,
        "end_timestamp": None,
        "ops": list(ops),
    }


def op(op_input: dict[str, Any], status: str = "success", priority: int = 0,
       result: Any = None) -> dict[str, Any]:
    return {"input": op_input, "status": status, "result": result, "priority": priority,
            "log": [[1, [100, 0], "message", "hello"]], "start_timestamp": [100, 1],
            "exec_timestamp": None, "end_timestamp": None}


@pytest.fixture
def jobs_ctx(builder):
    jobs = [
        job(10, "running",
            op({"OP_ID": "OP_TEST_DELAY", "duration": 2.5}),
            op({"OP_ID": "OP_NODE_ADD", "node_name": "n5"}, status="running", priority=-10),
            op({"OP_ID": "OP_CLUSTER_VERIFY"}, status="queued", priority=5)),
        job(9, "success", op({"OP_ID": "OP_TEST_DELAY", "duration": 1}, result=True),
            archived=True, received=(50, 0)),
        job(2, "error", op({"OP_ID": "OP_UNKNOWN_THING", "x": 1}, status="error")),
    ]
    return builder.context(jobs=jobs)


def test_job_default_list_sorted_by_id(jobs_ctx):
    result = query("job", ["id", "status", "summary"], None, jobs_ctx)
    assert [f["title"] for f in result["fields"]] == ["ID", "Status", "Summary"]
    assert [[v for _s, v in row] for row in result["data"]] == [
        [2, "error", ["UNKNOWN_THING"]],
        [9, "success", ["TEST_DELAY(1)"]],
        [10, "running", ["TEST_DELAY(2.5)", "NODE_ADD(n5)", "CLUSTER_VERIFY"]],
    ]


def test_job_fields(jobs_ctx):
    fields = ["priority", "archived", "opstatus", "oppriority", "opresult", "received_ts",
              "start_ts", "opstart", "opexec", "oplog", "ops"]
    rows = query("job", fields, ["=", "id", 9], jobs_ctx)["data"]
    assert rows == [[
        [RS_NORMAL, 0], [RS_NORMAL, True], [RS_NORMAL, ["success"]], [RS_NORMAL, [0]],
        [RS_NORMAL, [True]], [RS_NORMAL, [50, 0]], [RS_UNAVAIL, None],
        [RS_NORMAL, [[100, 1]]], [RS_NORMAL, [None]],
        [RS_NORMAL, [[[1, [100, 0], "message", "hello"]]]],
        [RS_NORMAL, [{"OP_ID": "OP_TEST_DELAY", "duration": 1}]],
    ]]
    running = query_values("job", ["priority"], ["=", "id", "10"], jobs_ctx)
    assert running == [[-10]]


def test_job_requested_ids_include_missing_ones(jobs_ctx):
    result = query("job", ["id", "status", "archived"], ["|", ["=", "id", 77], ["=", "id", "2"]],
                   jobs_ctx)
    assert result["data"] == [
        [[RS_NORMAL, 2], [RS_NORMAL, "error"], [RS_NORMAL, False]],
        [[RS_NORMAL, 77], [RS_UNAVAIL, None], [RS_UNAVAIL, None]],
    ]


def test_job_filters(jobs_ctx):
    assert query_values("job", ["id"], ["=", "status", "success"], jobs_ctx) == [[9]]
    assert query_values("job", ["id"], [">", "received_ts", 60], jobs_ctx) == [[2], [10]]
    assert query_values("job", ["id"], ["=", "received_ts", [100, 500]], jobs_ctx) == [[2], [10]]
    assert query_values("job", ["id"], ["!", ["?", "archived"]], jobs_ctx) == [[2], [10]]
    with pytest.raises(QueryFilterError, match="Invalid job ID 'x1'"):
        query_values("job", ["id"], ["=", "id", "x1"], jobs_ctx)


def test_job_status_derived_when_missing(builder):
    record = job(1, "", op({"OP_ID": "OP_TEST_DELAY"}), op({"OP_ID": "OP_TEST_DELAY"},
                                                           status="running"))
    ctx = builder.context(jobs=[record])
    assert query_values("job", ["status"], None, ctx) == [["running"]]


def test_locks(builder):
    locks = [
        {"name": "node/node10", "mode": None, "owners": None, "pending": []},
        {"name": "node/node2", "mode": "shared", "owners": ["job10", "job9"],
         "pending": [["exclusive", ["job20", "job3"]]]},
        {"name": "cluster/BGL", "mode": "exclusive", "owners": ["job1"], "pending": []},
    ]
    result = query("lock", ["name", "mode", "owner", "pending"], None,
                   builder.context(lock_info=locks))
    assert [f["title"] for f in result["fields"]] == ["Name", "Mode", "Owner", "Pending"]
    assert [[v for _s, v in row] for row in result["data"]] == [
        ["cluster/BGL", "exclusive", ["job1"], []],
        ["node/node2", "shared", ["job9", "job10"], [["exclusive", ["job3", "job20"]]]],
        ["node/node10", None, None, []],
    ]


def test_cluster(builder):
    builder.node("master.example.com")
    builder.set_cluster(master_ip="192.0.2.100", master_netdev="eth0",
                        enabled_hypervisors=("kvm", "fake"), tags=("prod",),
                        volume_group_name="xenvg")
    fields = ["name", "cluster_name", "master_node", "master_ip", "master_netdev",
              "enabled_hypervisors", "default_hypervisor", "tags", "volume_group_name",
              "candidate_pool_size", "uuid", "beparams"]
    rows = query_values("cluster", fields, None, builder.context())
    assert rows == [[
        "cluster.example.com", "cluster.example.com", "master.example.com", "192.0.2.100",
        "eth0", ["kvm", "fake"], "kvm", ["prod"], "xenvg", 10, "cluster-uuid",
        {"default": {"minmem": 128, "maxmem": 128, "vcpus": 1, "auto_balance": True,
                     "always_failover": False, "spindle_use": 1}},
    ]]
    titles = [f["title"] for f in query("cluster", ["name", "master_node", "volume_group_name"],
                                        None, builder.context())["fields"]]
    assert titles == ["Name", "Master", "VgName"]


def test_networks(builder):
    net = builder.network("net10", "10.0.10.0/24", gateway="10.0.10.1")
    builder.network("net2", "10.0.2.0/24")
    builder.group("g1", networks={net.uuid: {"mode": "bridged", "link": "br10"}})
    node = builder.node("n1")
    builder.instance("i2", node, nics=(builder.nic(1, network=net.uuid),))
    builder.instance("i1", node, nics=(builder.nic(2, network=net.uuid),))
    fields = ["name", "network", "gateway", "network6", "group_list", "inst_cnt", "inst_list"]
    result = query("network", fields, None, builder.context())
    assert [f["title"] for f in result["fields"]] == [
        "Network", "Subnet", "Gateway", "IPv6Subnet", "GroupList", "Instances", "InstanceList"]
    assert result["data"] == [
        [[RS_NORMAL, "net2"], [RS_NORMAL, "10.0.2.0/24"], [RS_UNAVAIL, None],
         [RS_UNAVAIL, None], [RS_NORMAL, []], [RS_NORMAL, 0], [RS_NORMAL, []]],
        [[RS_NORMAL, "net10"], [RS_NORMAL, "10.0.10.0/24"], [RS_NORMAL, "10.0.10.1"],
         [RS_UNAVAIL, None], [RS_NORMAL, [["g1", "bridged", "br10"]]], [RS_NORMAL, 2],
         [RS_NORMAL, ["i1", "i2"]]],
    ]
