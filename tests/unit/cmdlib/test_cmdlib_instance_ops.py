"""Instance startup, shutdown and reboot through the processor."""

from __future__ import annotations

from typing import Any, Literal

import pytest

from corral.cmdlib.instance_ops import LUInstanceShutdown, LUInstanceStartup
from corral.errors import ErrorCode, OpExecError
from corral.locking.levels import Level
from corral.objects import AdminState, Instance, Node
from corral.opcodes.instance import OpInstanceReboot, OpInstanceShutdown, OpInstanceStartup
from tests.support.config import ConfigBuilder, instance_cluster, instance_with_disks
from tests.support.lu_harness import LuHarness, MakeHarness, expect_failure, requested

RELEVANT = ("blockdev_", "instance_", "node_info")
RUNNING = {"state": "running", "memory": 128, "vcpus": 1, "time": 1.0}


def node_calls(h: LuHarness) -> list[str]:
    return [c.name for c in h.rpc.calls if c.name.startswith(RELEVANT)]


def cluster(**inst: Any) -> tuple[ConfigBuilder, Instance]:
    b = instance_cluster(nodes=2)
    vm = instance_with_disks(b, "vm1", b.data.nodes["node-node2"], **inst)
    return b, vm


def running(h: LuHarness, state: str = "running") -> None:
    h.rpc.script("instance_info", payload={**RUNNING, "state": state})


def state(h: LuHarness) -> Instance:
    return h.data.instances["inst-vm1"]


# --- startup --------------------------------------------------------------------------

def test_startup_checks_memory_assembles_and_starts(make_harness: MakeHarness) -> None:
    b, _ = cluster(beparams={"minmem": 256, "maxmem": 512})
    h = make_harness(b)
    h.run_sync(OpInstanceStartup(instance_name="vm1", beparams={"vcpus": 2},
                                 startup_paused=True))
    assert node_calls(h) == ["instance_info", "node_info", "blockdev_assemble",
                             "instance_start"]
    start = h.rpc.calls_of("instance_start")[0]
    bundle, paused = start.args[0], start.args[1]
    assert paused is True
    assert bundle.beparams["vcpus"] == 2
    assert state(h).admin_state is AdminState.UP
    assert state(h).disks_active
    assert state(h).beparams == {"minmem": 256, "maxmem": 512}
    env = next(c.args[2] for c in h.rpc.calls_of("hooks_runner")
           if c.args[:2] == ("instance-start", "pre"))
    assert env["GANETI_FORCE"] == "False"
    assert env["GANETI_INSTANCE_NAME"] == "vm1"
    assert sorted(c.node for c in h.rpc.calls_of("hooks_runner")
                  if c.args[:2] == ("instance-start", "pre")) == ["node1", "node2"]
    h.assert_persisted()


def test_startup_overrides_are_checked_and_not_stored(make_harness: MakeHarness) -> None:
    b, _ = cluster(hypervisor="kvm")
    h = make_harness(b)
    expect_failure(h, OpInstanceStartup(instance_name="vm1", hvparams={"acpi": "maybe"}),
                   code=ErrorCode.INVAL, match="acpi")
    h.run_sync(OpInstanceStartup(instance_name="vm1", hvparams={"acpi": "false"}))
    bundle = h.rpc.calls_of("instance_start")[0].args[0]
    assert bundle.hvparams["acpi"] is False
    assert state(h).hvparams == {}


def test_startup_of_a_running_instance_only_notes_it(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    h = make_harness(b)
    running(h)
    h.run_sync(OpInstanceStartup(instance_name="vm1"))
    assert "Instance vm1 is already running" in h.feedback
    assert h.rpc.calls_of("instance_start") == []
    assert state(h).admin_state is AdminState.UP


def test_startup_no_remember_keeps_admin_state(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    h = make_harness(b)
    h.run_sync(OpInstanceStartup(instance_name="vm1", no_remember=True))
    assert state(h).admin_state is AdminState.DOWN
    assert len(h.rpc.calls_of("instance_start")) == 1


def test_startup_failure_shuts_disks_down(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    h = make_harness(b)
    h.rpc.script("instance_start", fail="no such kernel")
    with pytest.raises(OpExecError, match="Could not start instance: no such kernel"):
        h.run_sync(OpInstanceStartup(instance_name="vm1"))
    assert node_calls(h)[-2:] == ["instance_start", "blockdev_shutdown"]


def test_startup_on_offline_primary(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    b.data.put(b.data.nodes["node-node2"].evolve(0.0, offline=True))
    h = make_harness(b)
    expect_failure(h, OpInstanceStartup(instance_name="vm1"), code=ErrorCode.STATE,
                   match="Can't use offline node: node2")
    h.run_sync(OpInstanceStartup(instance_name="vm1", ignore_offline_nodes=True))
    assert state(h).admin_state is AdminState.UP
    assert "Primary node offline, marked instance as started" in h.feedback
    assert node_calls(h) == []


@pytest.mark.parametrize(
    ("inst", "script", "code", "match"),
    [
        pytest.param({"admin_state": AdminState.OFFLINE}, None, ErrorCode.STATE,
                     "Instance 'vm1' is marked to be offline, can't use instance from outside"
                     " down, up states", id="offline"),
        pytest.param({"beparams": {"minmem": 4096, "maxmem": 4096}}, None, ErrorCode.NORES,
                     "Not enough memory on node node2 for starting instance vm1: needed 4096"
                     " MiB, available 2048 MiB", id="memory"),
        pytest.param({}, "shutdown", ErrorCode.INVAL, "was shutdown by the user",
                     id="user-down"),
        pytest.param({"instance_name": "ghost"}, None, ErrorCode.NOENT,
                     "Instance 'ghost' not known", id="unknown"),
    ],
)
def test_startup_prerequisites(
    make_harness: MakeHarness, inst: dict[str, Any], script: str | None, code: ErrorCode,
    match: str,
) -> None:
    name = inst.pop("instance_name", "vm1")
    b, _ = cluster(**inst)
    h = make_harness(b)
    if script:
        running(h, script)
    expect_failure(h, OpInstanceStartup(instance_name=name), code=code, match=match)
    assert h.rpc.calls_of("instance_start") == []
    assert h.rpc.calls_of("blockdev_assemble") == []


# --- shutdown -------------------------------------------------------------------------

def test_shutdown_marks_down_then_stops(make_harness: MakeHarness) -> None:
    b, _ = cluster(admin_state=AdminState.UP, disks_active=True)
    h = make_harness(b)
    h.run_sync(OpInstanceShutdown(instance_name="vm1", timeout=30))
    assert node_calls(h) == ["instance_shutdown", "blockdev_shutdown"]
    assert h.rpc.calls_of("instance_shutdown")[0].args[1] == 30.0
    assert state(h).admin_state is AdminState.DOWN
    assert not state(h).disks_active
    env = next(c.args[2] for c in h.rpc.calls_of("hooks_runner")
           if c.args[:2] == ("instance-stop", "post"))
    assert env["GANETI_TIMEOUT"] == "30"
    assert env["GANETI_POST_INSTANCE_STATUS"] == "down"
    h.assert_persisted()


def test_shutdown_no_remember_and_node_failure(make_harness: MakeHarness) -> None:
    b, _ = cluster(admin_state=AdminState.UP)
    h = make_harness(b)
    h.rpc.script("instance_shutdown", fail="qmp timeout")
    h.run_sync(OpInstanceShutdown(instance_name="vm1", no_remember=True))
    assert state(h).admin_state is AdminState.UP
    assert "WARNING: Could not shutdown instance: qmp timeout" in h.feedback
    assert h.rpc.calls_of("blockdev_shutdown") != []


def test_shutdown_user_source(make_harness: MakeHarness) -> None:
    b, _ = cluster(admin_state=AdminState.UP)
    h = make_harness(b)
    h.run_sync(OpInstanceShutdown(instance_name="vm1", admin_state_source="user"))
    assert state(h).admin_state_source.value == "user"


def test_shutdown_of_offline_instance_needs_force(make_harness: MakeHarness) -> None:
    b, _ = cluster(admin_state=AdminState.OFFLINE)
    h = make_harness(b)
    expect_failure(h, OpInstanceShutdown(instance_name="vm1"), code=ErrorCode.STATE,
                   match="is marked to be offline")
    h.run_sync(OpInstanceShutdown(instance_name="vm1", force=True))
    assert "WARNING: Ignoring offline instance check" in h.feedback
    assert state(h).admin_state is AdminState.OFFLINE


# --- reboot ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["soft", "hard"])
def test_soft_and_hard_reboot_go_to_the_node(
    make_harness: MakeHarness, kind: Literal["soft", "hard"],
) -> None:
    b, _ = cluster(admin_state=AdminState.UP, disks_active=True)
    h = make_harness(b)
    running(h)
    h.run_sync(OpInstanceReboot(instance_name="vm1", reboot_type=kind, shutdown_timeout=7))
    assert node_calls(h) == ["instance_info", "instance_reboot"]
    assert h.rpc.calls_of("instance_reboot")[0].args[1:3] == (kind, 7.0)


def test_full_reboot_stops_and_starts(make_harness: MakeHarness) -> None:
    b, _ = cluster(admin_state=AdminState.UP, disks_active=True)
    h = make_harness(b)
    running(h)
    h.run_sync(OpInstanceReboot(instance_name="vm1", reboot_type="full"))
    assert node_calls(h) == ["instance_info", "instance_shutdown", "blockdev_shutdown",
                             "blockdev_assemble", "instance_start"]


def test_reboot_of_a_stopped_instance_starts_it(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    h = make_harness(b)
    h.run_sync(OpInstanceReboot(instance_name="vm1", reboot_type="soft"))
    assert "Instance vm1 was already stopped, starting now" in h.feedback
    assert node_calls(h) == ["instance_info", "blockdev_assemble", "instance_start"]
    assert state(h).admin_state is AdminState.UP


def test_reboot_failure_is_reported(make_harness: MakeHarness) -> None:
    b, _ = cluster(admin_state=AdminState.UP)
    h = make_harness(b)
    running(h)
    h.rpc.script("instance_reboot", fail="guest hung")
    with pytest.raises(OpExecError, match="Could not reboot instance: guest hung"):
        h.run_sync(OpInstanceReboot(instance_name="vm1", reboot_type="soft"))


def test_reboot_needs_an_online_primary(make_harness: MakeHarness) -> None:
    b, _ = cluster(admin_state=AdminState.UP)
    node: Node = b.data.nodes["node-node2"]
    b.data.put(node.evolve(0.0, offline=True))
    h = make_harness(b)
    expect_failure(h, OpInstanceReboot(instance_name="vm1", reboot_type="hard"),
                   code=ErrorCode.STATE, match="Can't use offline node: node2")


# --- locks ----------------------------------------------------------------------------

def test_lock_plans_follow_ganeti(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    h = make_harness(b)
    start = LUInstanceStartup(h.ctx, OpInstanceStartup(instance_name="vm1"), h.feedback.append)
    start.check_arguments()
    start.expand_names()
    plan = start.declare_locks()
    assert requested(plan, Level.INSTANCE).names == frozenset({"vm1"})
    assert requested(plan, Level.NODE_RES).names == frozenset({"node2"})
    assert plan.get(Level.NODE) is None
    assert requested(plan, Level.CLUSTER).shared
    stop = LUInstanceShutdown(h.ctx, OpInstanceShutdown(instance_name="vm1"), h.feedback.append)
    stop.expand_names()
    assert stop.declare_locks().levels == (Level.CLUSTER, Level.INSTANCE)
