"""Cluster parameter changes and redist-conf through the processor."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from corral.errors import ErrorCode, OpExecError
from corral.opcodes.cluster import OpClusterRedistConf, OpClusterSetParams
from tests.support.config import standard_cluster
from tests.support.lu_harness import MakeHarness, expect_failure


def test_simple_and_merged_parameters(make_harness: MakeHarness) -> None:
    b = standard_cluster(nodes=1)
    b.set_cluster(hvparams={"fake": {"migration_mode": "live", "x": 1}})
    h = make_harness(b)
    h.run_sync(OpClusterSetParams(
        max_running_jobs=5, max_tracked_jobs=50, mac_prefix="AA:BB:CC",
        enabled_hypervisors=["kvm", "fake"], hvparams={"fake": {"x": None, "y": 2},
                                                       "kvm": {"kernel_path": ""}},
        beparams={"memory": "1G", "vcpus": "2"}, nicparams={"mode": "routed", "link": ""},
        ndparams={"ssh_port": 2022}, modify_etc_hosts=True, prealloc_wipe_disks=True,
        hidden_os=[("add", "debian"), ("remove", "ubuntu")],
    ))
    c = h.data.cluster
    assert (c.max_running_jobs, c.max_tracked_jobs, c.mac_prefix) == (5, 50, "aa:bb:cc")
    assert c.enabled_hypervisors == ("kvm", "fake")
    assert c.hvparams == {"fake": {"migration_mode": "live", "y": 2}, "kvm": {"kernel_path": ""}}
    assert c.beparams["default"]["minmem"] == 1024
    assert c.beparams["default"]["maxmem"] == 1024
    assert c.beparams["default"]["vcpus"] == 2
    assert "memory" not in c.beparams["default"]
    assert c.nicparams["default"]["mode"] == "routed"
    assert c.ndparams["ssh_port"] == 2022
    assert c.ndparams["spindle_count"] == 1
    assert c.modify_etc_hosts
    assert c.prealloc_wipe_disks
    assert c.hidden_os == ("debian",)
    assert any("OS ubuntu not found in hidden OS list, ignoring" in line for line in h.feedback)
    h.assert_persisted()
    env = next(c.args[2] for c in h.rpc.calls_of("hooks_runner") if c.args[0] == "cluster-modify")
    assert env["GANETI_OP_TARGET"] == "cluster.example.com"
    assert env["GANETI_NEW_VG_NAME"] == ""


def test_raising_the_pool_size_promotes(make_harness: MakeHarness) -> None:
    h = make_harness(standard_cluster(nodes=4, pool_size=2))
    h.run_sync(OpClusterSetParams(candidate_pool_size=3))
    assert sorted(n.name for n in h.data.nodes.values() if n.master_candidate) == [
        "node1", "node2", "node3"]
    assert "node3" in {c.node for c in h.rpc.calls_of("config_replicate") if c.args[1] == -1}
    h.run_sync(OpClusterSetParams(candidate_pool_size=1))
    assert any("more nodes are candidates (3) than desired (1)" in line for line in h.feedback)
    h.assert_persisted()


def test_master_netdev_moves_the_master_ip(make_harness: MakeHarness) -> None:
    b = standard_cluster(nodes=2)
    b.set_cluster(master_ip="192.0.2.100", master_netdev="eth0", master_netmask=24)
    h = make_harness(b)
    h.run_sync(OpClusterSetParams(master_netdev="eth1", master_netmask=25))
    names = [c.name for c in h.rpc.calls if c.name.startswith("node_") and "master" in c.name]
    assert names == ["node_deactivate_master_ip", "node_change_master_netmask",
                     "node_activate_master_ip"]
    down, mask, up = (c for c in h.rpc.calls if c.name in names)
    assert down.args[0]["netdev"] == "eth0"
    assert up.args[0] == {"uuid": "node-node1", "ip": "192.0.2.100", "netmask": 25,
                          "netdev": "eth1", "ip_family": 2}
    assert mask.args == (24, 25, "192.0.2.100", "eth0")
    assert {down.node, mask.node, up.node} == {"node1"}
    assert h.data.cluster.master_netdev == "eth1"


def test_master_ip_down_failure_aborts_unless_forced(make_harness: MakeHarness) -> None:
    b = standard_cluster(nodes=1)
    b.set_cluster(master_ip="192.0.2.100", master_netdev="eth0")
    h = make_harness(b)
    h.rpc.script("node_deactivate_master_ip", fail="no such device")
    expect_failure(h, OpClusterSetParams(master_netdev="eth1"), OpExecError,
                   match="Could not disable the master ip: no such device")
    h.run_sync(OpClusterSetParams(master_netdev="eth1", force=True))
    assert h.data.cluster.master_netdev == "eth1"


@pytest.mark.parametrize(
    ("op", "match"),
    [
        pytest.param(OpClusterSetParams(candidate_pool_size=0), "At least one master candidate",
                     id="pool"),
        pytest.param(OpClusterSetParams(max_running_jobs=0), "max_running_jobs", id="jobs"),
        pytest.param(OpClusterSetParams(enabled_hypervisors=[]), "cannot be empty", id="hv-empty"),
        pytest.param(OpClusterSetParams(enabled_hypervisors=["vmware"]), "vmware", id="hv"),
        pytest.param(OpClusterSetParams(hvparams={"vmware": {}}), "vmware", id="hvparams"),
        pytest.param(OpClusterSetParams(mac_prefix="aa:bb"), "MAC address prefix", id="mac"),
        pytest.param(OpClusterSetParams(beparams={"vcpus": "many"}), "vcpus", id="be-type"),
        pytest.param(OpClusterSetParams(beparams={"minmem": 512, "maxmem": 256}),
                     "Minimum memory", id="be-minmax"),
        pytest.param(OpClusterSetParams(beparams={"nosuch": 1}), "nosuch", id="be-key"),
        pytest.param(OpClusterSetParams(nicparams={"mode": "tunnel"}), "tunnel", id="nic-mode"),
        pytest.param(OpClusterSetParams(nicparams={"link": ""}), "Missing bridged NIC link",
                     id="nic-link"),
        pytest.param(OpClusterSetParams(master_netmask=33), "CIDR netmask (33)", id="netmask"),
        pytest.param(OpClusterSetParams(enabled_disk_templates=["floppy"]), "floppy",
                     id="templates"),
        pytest.param(OpClusterSetParams(file_storage_dir=""), "'file' storage directory",
                     id="file-dir"),
        pytest.param(OpClusterSetParams(uid_pool=[[1, 2]]), "does not support changing uid_pool",
                     id="uid-pool"),
        pytest.param(OpClusterSetParams(reserved_lvs=["x"]), "reserved_lvs", id="reserved-lvs"),
        pytest.param(OpClusterSetParams(drbd_helper="/bin/true"), "drbd_helper", id="drbd"),
    ],
)
def test_invalid_input(make_harness: MakeHarness, op: Any, match: str) -> None:
    h = make_harness(standard_cluster(nodes=1))
    expect_failure(h, op, code=ErrorCode.INVAL, match=match)


def test_disabling_a_used_disk_template_is_refused(make_harness: MakeHarness) -> None:
    b = standard_cluster(nodes=2)
    n = b.data.nodes
    b.instance("db", n["node-node1"], secondary=n["node-node2"])
    h = make_harness(b)
    expect_failure(h, OpClusterSetParams(enabled_disk_templates=["diskless"]),
                   code=ErrorCode.STATE, match="Cannot disable disk template 'drbd'")


def test_redist_conf_pushes_everything(make_harness: MakeHarness) -> None:
    b = standard_cluster(nodes=3)
    b.node("node4", offline=True, master_candidate=False)
    h = make_harness(b)
    users = h.layout.rapi_users_file
    users.parent.mkdir(parents=True, exist_ok=True)
    users.write_text("jack abc123 write\n")
    users.chmod(0o640)
    h.run_sync(OpClusterRedistConf())
    assert h.rpc.nodes_called("write_ssconf_files") == ["node1", "node2", "node3"]
    assert sorted(c.node for c in h.rpc.calls_of("config_replicate") if c.args[1] == -1) == [
        "node2", "node3"]
    uploads = h.rpc.calls_of("upload_file")
    assert sorted(c.node for c in uploads) == ["node2", "node3"]
    name, data, mode, uid, gid, *_ = uploads[0].args
    assert (name, mode, uid, gid) == ("var/lib/corral/rapi/users", 0o640, "root", "root")
    assert base64.b64decode(data) == b"jack abc123 write\n"
