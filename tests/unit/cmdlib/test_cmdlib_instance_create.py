"""Instance creation through the processor: objects built, node calls in order, rollback."""

from __future__ import annotations

from typing import Any

import pytest

from corral.cmdlib.instance_create import LUInstanceCreate
from corral.errors import ErrorCode, OpExecError
from corral.locking.levels import Level
from corral.objects import AdminState, DiskTemplate, Nic, Node
from corral.opcodes.instance import OpInstanceCreate
from corral.rpc.results import NodeResult
from tests.support.config import instance_cluster, instance_with_disks
from tests.support.lu_harness import LuHarness, MakeHarness, expect_failure, requested

NAME = "web1.example.com"
RELEVANT = ("blockdev_", "instance_", "file_storage_", "os_validate")


def create(**kw: Any) -> OpInstanceCreate:
    kw.setdefault("instance_name", NAME)
    kw.setdefault("os_type", "busybox")
    kw.setdefault("pnode", "node2")
    kw.setdefault("disk_template", "file")
    kw.setdefault("disks", [{"size": 1024}])
    kw.setdefault("nics", [{}])
    kw.setdefault("name_check", False)
    kw.setdefault("ip_check", False)
    return OpInstanceCreate(**kw)


def node_calls(h: LuHarness) -> list[tuple[str, str]]:
    return [(c.name, c.node) for c in h.rpc.calls if c.name.startswith(RELEVANT)]


def storage(free: int, kind: str = "file", name: str = "/srv/corral/file-storage") -> Any:
    def answer(node: Node, args: tuple[Any, ...]) -> dict[str, Any]:
        return {"memory_free": 2048, "hv": {},
                "storage": [{"type": kind, "name": name, "storage_free": free}]}
    return answer


def test_create_builds_disks_installs_and_starts(make_harness: MakeHarness) -> None:
    h = make_harness(instance_cluster(nodes=3))
    h.rpc.script("node_info", fn=storage(10_000))
    result = h.run_sync(create(disks=[{"size": 1024}, {"size": 512, "name": "data"}],
                               beparams={"memory": 256}, tags=["web"]))
    assert result == ["node2"]
    inst = h.data.instance_by_name(NAME)
    assert inst is not None
    assert inst.admin_state is AdminState.UP
    assert inst.disks_active
    assert inst.primary_node == "node-node2"
    assert inst.beparams == {"minmem": 256, "maxmem": 256}
    assert inst.tags == ("web",)
    disks = [h.data.disks[u] for u in inst.disks]
    assert [d.iv_name for d in disks] == ["disk/0", "disk/1"]
    assert [d.size for d in disks] == [1024, 512]
    assert disks[1].name == "data"
    assert disks[0].logical_id == (
        "loop", f"/srv/corral/file-storage/{NAME}/{disks[0].uuid}.file.disk0")
    assert all(d.nodes == ("node-node2",) for d in disks)
    assert inst.nics[0].mac.startswith("aa:00:00:")
    assert node_calls(h) == [
        ("os_validate", "node2"),
        ("blockdev_create", "node2"), ("blockdev_create", "node2"),
        ("blockdev_assemble", "node2"), ("blockdev_assemble", "node2"),
        ("instance_os_add", "node2"), ("instance_start", "node2"),
    ]
    os_add = h.rpc.calls_of("instance_os_add")[0]
    bundle, reinstall = os_add.args[0], os_add.args[1]
    assert reinstall is False
    assert bundle.instance.name == NAME
    assert bundle.primary_node_name == "node2"
    assert [d.uuid for d in bundle.disks] == list(inst.disks)
    assert bundle.beparams["maxmem"] == 256
    assert bundle.nicparams == ({"mode": "bridged", "link": "br0", "vlan": ""},)
    validate = h.rpc.calls_of("os_validate")[0]
    assert validate.args[:3] == (True, "busybox", ["parameters"])
    create_call = h.rpc.calls_of("blockdev_create")[0]
    assert create_call.args[1:6] == (1024, NAME, True, f"originstname+{NAME}", False)
    h.assert_persisted()


def test_create_hooks_see_the_new_instance(make_harness: MakeHarness) -> None:
    h = make_harness(instance_cluster(nodes=3))
    h.run_sync(create(nics=[{"mac": "aa:00:00:11:22:33", "link": "br1"}], start=False))
    pre = [(c.node, c.args[2]) for c in h.rpc.calls_of("hooks_runner")
           if c.args[:2] == ("instance-add", "pre")]
    assert sorted(node for node, _ in pre) == ["node1", "node2"]
    env = pre[0][1]
    assert env["GANETI_INSTANCE_NAME"] == NAME
    assert env["GANETI_INSTANCE_PRIMARY"] == "node2"
    assert env["GANETI_INSTANCE_STATUS"] == "False"
    assert env["GANETI_INSTANCE_NIC0_MAC"] == "aa:00:00:11:22:33"
    assert env["GANETI_INSTANCE_NIC0_BRIDGE"] == "br1"
    assert env["GANETI_INSTANCE_DISK0_SIZE"] == "1024"
    assert env["GANETI_INSTANCE_DISK0_DRIVER"] == "loop"
    assert env["GANETI_ADD_MODE"] == "create"
    assert env["GANETI_INSTANCE_BE_maxmem"] == "128"
    assert env["GANETI_OBJECT_TYPE"] == "INSTANCE"


def test_create_without_start_leaves_disks_inactive(make_harness: MakeHarness) -> None:
    h = make_harness(instance_cluster())
    h.run_sync(create(start=False))
    inst = h.data.instance_by_name(NAME)
    assert inst is not None
    assert inst.admin_state is AdminState.DOWN
    assert not inst.disks_active
    assert [n for n, _ in node_calls(h)] == [
        "os_validate", "blockdev_create", "blockdev_assemble", "instance_os_add",
        "blockdev_shutdown"]


def test_no_install_skips_the_os_and_start(make_harness: MakeHarness) -> None:
    h = make_harness(instance_cluster())
    h.run_sync(create(no_install=True))
    assert "No-installation mode selected, disabling startup" in h.feedback
    assert [n for n, _ in node_calls(h)] == ["os_validate", "blockdev_create"]
    inst = h.data.instance_by_name(NAME)
    assert inst is not None
    assert inst.admin_state is AdminState.DOWN


def test_diskless_instance_is_started_without_install(make_harness: MakeHarness) -> None:
    h = make_harness(instance_cluster())
    h.run_sync(create(disk_template="diskless", disks=[]))
    assert [n for n, _ in node_calls(h)] == ["os_validate", "instance_start"]


def test_plain_disks_get_lv_names_and_wipe(make_harness: MakeHarness) -> None:
    h = make_harness(instance_cluster(prealloc_wipe_disks=True))
    h.rpc.script("node_info", fn=storage(4096, "lvm-vg", "xenvg"))
    h.run_sync(create(disk_template="plain", disks=[{"size": 2048}], start=False))
    inst = h.data.instance_by_name(NAME)
    assert inst is not None
    disk = h.data.disks[inst.disks[0]]
    assert disk.logical_id == ("xenvg", f"{disk.uuid}.disk0")
    wipe = h.rpc.calls_of("blockdev_wipe")
    assert [(c.node, c.args[1:]) for c in wipe] == [("node2", (0, 2048))]


def test_kvm_instances_get_a_network_port(make_harness: MakeHarness) -> None:
    b = instance_cluster()
    instance_with_disks(b, "old", b.data.nodes["node-node1"], network_port=11000)
    h = make_harness(b)
    h.run_sync(create(hypervisor="kvm", start=False, hvparams={"acpi": "false"}))
    inst = h.data.instance_by_name(NAME)
    assert inst is not None
    assert inst.network_port == 11001
    assert inst.hvparams == {"acpi": False}


def test_builtin_allocator_picks_the_node_with_most_free_memory(
        make_harness: MakeHarness) -> None:
    h = make_harness(instance_cluster(nodes=3))
    free = {"node1": 1024, "node2": 4096, "node3": 2048}
    h.rpc.script("node_info", fn=lambda node, args: {"memory_free": free[node.name],
                                                       "hv": {}, "storage": []})
    assert h.run_sync(create(pnode=None)) == ["node2"]
    assert f"Selected nodes for instance {NAME} via iallocator corral: node2" in h.feedback


def test_generated_macs_avoid_those_in_use(make_harness: MakeHarness) -> None:
    b = instance_cluster()
    instance_with_disks(b, "old", b.data.nodes["node-node1"],
                        nics=(Nic(uuid="n1", mac="aa:00:00:00:00:01"),))
    h = make_harness(b)
    h.run_sync(create(nics=[{}, {"mac": "generate"}, {"mac": "AA:00:00:00:00:02"}],
                      start=False))
    inst = h.data.instance_by_name(NAME)
    assert inst is not None
    macs = [nic.mac for nic in inst.nics]
    assert macs[2] == "aa:00:00:00:00:02"
    assert len(set(macs)) == 3
    assert "aa:00:00:00:00:01" not in macs


@pytest.mark.parametrize(
    ("op", "code", "match"),
    [
        pytest.param(create(instance_name="old"), ErrorCode.EXISTS,
                     "Instance 'old' is already in the cluster", id="duplicate"),
        pytest.param(create(pnode="ghost"), ErrorCode.NOENT, "Node 'ghost' not known",
                     id="unknown-node"),
        pytest.param(create(pnode="node3"), ErrorCode.STATE,
                     "Cannot use offline primary node 'node3'", id="offline-node"),
        pytest.param(create(hypervisor="chroot"), ErrorCode.STATE,
                     "Selected hypervisor (chroot) not enabled", id="hypervisor"),
        pytest.param(create(hypervisor="kvm", hvparams={"boot_order": "tape"}),
                     ErrorCode.INVAL, "boot_order", id="bad-hvparam"),
        pytest.param(create(hvparams={"no_such": 1}), ErrorCode.INVAL, "no_such",
                     id="unknown-hvparam"),
        pytest.param(create(beparams={"vcpus": "many"}), ErrorCode.INVAL, "vcpus",
                     id="bad-beparam"),
        pytest.param(create(disk_template="drbd"), ErrorCode.STATE, "not enabled in cluster",
                     id="template-disabled"),
        pytest.param(create(disks=[{"size": 0}]), ErrorCode.INVAL, "Invalid disk size",
                     id="zero-size"),
        pytest.param(create(disk_template="blockdev"), ErrorCode.INVAL,
                     "requires disk adoption", id="blockdev-adopt"),
        pytest.param(create(nics=[{"mac": "aa:00:00:00:00:01"}]), ErrorCode.NOTUNIQUE,
                     "MAC address aa:00:00:00:00:01 already in use in cluster", id="mac-used"),
        pytest.param(create(nics=[{"mode": "routed"}]), ErrorCode.INVAL,
                     "Routed nic mode requires an ip address", id="routed-no-ip"),
        pytest.param(create(nics=[{"ip": "300.1.2.3"}]), ErrorCode.INVAL,
                     "Invalid IP address", id="bad-ip"),
        pytest.param(create(os_type="nope"), ErrorCode.INVAL,
                     "OS 'nope' not in supported OS list for node node2", id="unknown-os"),
        pytest.param(create(disks=[{"size": 20_000}]), ErrorCode.NORES,
                     "Not enough disk space on target node node2 directory"
                     " /srv/corral/file-storage: required 20000 MiB, available 10000 MiB",
                     id="disk-space"),
        pytest.param(create(beparams={"maxmem": 4096, "minmem": 512}), ErrorCode.NORES,
                     "Not enough memory on node node2 for creating instance web1.example.com:"
                     " needed 4096 MiB, available 2048 MiB", id="memory"),
    ],
)
def test_create_prerequisites(
    make_harness: MakeHarness, op: OpInstanceCreate, code: ErrorCode, match: str,
) -> None:
    b = instance_cluster(nodes=3)
    b.set_cluster(enabled_disk_templates=("file", "plain", "blockdev"))
    instance_with_disks(b, "old", b.data.nodes["node-node1"],
                        nics=(Nic(uuid="n1", mac="aa:00:00:00:00:01"),))
    b.data.put(b.data.nodes["node-node3"].evolve(0.0, offline=True))
    h = make_harness(b)
    h.rpc.script("node_info", fn=storage(10_000))
    h.rpc.script("os_validate", fn=lambda node, args: NodeResult.failure(
        node.name, "os_validate", f"OS '{args[1]}' not found in the search path (/x)")
        if args[1] == "nope" else True)
    expect_failure(h, op, code=code, match=match)
    assert h.rpc.calls_of("blockdev_create") == []
    assert h.data.instance_by_name(NAME) is None


def test_os_failure_removes_disks_and_instance(make_harness: MakeHarness) -> None:
    h = make_harness(instance_cluster())
    h.rpc.script("instance_os_add", fail="create script exited with code 1")
    with pytest.raises(OpExecError) as err:
        h.run_sync(create(disks=[{"size": 1024}, {"size": 1024}]))
    assert str(err.value) == (f"Could not add os for instance {NAME} on node node2:"
                              " create script exited with code 1")
    assert h.data.instances == {}
    assert h.data.disks == {}
    created = [c.args[0].uuid for c in h.rpc.calls_of("blockdev_create")]
    removed = [c.args[0].uuid for c in h.rpc.calls_of("blockdev_remove")]
    assert sorted(created) == sorted(removed)
    assert len(created) == 2
    dirs = [c.args[0] for c in h.rpc.calls_of("file_storage_dir_remove")]
    assert dirs == [f"/srv/corral/file-storage/{NAME}"]
    assert h.rpc.calls_of("instance_start") == []
    h.assert_persisted()


def test_failed_disk_creation_rolls_back(make_harness: MakeHarness) -> None:
    h = make_harness(instance_cluster())

    def second_fails(node: Node, args: tuple[Any, ...]) -> Any:
        if args[0].iv_name == "disk/1":
            return NodeResult.failure(node.name, "blockdev_create", "No space left on device")
        return None

    h.rpc.script("blockdev_create", fn=second_fails)
    err = expect_failure(h, create(disks=[{"size": 1024}, {"size": 1024}]), OpExecError,
                         match="Can't create block device disk/1 on node node2 for instance")
    assert "No space left on device" in str(err)
    removed = [c.args[0].iv_name for c in h.rpc.calls_of("blockdev_remove")]
    assert removed == ["disk/0"]
    assert h.data.disks == {}


def test_start_failure_keeps_the_instance_marked_up(make_harness: MakeHarness) -> None:
    h = make_harness(instance_cluster())
    h.rpc.script("instance_start", fail="qemu died")
    with pytest.raises(OpExecError, match="Could not start instance: qemu died"):
        h.run_sync(create())
    inst = h.data.instance_by_name(NAME)
    assert inst is not None
    assert inst.admin_state is AdminState.UP
    h.assert_persisted()


def test_dry_run_changes_nothing(make_harness: MakeHarness) -> None:
    h = make_harness(instance_cluster())
    serial = h.serial
    assert h.run_sync(create(dry_run=True)) == ["node2"]
    assert h.serial == serial
    assert h.rpc.calls_of("blockdev_create") == []


def test_blockdev_adoption_measures_the_device(make_harness: MakeHarness) -> None:
    h = make_harness(instance_cluster())
    h.rpc.script("blockdev_getdimensions", payload=[[2048 * 1024 * 1024, 1]])
    h.run_sync(create(disk_template="blockdev", disks=[{"adopt": "/dev/disk/by-id/x"}],
                      start=False))
    inst = h.data.instance_by_name(NAME)
    assert inst is not None
    disk = h.data.disks[inst.disks[0]]
    assert (disk.dev_type, disk.size, disk.logical_id) == (
        DiskTemplate.BLOCKDEV, 2048, ("manual", "/dev/disk/by-id/x"))
    assert h.rpc.calls_of("instance_os_add") == []


def test_create_locks_the_new_name_and_the_primary(make_harness: MakeHarness) -> None:
    h = make_harness(instance_cluster())
    lu = LUInstanceCreate(h.ctx, create(), h.feedback.append)
    lu.check_arguments()
    lu.expand_names()
    plan = lu.declare_locks()
    assert requested(plan, Level.INSTANCE).names == frozenset({NAME})
    assert requested(plan, Level.NODE).names == frozenset({"node2"})
    assert requested(plan, Level.NODE_RES).names == frozenset({"node2"})
    assert requested(plan, Level.NODE).shared  # creations on one node run side by side
    assert not requested(plan, Level.NODE_RES).shared
    picked = LUInstanceCreate(h.ctx, create(pnode=None), h.feedback.append)
    picked.expand_names()
    assert requested(picked.declare_locks(), Level.NODE).all_set


def test_secret_os_parameters_reach_the_script_only(make_harness: MakeHarness) -> None:
    b = instance_cluster(osparams={"busybox": {"size": "1G", "a": "0"}})
    h = make_harness(b)
    h.run_sync(create(osparams={"a": "1"}, osparams_secret={"password": "s3cret"},
                      start=False))
    bundle = h.rpc.calls_of("instance_os_add")[0].args[0]
    assert bundle.osparams == {"size": "1G", "a": "1", "password": "s3cret"}
    inst = h.data.instance_by_name(NAME)
    assert inst is not None
    assert inst.osparams == {"a": "1"}
    assert "s3cret" not in str(h.reload().instances)
