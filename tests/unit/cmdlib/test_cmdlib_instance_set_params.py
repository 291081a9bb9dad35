"""Instance modification through the processor: result pairs, disks, NICs, memory."""

from __future__ import annotations

from typing import Any

import pytest

from corral.cmdlib import instance_set_params  # noqa: F401  (registers the logical unit)
from corral.errors import ErrorCode, OpExecError
from corral.objects import AdminState, DiskMode, DiskTemplate, Instance, Nic, Node
from corral.opcodes.instance import OpInstanceSetParams
from corral.rpc.results import NodeResult
from tests.support.config import ConfigBuilder, instance_cluster, instance_with_disks
from tests.support.lu_harness import LuHarness, MakeHarness, expect_failure

NIC0 = Nic(uuid="nic0", mac="aa:00:00:00:00:10", nicparams={"link": "br1"})
STORAGE = "/srv/corral/file-storage"


def cluster(**inst: Any) -> tuple[ConfigBuilder, Instance]:
    b = instance_cluster(nodes=2)
    inst.setdefault("nics", (NIC0,))
    vm = instance_with_disks(b, "vm1", b.data.nodes["node-node2"], **inst)
    instance_with_disks(b, "other", b.data.nodes["node-node1"],
                        nics=(Nic(uuid="nicx", mac="aa:00:00:00:00:99"),))
    return b, vm


def modify(**kw: Any) -> OpInstanceSetParams:
    return OpInstanceSetParams(instance_name="vm1", **kw)


def vm(h: LuHarness) -> Instance:
    return h.data.instances["inst-vm1"]


def test_parameters_change_and_are_reported(make_harness: MakeHarness) -> None:
    b, _ = cluster(beparams={"vcpus": 2}, hypervisor="kvm")
    h = make_harness(b)
    result = h.run_sync(modify(beparams={"memory": 512, "vcpus": "default"},
                               hvparams={"acpi": "false"}, osparams={"mirror": "x"}))
    assert result == [["hv/acpi", False], ["be/vcpus", "default"],
                      ["be/minmem", 512], ["be/maxmem", 512], ["os/mirror", "x"]]
    inst = vm(h)
    assert inst.beparams == {"minmem": 512, "maxmem": 512}
    assert inst.hvparams == {"acpi": False}
    assert inst.osparams == {"mirror": "x"}
    assert h.rpc.calls_of("os_validate")[0].args[1:4] == ("busybox", ["parameters"],
                                                           {"mirror": "x"})
    h.assert_persisted()


def test_offline_and_online(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    h = make_harness(b)
    assert h.run_sync(modify(offline=True)) == [["admin_state", "offline"]]
    assert vm(h).admin_state is AdminState.OFFLINE
    assert h.run_sync(modify(offline=False)) == [["admin_state", "down"]]
    assert vm(h).admin_state is AdminState.DOWN


def test_os_change_needs_a_stopped_instance(make_harness: MakeHarness) -> None:
    b, _ = cluster(admin_state=AdminState.UP)
    h = make_harness(b)
    expect_failure(h, modify(os_name="debian"), code=ErrorCode.STATE,
                   match="Instance 'vm1' is marked to be up, cannot change OS")


def test_runtime_memory_balloons_a_running_instance(make_harness: MakeHarness) -> None:
    b, _ = cluster(admin_state=AdminState.UP, beparams={"minmem": 128, "maxmem": 1024})
    h = make_harness(b)
    h.rpc.script("instance_info", payload={"state": "running", "memory": 256})
    assert h.run_sync(modify(runtime_mem=512)) == [["runtime_memory", 512]]
    balloon = h.rpc.calls_of("instance_balloon_memory")[0]
    assert balloon.args[1] == 512
    node_info = h.rpc.calls_of("node_info")
    assert len(node_info) == 1
    expect_failure(h, modify(runtime_mem=4096), code=ErrorCode.INVAL,
                   match="must have memory between 128 and 1024")


def test_runtime_memory_needs_a_running_instance(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    h = make_harness(b)
    expect_failure(h, modify(runtime_mem=256), code=ErrorCode.STATE,
                   match="Instance vm1 is not running")


def test_larger_maxmem_must_fit_unless_forced(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    h = make_harness(b)
    expect_failure(h, modify(beparams={"maxmem": 8192}), code=ErrorCode.NORES,
                   match="due to 6144 MB of memory missing on its primary node")
    h.run_sync(modify(beparams={"maxmem": 8192}, force=True))
    assert vm(h).beparams["maxmem"] == 8192


# --- disks ----------------------------------------------------------------------------

def test_add_modify_and_remove_disks(make_harness: MakeHarness) -> None:
    b, _ = cluster(sizes=(1024, 2048))
    h = make_harness(b)
    result = h.run_sync(modify(disks=[["add", -1, {"size": 512, "name": "logs"}],
                                      ["modify", 0, {"mode": "ro"}],
                                      ["remove", 1, {}]]))
    assert result[0] == ["disk/2", "add:size=512,mode=rw"]
    assert result[1:] == [["disk.mode/0", "ro"], ["disk/1", "remove"]]
    inst = vm(h)
    disks = [h.data.disks[u] for u in inst.disks]
    assert [d.iv_name for d in disks] == ["disk/0", "disk/1"]
    assert disks[0].mode is DiskMode.RO
    assert disks[1].name == "logs"
    assert disks[1].size == 512
    assert "disk-vm1-1" not in h.data.disks
    assert [c.args[0].uuid for c in h.rpc.calls_of("blockdev_remove")] == ["disk-vm1-1"]
    created = h.rpc.calls_of("blockdev_create")
    assert [c.args[0].name for c in created] == ["logs"]
    assert created[0].args[0].logical_id[1].startswith(f"{STORAGE}/vm1/")
    assert h.rpc.calls_of("file_storage_dir_remove") == []
    h.assert_persisted()


def test_legacy_disk_modification_format(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    h = make_harness(b)
    assert h.run_sync(modify(disks=[["add", {"size": 256}]])) == [
        ["disk/1", "add:size=256,mode=rw"]]


def test_failed_disk_add_changes_nothing(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    h = make_harness(b)

    def fail_second(node: Node, args: tuple[Any, ...]) -> Any:
        if args[0].iv_name == "disk/2":
            return NodeResult.failure(node.name, "blockdev_create", "disk full")
        return None

    h.rpc.script("blockdev_create", fn=fail_second)
    expect_failure(h, modify(disks=[["add", -1, {"size": 64}], ["add", -1, {"size": 64}]]),
                   OpExecError, match="Can't create block device disk/2")
    assert len(h.rpc.calls_of("blockdev_remove")) == 1
    assert len(vm(h).disks) == 1


@pytest.mark.parametrize(
    ("disks", "inst", "code", "match"),
    [
        pytest.param([["remove", 0, {}]], {"admin_state": AdminState.UP}, ErrorCode.STATE,
                     "cannot remove disks", id="remove-running"),
        pytest.param([["modify", 0, {"size": 10}]], {}, ErrorCode.INVAL,
                     "Disk size change not possible, use grow-disk", id="resize"),
        pytest.param([["modify", 3, {"mode": "ro"}]], {}, ErrorCode.INVAL,
                     "Got disk index 3, but there are only 1", id="index"),
        pytest.param([["modify", "nosuch", {"mode": "ro"}]], {}, ErrorCode.NOENT,
                     "Cannot find disk with identifier nosuch", id="name"),
        pytest.param([["add", -1, {"size": 10}]], {"template": "diskless", "sizes": ()},
                     ErrorCode.INVAL, "not supported for diskless instances", id="diskless"),
    ],
)
def test_disk_modification_prerequisites(
    make_harness: MakeHarness, disks: list[Any], inst: dict[str, Any], code: ErrorCode,
    match: str,
) -> None:
    if "template" in inst:
        inst["template"] = DiskTemplate(inst["template"])
    b, _ = cluster(**inst)
    h = make_harness(b)
    expect_failure(h, modify(disks=disks), code=code, match=match)
    assert h.rpc.calls_of("blockdev_create") == []
    assert h.rpc.calls_of("blockdev_remove") == []


# --- NICs -----------------------------------------------------------------------------

def test_add_modify_remove_nics(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    h = make_harness(b)
    result = h.run_sync(modify(nics=[["add", -1, {"ip": "192.0.2.50", "mode": "routed",
                                                  "link": "rt1"}],
                                     ["modify", 0, {"mac": "generate", "link": "br2"}]]))
    inst = vm(h)
    new_mac = inst.nics[0].mac
    assert result == [
        ["nic.1", f"add:mac={inst.nics[1].mac},ip=192.0.2.50,mode=routed,link=rt1,"
                  "network=None"],
        ["nic.mac/0", new_mac], ["nic.mode/0", "bridged"], ["nic.link/0", "br2"],
        ["nic.vlan/0", ""],
    ]
    assert new_mac != NIC0.mac
    assert new_mac.startswith("aa:00:00:")
    assert inst.nics[0].uuid == "nic0"
    assert inst.nics[1].nicparams == {"mode": "routed", "link": "rt1"}
    assert h.run_sync(modify(nics=[["remove", "nic0", {}]])) == [["nic/0", "remove"]]
    assert [n.ip for n in vm(h).nics] == ["192.0.2.50"]
    h.assert_persisted()


def test_nic_mac_must_be_unique(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    h = make_harness(b)
    expect_failure(h, modify(nics=[["modify", 0, {"mac": "aa:00:00:00:00:99"}]]),
                   code=ErrorCode.NOTUNIQUE,
                   match="MAC address aa:00:00:00:00:99 already in use in cluster")
    expect_failure(h, modify(nics=[["add", -1, {"mac": "aa:00:00:00:00:10"}]]),
                   code=ErrorCode.NOTUNIQUE, match="already in use")


def test_nothing_to_change(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    h = make_harness(b)
    expect_failure(h, modify(), code=ErrorCode.INVAL, match="No changes submitted")
    expect_failure(h, modify(pnode="node1"), code=ErrorCode.INVAL,
                   match="does not support changing pnode")
