"""Cluster verify: the job fan-out, configuration checks and per-group node checks."""

from __future__ import annotations

from typing import Any

from corral.clock import split_time
from corral.objects import Disk, DiskTemplate, Instance, Node
from corral.opcodes.cluster import OpClusterVerify, OpClusterVerifyConfig, OpClusterVerifyGroup
from corral.opcodes.codec import decode_opcode
from tests.support.config import ConfigBuilder, standard_cluster
from tests.support.fake_rpc import verify_answer
from tests.support.lu_harness import LuHarness, MakeHarness

SPACE_CHECKS = ["disk-space"]
"""Space checks sent to every node of a cluster without LVM (sorted before ``filelist``)."""


def problems(h: LuHarness) -> list[str]:
    return [line for line in h.feedback if line.startswith("  - ")]


# --- fan-out ----------------------------------------------------------------

def test_verify_submits_config_then_group_jobs(make_harness: MakeHarness) -> None:
    b = standard_cluster(nodes=1)
    b.group("b-rack")
    h = make_harness(b)
    result = h.run_sync(OpClusterVerify(error_codes=True, ignore_errors=["ENODETIME"]))
    jobs = result["jobs"]
    assert [[op["OP_ID"] for op in job] for job in jobs] == [
        ["OP_CLUSTER_VERIFY_CONFIG"], ["OP_CLUSTER_VERIFY_GROUP"], ["OP_CLUSTER_VERIFY_GROUP"]]
    decoded = [decode_opcode(job[0]) for job in jobs[1:]]
    groups = [g for g in decoded if isinstance(g, OpClusterVerifyGroup)]
    assert len(groups) == len(decoded)
    assert [g.group_name for g in groups] == ["group-b-rack", "group-default"]
    assert [g.depends for g in groups] == [[(-1, [])], [(-2, [])]]
    assert all(g.error_codes and g.ignore_errors == ["ENODETIME"] for g in groups)
    only = h.run_sync(OpClusterVerify(group_name="default"))["jobs"]
    assert len(only) == 1
    assert decode_opcode(only[0][0]).depends is None


# --- configuration ------------------------------------------------------------

def test_verify_config_clean(make_harness: MakeHarness) -> None:
    h = make_harness(standard_cluster(nodes=3))
    assert h.run_sync(OpClusterVerifyConfig()) is True
    assert problems(h) == []
    assert h.feedback[0] == "* Verifying cluster config"


def test_verify_config_finds_injected_inconsistencies(make_harness: MakeHarness) -> None:
    b = standard_cluster(nodes=3, pool_size=3)
    n = b.data.nodes
    b.data.put(n["node-node1"].evolve(0.0, master_candidate=False))
    b.data.put(n["node-node3"].evolve(0.0, primary_ip="192.0.2.2", group="group-gone"))
    inst = b.instance("web", n["node-node2"], nics=(ConfigBuilder.nic("aa:00:00:00:00:01"),))
    b.instance("db", n["node-node2"], nics=(ConfigBuilder.nic("AA:00:00:00:00:01"),))
    b.data.put(inst.evolve(0.0, disks=("disk-missing",)))
    h = make_harness(b)
    assert h.run_sync(OpClusterVerifyConfig()) is False
    found = problems(h)
    assert "  - ERROR: cluster: the master node node1 is not a master candidate" in found
    assert ("  - ERROR: cluster: IP address 192.0.2.2 is used by several nodes: node2, node3"
            in found)
    assert "  - ERROR: cluster: duplicate MAC address aa:00:00:00:00:01 (db, web)" in found
    assert "  - ERROR: cluster: instance 'web' refers to an unknown disk disk-missing" in found
    assert ("  - ERROR: node: the following nodes (and their instances) belong to a non"
            " existing group: node3 ()") in found
    assert "  - WARNING: cluster: Not enough master candidates: actual 2, target 3" in found


def test_error_codes_and_ignored_errors(make_harness: MakeHarness) -> None:
    b = standard_cluster(nodes=2)
    b.data.put(b.data.nodes["node-node1"].evolve(0.0, master_candidate=False))
    h = make_harness(b)
    ok = h.run_sync(OpClusterVerifyConfig(error_codes=True, ignore_errors=["ECLUSTERCFG"]))
    assert ok is True
    assert problems(h) == [
        "  - WARNING:ECLUSTERCFG:cluster:None:the master node node1 is not a master candidate",
        "  - WARNING:ECLUSTERCFG:cluster:None:Not enough master candidates: actual 1, target 2"]


def test_missing_ca_certificate_is_an_error(make_harness: MakeHarness) -> None:
    h = make_harness(standard_cluster(nodes=1), with_ca=False)
    assert h.run_sync(OpClusterVerifyConfig()) is False
    assert any("ERROR: cluster: While verifying" in line and "ca.pem" in line
               for line in problems(h))


# --- group ----------------------------------------------------------------------

def run_group(h: LuHarness, **kw: Any) -> Any:
    return h.run_sync(OpClusterVerifyGroup(group_name="default", **kw))


def test_healthy_group(make_harness: MakeHarness) -> None:
    h = make_harness(standard_cluster(nodes=3))
    assert run_group(h) is True
    assert problems(h) == []
    assert h.feedback[:4] == ["* Verifying group default", "* Gathering data (3 nodes)",
                              "* Verifying configuration file consistency",
                              "* Verifying node status"]
    call = h.rpc.calls_of("node_verify")[0]
    checks, cluster_name, hvparams = call.args
    assert checks["filelist"] == [
        "var/lib/corral/crypto/ca-key.pem", "var/lib/corral/crypto/ca.pem",
        "var/lib/corral/crypto/rapi-key.pem", "var/lib/corral/crypto/rapi.pem",
        "var/lib/corral/rapi/users"]
    assert checks["nodelist"]["node2"] == ["192.0.2.2", 1811]
    assert checks["hypervisor"] == ["fake"]
    assert {"version", "time", "node-setup"} <= set(checks)
    assert (cluster_name, hvparams) == ("cluster.example.com", {"fake": {}})


def test_unreachable_node_and_file_mismatch(make_harness: MakeHarness) -> None:
    h = make_harness(standard_cluster(nodes=4))
    h.rpc.script("node_verify", "node2", fail="Connection refused")
    h.rpc.script("node_verify", "node3",
                 fn=lambda node, args: verify_answer(args[0], h.clock.now(), digest="f" * 40))
    assert run_group(h) is False
    found = problems(h)
    assert "  - ERROR: node node2: while contacting node: Connection refused" in found
    assert ("  - ERROR: cluster: File /var/lib/corral/crypto/ca.pem found with 2 different"
            " checksums (variant 1 on node1, node4; variant 2 on node3)") in found


def test_node_problems_are_reported(make_harness: MakeHarness) -> None:
    b = standard_cluster(nodes=3)
    b.node("node4", offline=True, master_candidate=False)
    h = make_harness(b)

    def sick(node: Node, args: tuple[Any, ...]) -> dict[str, Any]:
        answer = verify_answer(args[0], h.clock.now())
        answer["time"] = list(split_time(h.clock.now() + 400))
        answer["nodelist"] = {"node1": "TCP connect to 192.0.2.1:1811 timed out"}
        answer["hypervisor"] = {"fake": "not supported"}
        answer["node-setup"] = ["Required file x is missing"]
        return answer

    h.rpc.script("node_verify", "node2", fn=sick)
    h.rpc.script("node_verify", "node3",
                 fn=lambda node, args: {**verify_answer(args[0], 0), "version": [1, "x"]})
    assert run_group(h, error_codes=True, verbose=True) is False
    found = problems(h)
    assert "  - ERROR:ENODETIME:node:node2:Node time diverges by at least 400.0s from master" \
        " node time" in found
    assert ("  - ERROR:ENODENET:node:node2:tcp communication with node 'node1': TCP connect"
            " to 192.0.2.1:1811 timed out") in found
    assert "  - ERROR:ENODEHV:node:node2:hypervisor fake verify failure: 'not supported'" in found
    assert "  - ERROR:ENODESETUP:node:node2:node setup error: Required file x is missing" in found
    assert any(line.startswith("  - ERROR:ENODEVERSION:node:node3:incompatible protocol")
               for line in found)
    assert "node4" not in h.rpc.nodes_called("node_verify")
    assert "* Skipping offline node node4" in h.feedback
    assert "* Verifying node node1 (master)" in h.feedback
    assert "  - NOTICE: 1 offline node(s) found." in h.feedback
    assert any(line.startswith("  - INFO: node node1: memory 2048 MiB free") for line in
               h.feedback)


def test_group_without_the_master_compares_files_with_it(make_harness: MakeHarness) -> None:
    b = standard_cluster(nodes=2)
    b.node("off", offline=True)
    rack = b.group("rack")
    b.node("rack1", group=rack, master_candidate=False)
    b.node("rack2", group=rack, master_candidate=False)
    h = make_harness(b)
    assert h.run_sync(OpClusterVerifyGroup(group_name="rack")) is True
    calls = h.rpc.calls_of("node_verify")
    assert sorted(calls[0].args[0]["nodelist"]) == ["node1", "rack1", "rack2"]
    assert [(c.node, sorted(c.args[0])) for c in calls] == [
        ("rack1", [*SPACE_CHECKS, "filelist", "hypervisor", "node-setup", "nodelist", "time",
                   "version"]),
        ("rack2", [*SPACE_CHECKS, "filelist", "hypervisor", "node-setup", "nodelist", "time",
                   "version"]),
        ("node1", ["filelist"])]
    hooks = [(c.node, c.args[1]) for c in h.rpc.calls_of("hooks_runner")
             if c.args[0] == "cluster-verify"]
    assert hooks == [("rack1", "post"), ("rack2", "post")]
    env = h.rpc.calls_of("hooks_runner")[0].args[2]
    assert env["GANETI_POST_NODE_TAGS_rack1"] == ""
    assert "GANETI_CLUSTER_TAGS" in env


def test_empty_group(make_harness: MakeHarness) -> None:
    b = standard_cluster(nodes=1)
    b.group("empty")
    h = make_harness(b)
    assert h.run_sync(OpClusterVerifyGroup(group_name="empty")) is True
    assert "* Empty node group, skipping verification" in h.feedback


def test_verify_config_finds_drbd_ports_and_minors_used_twice(make_harness: MakeHarness) -> None:
    b = standard_cluster(nodes=3)
    for name, minors, port in (("a", (0, 0), 11000), ("b", (0, 1), 11000), ("c", (1, 2), 11001)):
        disk = Disk(uuid=f"disk-{name}", dev_type=DiskTemplate.DRBD, size=64,
                    logical_id=("node-node1", "node-node2", port, *minors, "s"),
                    nodes=("node-node1", "node-node2"))
        b.data.put(disk)
        b.data.put(Instance(uuid=f"inst-{name}", name=name, primary_node="node-node1",
                            hypervisor="fake", disk_template=DiskTemplate.DRBD,
                            disks=(disk.uuid,), network_port=11001 if name == "a" else None))
    h = make_harness(b)
    assert h.run_sync(OpClusterVerifyConfig()) is False
    found = [line for line in problems(h) if "port" in line or "minor" in line]
    assert found == [
        "  - ERROR: cluster: tcp/udp port 11000 has duplicates: a/drbd disk 0, b/drbd disk 0",
        "  - ERROR: cluster: tcp/udp port 11001 has duplicates: a/network port, c/drbd disk 0",
        "  - ERROR: cluster: DRBD minor 0 on node node1 is assigned twice to instances a and b",
    ]
