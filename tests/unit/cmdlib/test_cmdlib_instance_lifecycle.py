"""Instance removal, reinstall and rename through the processor."""

from __future__ import annotations

from typing import Any

import pytest

from corral.cmdlib import instance_reinstall, instance_remove  # noqa: F401  (registers LUs)
from corral.errors import ErrorCode, OpExecError
from corral.objects import AdminState, DiskTemplate, Instance
from corral.opcodes.instance import OpInstanceReinstall, OpInstanceRemove, OpInstanceRename
from corral.rpc.results import NodeResult
from tests.support.config import ConfigBuilder, instance_cluster, instance_with_disks
from tests.support.lu_harness import LuHarness, MakeHarness, expect_failure

RELEVANT = ("blockdev_", "instance_", "file_storage_", "os_validate")
STORAGE = "/srv/corral/file-storage"


def node_calls(h: LuHarness) -> list[str]:
    return [c.name for c in h.rpc.calls if c.name.startswith(RELEVANT)]


def cluster(**inst: Any) -> tuple[ConfigBuilder, Instance]:
    b = instance_cluster(nodes=2)
    vm = instance_with_disks(b, "vm1", b.data.nodes["node-node2"], sizes=(1024, 512), **inst)
    return b, vm


def hook_envs(h: LuHarness, hpath: str, phase: str) -> list[tuple[str, dict[str, str]]]:
    return [(c.node, c.args[2]) for c in h.rpc.calls_of("hooks_runner")
            if c.args[:2] == (hpath, phase)]


# --- remove ---------------------------------------------------------------------------

def test_remove_stops_deletes_disks_and_forgets(make_harness: MakeHarness) -> None:
    b, _ = cluster(admin_state=AdminState.UP)
    h = make_harness(b)
    h.run_sync(OpInstanceRemove(instance_name="vm1", shutdown_timeout=10))
    assert node_calls(h) == ["instance_shutdown", "blockdev_remove", "blockdev_remove",
                             "file_storage_dir_remove"]
    assert h.rpc.calls_of("instance_shutdown")[0].args[1] == 10.0
    assert h.rpc.calls_of("file_storage_dir_remove")[0].args == (f"{STORAGE}/vm1",)
    assert h.data.instances == {}
    assert h.data.disks == {}
    assert [n for n, _ in hook_envs(h, "instance-remove", "pre")] == ["node1"]
    post = hook_envs(h, "instance-remove", "post")
    assert sorted(n for n, _ in post) == ["node1", "node2"]
    assert post[0][1]["GANETI_SHUTDOWN_TIMEOUT"] == "10"
    h.assert_persisted()


def test_remove_stops_on_a_failed_shutdown(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    h = make_harness(b)
    h.rpc.script("instance_shutdown", fail="hypervisor gone")
    expect_failure(h, OpInstanceRemove(instance_name="vm1"), OpExecError,
                   match="Could not shutdown instance vm1 on node node2: hypervisor gone")
    assert h.rpc.calls_of("blockdev_remove") == []
    h.run_sync(OpInstanceRemove(instance_name="vm1", ignore_failures=True))
    assert h.data.instances == {}
    assert "WARNING: can't shutdown instance: hypervisor gone" in h.feedback


def test_remove_keeps_the_instance_when_disks_stay(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    h = make_harness(b)
    h.rpc.script("blockdev_remove", fail="busy")
    expect_failure(h, OpInstanceRemove(instance_name="vm1"), OpExecError,
                   match="Can't remove instance's disks")
    assert "inst-vm1" in h.data.instances


# --- reinstall ------------------------------------------------------------------------

def test_reinstall_with_a_new_os(make_harness: MakeHarness) -> None:
    b, _ = cluster(osparams={"size": "small"})
    h = make_harness(b)
    h.run_sync(OpInstanceReinstall(instance_name="vm1", os_type="debootstrap+bookworm",
                                   osparams={"mirror": "local"}))
    assert node_calls(h) == ["instance_info", "os_validate", "blockdev_assemble",
                             "blockdev_assemble", "instance_os_add", "blockdev_shutdown",
                             "blockdev_shutdown"]
    validate = h.rpc.calls_of("os_validate")[0]
    assert validate.args[1] == "debootstrap+bookworm"
    assert validate.args[3] == {"size": "small", "mirror": "local"}
    os_add = h.rpc.calls_of("instance_os_add")[0]
    assert os_add.args[1] is True
    assert os_add.args[0].osparams == {"size": "small", "mirror": "local"}
    assert os_add.args[0].instance.os == "debootstrap+bookworm"
    assert h.data.instances["inst-vm1"].os == "debootstrap+bookworm"
    assert h.data.instances["inst-vm1"].osparams == {"size": "small"}
    assert "Changing OS scripts to 'debootstrap+bookworm'..." in h.feedback


def test_reinstall_failure_still_shuts_disks(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    h = make_harness(b)
    h.rpc.script("instance_os_add", fail="debootstrap failed")
    with pytest.raises(OpExecError, match="Could not install OS for instance 'vm1' on node"
                                          " 'node2': debootstrap failed"):
        h.run_sync(OpInstanceReinstall(instance_name="vm1"))
    assert node_calls(h)[-2:] == ["blockdev_shutdown", "blockdev_shutdown"]


@pytest.mark.parametrize(
    ("inst", "live", "op", "code", "match"),
    [
        pytest.param({"admin_state": AdminState.UP}, None, {}, ErrorCode.STATE,
                     "Instance 'vm1' is marked to be up, cannot reinstall", id="marked-up"),
        pytest.param({}, {"state": "running"}, {}, ErrorCode.STATE,
                     "Instance vm1 is running, cannot reinstall", id="running"),
        pytest.param({"template": DiskTemplate.DISKLESS, "sizes": ()}, None, {},
                     ErrorCode.INVAL, "Instance 'vm1' has no disks", id="diskless"),
        pytest.param({}, None, {"os_type": "nope"}, ErrorCode.INVAL,
                     "OS 'nope' not in supported OS list for node node2", id="unknown-os"),
    ],
)
def test_reinstall_prerequisites(
    make_harness: MakeHarness, inst: dict[str, Any], live: dict[str, Any] | None,
    op: dict[str, Any], code: ErrorCode, match: str,
) -> None:
    b = instance_cluster(nodes=2)
    instance_with_disks(b, "vm1", b.data.nodes["node-node2"], **inst)
    h = make_harness(b)
    h.rpc.script("instance_info", payload=live)
    h.rpc.script("os_validate", fn=lambda node, args: NodeResult.failure(
        node.name, "os_validate", f"OS '{args[1]}' not found"))
    expect_failure(h, OpInstanceReinstall(instance_name="vm1", **op), code=code, match=match)
    assert h.rpc.calls_of("instance_os_add") == []


# --- rename ---------------------------------------------------------------------------

def test_rename_moves_file_storage_and_runs_the_script(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    h = make_harness(b)
    assert h.run_sync(OpInstanceRename(instance_name="vm1", new_name="vm2",
                                       name_check=False, ip_check=False)) == "vm2"
    inst = h.data.instance_by_name("vm2")
    assert inst is not None
    assert inst.uuid == "inst-vm1"
    assert h.data.instance_by_name("vm1") is None
    disk = h.data.disks["disk-vm1-0"]
    assert disk.logical_id == ("loop", f"{STORAGE}/vm2/disk-vm1-0.file.disk0")
    assert h.rpc.calls_of("file_storage_dir_rename")[0].args == (f"{STORAGE}/vm1",
                                                                  f"{STORAGE}/vm2")
    rename = h.rpc.calls_of("instance_run_rename")[0]
    assert rename.args[1] == "vm1"
    assert rename.args[0].instance.name == "vm2"
    assert rename.args[0].disks[0].logical_id[1].startswith(f"{STORAGE}/vm2/")
    assert node_calls(h)[-3:] == ["instance_run_rename", "blockdev_shutdown",
                                  "blockdev_shutdown"]
    env = hook_envs(h, "instance-rename", "pre")[0][1]
    assert env["GANETI_INSTANCE_NEW_NAME"] == "vm2"
    h.assert_persisted()


def test_rename_script_failure_is_a_warning(make_harness: MakeHarness) -> None:
    b, _ = cluster(template=DiskTemplate.PLAIN)
    h = make_harness(b)
    h.rpc.script("instance_run_rename", fail="exit 3")
    h.run_sync(OpInstanceRename(instance_name="vm1", new_name="vm2", name_check=False,
                                ip_check=False))
    assert h.rpc.calls_of("file_storage_dir_rename") == []
    assert any("Could not run OS rename script for instance vm2" in line
               for line in h.feedback)


def test_rename_prerequisites(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    instance_with_disks(b, "vm3", b.data.nodes["node-node1"])
    h = make_harness(b)
    expect_failure(h, OpInstanceRename(instance_name="vm1", new_name="vm3", name_check=False,
                                       ip_check=False),
                   code=ErrorCode.EXISTS, match="Instance 'vm3' is already in the cluster")
    h.rpc.script("instance_info", payload={"state": "running"})
    expect_failure(h, OpInstanceRename(instance_name="vm1", new_name="vm4", name_check=False,
                                       ip_check=False),
                   code=ErrorCode.STATE, match="Instance vm1 is running, cannot rename")
    assert h.rpc.calls_of("file_storage_dir_rename") == []


def test_remove_tolerates_a_leftover_directory(make_harness: MakeHarness) -> None:
    b, _ = cluster()
    h = make_harness(b)
    h.rpc.script("file_storage_dir_remove", fail="directory not empty")
    h.run_sync(OpInstanceRemove(instance_name="vm1"))
    assert h.data.instances == {}
    assert any("Could not remove directory" in line for line in h.feedback)
