"""Node removal and node flag/role changes through the processor."""

from __future__ import annotations

from typing import Any

import pytest

from corral.cmdlib.node import LUNodeSetParams
from corral.errors import ErrorCode
from corral.locking.levels import BGL, Level
from corral.opcodes.node import OpNodeRemove, OpNodeSetParams
from corral.version import PROTOCOL_VERSION
from tests.support.config import ConfigBuilder, standard_cluster
from tests.support.lu_harness import LuHarness, MakeHarness, expect_failure, requested


def modify(name: str = "node2", **kw: Any) -> OpNodeSetParams:
    return OpNodeSetParams(node_name=name, **kw)


def candidates(h: LuHarness) -> list[str]:
    return sorted(n.name for n in h.data.nodes.values() if n.master_candidate)


def full_copies(h: LuHarness) -> list[str]:
    return sorted(c.node for c in h.rpc.calls_of("config_replicate") if c.args[1] == -1)


# --- remove ---------------------------------------------------------------

def test_remove_promotes_a_replacement_and_tells_the_node_to_leave(
    make_harness: MakeHarness,
) -> None:
    h = make_harness(standard_cluster(nodes=4, pool_size=3))
    h.rpc.script("node_leave_cluster", fail="daemon already stopped")
    assert h.run_sync(OpNodeRemove(node_name="node2")) is None
    assert "node-node2" not in h.data.nodes
    assert candidates(h) == ["node1", "node3", "node4"]
    assert full_copies(h) == ["node3", "node4"]
    assert [c.args for c in h.rpc.calls_of("node_leave_cluster")] == [(False,)]
    post = [c.node for c in h.rpc.calls_of("hooks_runner") if c.args[:2] == ("node-remove", "post")]
    assert sorted(post) == ["node1", "node2", "node3", "node4"]
    assert any("while leaving the cluster: daemon already stopped" in line
               for line in h.feedback)
    h.assert_persisted()


def test_remove_refuses_master_instances_and_unknown_nodes(make_harness: MakeHarness) -> None:
    b = standard_cluster(nodes=3)
    b.instance("web", b.data.nodes["node-node1"], secondary=b.data.nodes["node-node3"])
    h = make_harness(b)
    expect_failure(h, OpNodeRemove(node_name="node1"), code=ErrorCode.INVAL,
                   match="Node is the master node, failover to another node is required")
    expect_failure(h, OpNodeRemove(node_name="node3"), code=ErrorCode.INVAL,
                   match="Instance web is still running on the node")
    expect_failure(h, OpNodeRemove(node_name="ghost"), code=ErrorCode.NOENT, match="ghost")
    assert h.rpc.calls_of("node_leave_cluster") == []


# --- the candidate pool -----------------------------------------------------

def test_offlining_a_candidate_needs_auto_promote(make_harness: MakeHarness) -> None:
    b = standard_cluster(nodes=3, pool_size=2)
    h = make_harness(b)
    expect_failure(h, modify(offline=True), code=ErrorCode.STATE,
                   match="Not enough master candidates")
    result = h.run_sync(modify(offline=True, auto_promote=True))
    assert result == [["master_candidate", "False"], ["offline", "True"]]
    assert candidates(h) == ["node1", "node3"]
    assert h.data.nodes["node-node2"].offline
    assert full_copies(h) == ["node3"]
    assert h.rpc.calls_of("node_demote_from_mc") == []
    h.assert_persisted()


def test_force_leaves_the_pool_short(make_harness: MakeHarness) -> None:
    h = make_harness(standard_cluster(nodes=3, pool_size=2))
    assert h.run_sync(modify(drained=True, force=True)) == [
        ["master_candidate", "False"], ["drained", "True"]]
    assert candidates(h) == ["node1"]
    assert h.rpc.nodes_called("node_demote_from_mc") == ["node2"]


def test_demotion_without_replacement_is_allowed(make_harness: MakeHarness) -> None:
    h = make_harness(standard_cluster(nodes=2, pool_size=10))
    assert h.run_sync(modify(master_candidate=False)) == [["master_candidate", "False"]]
    assert candidates(h) == ["node1"]


def test_back_online_checks_version_and_self_promotes(make_harness: MakeHarness) -> None:
    b = standard_cluster(nodes=2)
    b.node("node3", offline=True, master_candidate=False)
    h = make_harness(b)
    h.rpc.script("version", "node3", fail="Connection refused")
    expect_failure(h, modify("node3", offline=False), code=ErrorCode.STATE,
                   match="node3 is being de-offlined but fails to report its version")
    h.rpc.script("version", "node3", payload=PROTOCOL_VERSION)
    result = h.run_sync(modify("node3", offline=False))
    assert result == [["master_candidate", "True"], ["offline", "False"]]
    assert any("Auto-promoting node to master candidate" in line for line in h.feedback)
    assert "node3" in full_copies(h)


def test_master_capable_false_demotes(make_harness: MakeHarness) -> None:
    h = make_harness(standard_cluster(nodes=3, pool_size=10))
    result = h.run_sync(modify(master_capable=False))
    assert result == [["master_capable", "False"], ["master_candidate", "False"]]
    assert h.rpc.nodes_called("node_demote_from_mc") == ["node2"]


@pytest.mark.parametrize(
    ("op", "code", "match"),
    [
        pytest.param(modify(), ErrorCode.INVAL, "at least one modification", id="nothing"),
        pytest.param(modify(offline=True, drained=True), ErrorCode.INVAL, "more than one state",
                     id="two-states"),
        pytest.param(modify("node1", drained=True), ErrorCode.INVAL, "master-failover",
                     id="master"),
        pytest.param(modify("node1", master_capable=False), ErrorCode.STATE,
                     "Master must remain master capable", id="master-capable"),
        pytest.param(modify("off", master_candidate=True), ErrorCode.STATE, "off is offline",
                     id="promote-offline"),
        pytest.param(modify("incapable", master_candidate=True), ErrorCode.STATE,
                     "not master capable", id="promote-incapable"),
        pytest.param(modify("node3", vm_capable=False), ErrorCode.STATE, "hosts instances",
                     id="vm-capable"),
        pytest.param(modify(secondary_ip="192.0.2.3"), ErrorCode.INVAL, "single-homed",
                     id="sip-homing"),
        pytest.param(modify(powered=False), ErrorCode.STATE, "out-of-band", id="powered"),
        pytest.param(modify(ndparams={"nosuch": 1}), ErrorCode.INVAL, "nosuch", id="ndparams"),
        pytest.param(modify("ghost", offline=True), ErrorCode.NOENT, "ghost", id="unknown"),
        pytest.param(modify(hv_state={"x": 1}), ErrorCode.INVAL, "does not support changing",
                     id="hv-state"),
    ],
)
def test_set_params_prerequisites(
    make_harness: MakeHarness, op: Any, code: ErrorCode, match: str,
) -> None:
    b = standard_cluster(nodes=3)
    b.node("off", offline=True, master_candidate=False)
    b.node("incapable", master_capable=False, master_candidate=False)
    b.instance("web", b.data.nodes["node-node3"])
    h = make_harness(b)
    expect_failure(h, op, code=code, match=match)


def test_secondary_ip_must_be_unused(make_harness: MakeHarness) -> None:
    b = ConfigBuilder()
    b.node("node1", secondary_ip="198.51.100.1")
    b.node("node2", secondary_ip="198.51.100.2")
    h = make_harness(b)
    expect_failure(h, modify(secondary_ip="198.51.100.1"), code=ErrorCode.NOTUNIQUE,
                   match="already used by node node1")
    assert h.run_sync(modify(secondary_ip="198.51.100.9")) == [["secondary_ip", "198.51.100.9"]]
    assert h.data.nodes["node-node2"].secondary_ip == "198.51.100.9"


def test_plain_changes_take_only_the_node_lock(make_harness: MakeHarness) -> None:
    h = make_harness(standard_cluster(nodes=2))
    result = h.run_sync(modify(ndparams={"spindle_count": "3", "oob_program": "/bin/oob"},
                               vm_capable=False))
    assert result == [["ndparams", "{'spindle_count': 3, 'oob_program': '/bin/oob'}"],
                      ["vm_capable", "False"]]
    assert h.run_sync(modify(powered=False)) == [["powered", "False"]]
    lu = LUNodeSetParams(h.ctx, modify(vm_capable=True), h.feedback.append)
    lu.check_arguments()
    lu.expand_names()
    plan = lu.declare_locks()
    assert requested(plan, Level.NODE).names == frozenset({"node2"})
    assert requested(plan, Level.CLUSTER).shared
    assert requested(plan, Level.CLUSTER).names == frozenset({BGL})
    role = LUNodeSetParams(h.ctx, modify(drained=True), h.feedback.append)
    role.check_arguments()
    role.expand_names()
    assert not requested(role.declare_locks(), Level.CLUSTER).shared


def test_unsetting_an_unset_flag_is_ignored(make_harness: MakeHarness) -> None:
    h = make_harness(standard_cluster(nodes=2))
    serial = h.serial
    assert h.run_sync(modify(drained=False)) == []
    assert "Ignoring request to unset flag drained, already unset" in h.feedback
    assert h.serial == serial


def test_demotion_in_auto_failover_mode_stops_the_standby_master_daemon_first(
    make_harness: MakeHarness,
) -> None:
    b = standard_cluster(nodes=3, pool_size=10)
    b.set_cluster(auto_failover=True, etcd_endpoints=("http://127.0.0.1:2379",))
    h = make_harness(b)
    h.run_sync(modify(master_candidate=False))
    calls = [(c.name, c.node, c.args) for c in h.rpc.calls
             if c.name in ("node_ensure_daemon", "node_demote_from_mc")]
    assert calls == [("node_ensure_daemon", "node2", ("corral-masterd", False)),
                     ("node_demote_from_mc", "node2", ())]
