"""gnt-instance add, modify, remove, rename, disks: the exact opcodes sent, and bad input."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from corral.cli import gnt_instance, instance_setup
from corral.opcodes import decode_opcode

if TYPE_CHECKING:
    from tests.unit.cli.conftest import FakeLuxi, Runner

GENERIC = ("reason", "debug_level")
ADD = ("add", "-t", "file", "-o", "busybox", "-n", "node1", "-s", "1G", "inst1")


def _sent(luxi: FakeLuxi) -> dict[str, Any]:
    """The one opcode submitted, checked against the opcode definitions, without generics."""
    (op,) = luxi.submitted()
    decode_opcode(op)
    return {k: v for k, v in op.items() if k not in GENERIC}


CREATE_BASE = {
    "OP_ID": "OP_INSTANCE_CREATE", "instance_name": "inst1", "mode": "create",
    "disk_template": "file", "disks": [{"size": 1024}], "nics": [{}], "pnode": "node1",
    "os_type": "busybox", "force_variant": False, "no_install": False, "start": True,
    "wait_for_sync": True, "ip_check": True, "name_check": True, "conflicts_check": True,
    "hvparams": {}, "beparams": {}, "osparams": {}, "tags": [], "identify_defaults": False,
    "ignore_ipolicy": False, "opportunistic_locking": False, "dry_run": False,
}


def test_add_minimal(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(3, [["node1"]], logs=[[1, [1700000000, 0], "message", "* creating disks"]])
    code, out, err = run(gnt_instance.main, *ADD)
    assert (code, err) == (0, "")
    assert out.endswith(" * creating disks\n")
    assert _sent(luxi) == CREATE_BASE
    generic = luxi.submitted()[0]
    assert generic["reason"][-1][:2] == ["gnt:client:gnt-instance", "add"]


def test_add_every_option(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(3, [["node1", "node2"]])
    code, _, err = run(
        gnt_instance.main, "add", "-t", "drbd", "-o", "debootstrap+bookworm", "--force-variant",
        "-n", "node1:node2", "--disk", "0:size=10G,mode=rw,name=root",
        "--disk", "1:size=512M,vg=xenvg,spindles=2", "--net", "0:mac=aa:00:00:11:22:33,ip=none",
        "--net", "1:mode=routed,link=100,vlan=.5", "-H", "kvm:kernel_path=/boot/vmlinuz,acpi=no",
        "-B", "maxmem=1G,vcpus=2,auto_balance=yes", "-O", "dhcp=yes",
        "--os-parameters-secret", "password=s3cret", "--no-start", "--no-install",
        "--no-wait-for-sync", "--no-ip-check", "--no-name-check", "--no-conflicts-check",
        "--file-storage-dir", "sub", "--file-driver", "loop", "--tags", "web,prod",
        "--ignore-ipolicy", "-g", "rack1", "--dry-run", "--priority", "high", "inst1")
    assert (code, err) == (0, "")
    assert _sent(luxi) == {
        **CREATE_BASE, "disk_template": "drbd", "os_type": "debootstrap+bookworm",
        "force_variant": True, "pnode": "node1", "snode": "node2",
        "disks": [{"size": 10240, "mode": "rw", "name": "root"},
                  {"size": 512, "vg": "xenvg", "spindles": 2}],
        "nics": [{"mac": "aa:00:00:11:22:33", "ip": "none"},
                 {"mode": "routed", "link": "100", "vlan": ".5"}],
        "hypervisor": "kvm", "hvparams": {"kernel_path": "/boot/vmlinuz", "acpi": False},
        "beparams": {"maxmem": 1024, "vcpus": 2, "auto_balance": True},
        "osparams": {"dhcp": "yes"}, "osparams_secret": {"password": "s3cret"},
        "start": False, "no_install": True, "wait_for_sync": False, "ip_check": False,
        "name_check": False, "conflicts_check": False, "file_storage_dir": "sub",
        "file_driver": "loop", "tags": ["web", "prod"], "ignore_ipolicy": True,
        "group_name": "rack1", "dry_run": True, "priority": -10,
    }


def test_add_diskless_without_nics_by_iallocator(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(3, [["node3"]])
    code, _, _ = run(gnt_instance.main, "add", "-t", "diskless", "-o", "noop", "--no-nics",
                     "-I", "hail", "-H", "fake", "inst2")
    assert code == 0
    sent = _sent(luxi)
    assert (sent["disks"], sent["nics"], sent["iallocator"]) == ([], [], "hail")
    assert (sent["hypervisor"], sent["hvparams"]) == ("fake", {})
    assert "pnode" not in sent


def test_add_sparse_disk_indices_and_adoption(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(3, [["node1"]])
    assert run(gnt_instance.main, "add", "-t", "plain", "-o", "noop", "-n", "node1",
               "--disk", "1:adopt=lv1", "--disk", "0:adopt=lv0", "inst3")[0] == 0
    assert _sent(luxi)["disks"] == [{"adopt": "lv0", "size": 0}, {"adopt": "lv1", "size": 0}]


def test_add_submit_only(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("SubmitJob", 17)
    code, out, err = run(gnt_instance.main, *ADD[:-1], "--submit", "--print-jobid", "inst1")
    assert (code, out, err) == (0, "17\n", "JobID: 17\n")
    assert luxi.methods() == ["SubmitJob"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("add", "-t", "file", "-n", "n1", "-s", "1G", "i"),
         "Error: No guest OS specified; use -o <os>[+variant]"),
        (("add", "-t", "file", "-o", "x", "--disk", "0:size=1Q", "i"),
         "Error: Invalid disk size for disk 0: Invalid unit 'Q' in '1Q' (use M, G or T)"),
        (("add", "-t", "file", "-o", "x", "--disk", "0:size=big", "i"),
         "Error: Invalid disk size for disk 0: Invalid size 'big'"),
        (("add", "-t", "file", "-o", "x", "--disk", "0:mode=rw", "i"),
         "Error: Missing size or adoption source for disk 0"),
        (("add", "-t", "file", "-o", "x", "--disk", "zero:size=1G", "i"),
         "Error: Invalid disk index passed: 'zero'"),
        (("add", "-t", "file", "-o", "x", "--disk", "0:size=1G,adopt=lv", "i"),
         "Error: Only one of 'size' and 'adopt' allowed (disk 0)"),
        (("add", "-t", "file", "-o", "x", "-s", "1G", "--disk", "0:size=1G", "i"),
         "Error: Please use either the '--disk' or '-s' option"),
        (("add", "-t", "file", "-o", "x", "i"), "Error: No disk information specified"),
        (("add", "-t", "diskless", "-o", "x", "-s", "1G", "i"),
         "Error: Diskless instance but disk information passed"),
        (("add", "-t", "file", "-o", "x", "-s", "lots", "i"),
         "gnt-instance add: error: argument -s/--os-size: Invalid size 'lots'"),
        (("add", "-t", "file", "-o", "x", "-s", "1G", "-H", "kvm:foo", "i"),
         "Parameter Error: Unknown parameter 'foo'"),
        (("add", "-t", "file", "-o", "x", "-s", "1G", "-H", "kvm:acpi=maybe", "i"),
         "Parameter Error: 'acpi' (value maybe) is not a valid boolean"),
        (("add", "-t", "file", "-o", "x", "-s", "1G", "-H", "kvm:serial_speed=fast", "i"),
         "Parameter Error: 'serial_speed' (value fast) is not a valid integer"),
        (("add", "-t", "file", "-o", "x", "-s", "1G", "-H", "vmware:acpi=no", "i"),
         "Error: Unknown hypervisor 'vmware'"),
        (("add", "-t", "file", "-o", "x", "-s", "1G", "-B", "colour=red", "i"),
         "Parameter Error: Unknown parameter 'colour'"),
        (("add", "-t", "file", "-o", "x", "-s", "1G", "-B", "vcpus=many", "i"),
         "Parameter Error: Invalid value for backend parameter 'vcpus'"),
        (("add", "-t", "file", "-o", "x", "-s", "1G", "--net", "0:speed=10G", "i"),
         "Parameter Error: Unknown parameter 'speed'"),
        (("add", "-t", "file", "-o", "x", "-s", "1G", "--net", "x:mac=auto", "i"),
         "Error: Invalid NIC index passed: 'x'"),
        (("add", "-t", "file", "-o", "x", "-s", "1G", "--no-name-check", "i"),
         "Error: Cannot do IP address check without a name check"),
        (("add", "-t", "zfs", "-o", "x", "-s", "1G", "i"),
         "gnt-instance add: error: argument -t/--disk-template: invalid choice: 'zfs'"),
        (("add", "-o", "x", "-s", "1G"), "Error: Command add expects 1 argument(s)"),
    ],
    ids=["no-os", "bad-unit", "bad-size", "no-size", "bad-index", "size-and-adopt",
         "disk-and-s", "no-disks", "diskless-with-disk", "bad-s", "hv-no-value", "hv-bool",
         "hv-int", "unknown-hv", "be-unknown", "be-type", "nic-key", "nic-index", "name-check",
         "bad-template", "no-name"],
)
def test_add_bad_input(run: Runner, luxi: FakeLuxi, argv: tuple[str, ...], message: str) -> None:
    code, out, err = run(gnt_instance.main, *argv)
    assert code != 0
    assert out == ""
    assert err.startswith(message)
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err
    assert luxi.calls == []


MODIFY_BASE = {"OP_ID": "OP_INSTANCE_SET_PARAMS", "instance_name": "inst1", "nics": [],
               "disks": [], "hotplug": False, "hotplug_if_possible": False, "hvparams": {},
               "beparams": {}, "force_variant": False, "force": False, "wait_for_sync": True,
               "conflicts_check": True, "ignore_ipolicy": False, "dry_run": False}


@pytest.mark.parametrize(
    ("argv", "changes"),
    [
        (("-B", "maxmem=2G,vcpus=default"), {"beparams": {"maxmem": 2048, "vcpus": "default"}}),
        (("-B", "memory=512"), {"beparams": {"maxmem": 512, "minmem": 512}}),
        (("-H", "kernel_args=ro console=ttyS0,acpi=DEFAULT,usb_devices=a b"),
         {"hvparams": {"kernel_args": "ro console=ttyS0", "acpi": "default",
                       "usb_devices": "a,b"}}),
        (("-O", "dhcp=no", "-o", "busybox+tiny", "--force-variant"),
         {"osparams": {"dhcp": "no"}, "os_name": "busybox+tiny", "force_variant": True}),
        (("--disk", "add:size=2G,mode=ro"), {"disks": [["add", -1, {"size": 2048, "mode": "ro"}]]}),
        (("--disk", "1:remove"), {"disks": [["remove", 1, {}]]}),
        (("--disk", "0:mode=ro"), {"disks": [["modify", 0, {"mode": "ro"}]]}),
        (("--disk", "2:add,size=1G"), {"disks": [["add", 2, {"size": 1024}]]}),
        (("--disk", "data:modify,name=data2"), {"disks": [["modify", "data", {"name": "data2"}]]}),
        (("--disk", "remove"), {"disks": [["remove", -1, {}]]}),
        (("--net", "add:mode=bridged,link=br1"),
         {"nics": [["add", -1, {"mode": "bridged", "link": "br1"}]]}),
        (("--net", "0:remove"), {"nics": [["remove", 0, {}]]}),
        (("--net", "0:mac=aa:00:00:00:00:01"),
         {"nics": [["modify", 0, {"mac": "aa:00:00:00:00:01"}]]}),
        (("--offline",), {"offline": True}),
        (("--online",), {"offline": False}),
        (("--runtime-memory", "1.5G"), {"runtime_mem": 1536}),
        (("-t", "drbd", "-n", "node2"), {"disk_template": "drbd", "remote_node": "node2"}),
        (("--new-primary", "node3", "--submit"), {"pnode": "node3"}),
    ],
    ids=["be", "be-memory", "hv", "os", "disk-add", "disk-remove", "disk-mode", "disk-add-at",
         "disk-by-name", "disk-remove-last", "net-add", "net-remove", "net-mac", "offline",
         "online", "runtime-mem", "template", "new-primary"],
)
def test_modify_opcodes(run: Runner, luxi: FakeLuxi, argv: tuple[str, ...],
                        changes: dict[str, Any]) -> None:
    luxi.job(5, [[]])
    code, _, _ = run(gnt_instance.main, "modify", *argv, "inst1")
    assert code == 0
    assert _sent(luxi) == {**MODIFY_BASE, **changes}


def test_modify_prints_changes(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(5, [[["be/maxmem", 2048], ["disk/1", "add:size=1024,mode=rw"]]])
    code, out, _ = run(gnt_instance.main, "modify", "-B", "maxmem=2G", "inst1")
    assert code == 0
    assert out.splitlines() == [
        "Modified instance inst1", " - be/maxmem -> 2048", " - disk/1 -> add:size=1024,mode=rw",
        instance_setup.RESTART_NOTE]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "Please give at least one of the parameters."),
        (("--offline", "--online"), "Error: Only one of --offline and --online may be given"),
        (("-t", "drbd"), "Changing the disk template to a mirrored one requires specifying a"
                         " secondary node"),
        (("--disk", "add:mode=rw"), "Error: Missing required parameter 'size'"),
        (("--disk", "add:size=3X"), "Error: Invalid disk size for disk -1: Invalid unit 'X'"),
        (("--disk", "0:remove,size=1G"), "Error: Not accepting parameters on removal"),
        (("--disk", "0:add,remove"), "Error: Cannot add and remove at the same time"),
        (("--net", "0:modify,remove"), "Error: Cannot modify and add/remove at the same time"),
        (("--net", "0:colour=red"), "Parameter Error: Unknown parameter 'colour'"),
        (("-H", "bogus=1"), "Parameter Error: Unknown parameter 'bogus'"),
        (("-m", "lots"), "gnt-instance modify: error: argument -m/--runtime-memory:"),
    ],
    ids=["nothing", "offline-online", "drbd-no-node", "add-no-size", "add-bad-unit",
         "remove-params", "add-remove", "modify-remove", "nic-key", "hv-key", "runtime-mem"],
)
def test_modify_bad_input(run: Runner, luxi: FakeLuxi, argv: tuple[str, ...],
                          message: str) -> None:
    code, _, err = run(gnt_instance.main, "modify", *argv, "inst1")
    assert code == 1
    assert err.startswith(message)
    assert len(err.splitlines()) == 1
    assert luxi.calls == []


def test_modify_hotplug_nic_change_asks(run: Runner, luxi: FakeLuxi) -> None:
    code, _, err = run(gnt_instance.main, "modify", "--hotplug", "--net", "0:link=br2", "inst1")
    assert code == 1
    assert err.startswith("You are about to hot-modify a NIC.")
    assert luxi.calls == []
    luxi.job(5, [[]])
    assert run(gnt_instance.main, "modify", "--hotplug", "-f", "--net", "0:link=br2",
               "inst1")[0] == 0
    assert _sent(luxi)["hotplug"] is True


def test_remove_with_force(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(6, [None])
    code, _, _ = run(gnt_instance.main, "remove", "-f", "--ignore-failures",
                     "--shutdown-timeout", "30", "inst1")
    assert code == 0
    assert _sent(luxi) == {"OP_ID": "OP_INSTANCE_REMOVE", "instance_name": "inst1",
                           "ignore_failures": True, "shutdown_timeout": 30, "dry_run": False}


def test_remove_without_force_and_terminal_is_refused(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryInstances", [["inst1"]])
    code, _, err = run(gnt_instance.main, "remove", "inst1")
    assert code == 1
    assert err == ("This will remove the volumes of the instance inst1 (including mirrors),"
                   " thus removing all the data of the instance. Continue? (no terminal to"
                   " ask on; use --force)\n")
    assert luxi.methods() == ["QueryInstances"]
    assert luxi.args_of("QueryInstances") == [[["inst1"], ["name"], False]]


def test_remove_confirmed(run: Runner, luxi: FakeLuxi, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def yes(question: str) -> bool:
        asked.append(question)
        return True

    monkeypatch.setattr(gnt_instance, "ask_user", yes)
    luxi.on("QueryInstances", [["inst1.example.com"]])
    luxi.job(6, [None])
    assert run(gnt_instance.main, "remove", "inst1")[0] == 0
    assert len(asked) == 1
    assert "instance inst1 " in asked[0]
    assert _sent(luxi)["shutdown_timeout"] == 120


def test_remove_unknown_instance(run: Runner, luxi: FakeLuxi) -> None:
    luxi.fail("QueryInstances", "OpPrereqError", "Instance 'nope' not known", "unknown_entity")
    code, _, err = run(gnt_instance.main, "remove", "nope")
    assert code == 1
    assert err.endswith("Instance 'nope' not known\n")
    assert "SubmitJob" not in luxi.methods()


def test_rename(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(7, ["inst2.example.com"])
    code, out, _ = run(gnt_instance.main, "rename", "inst1", "inst2")
    assert (code, out) == (0, "Instance 'inst1' renamed to 'inst2.example.com'\n")
    assert _sent(luxi) == {"OP_ID": "OP_INSTANCE_RENAME", "instance_name": "inst1",
                           "new_name": "inst2", "ip_check": True, "name_check": True,
                           "dry_run": False}


def test_rename_without_name_check_asks(run: Runner, luxi: FakeLuxi) -> None:
    code, _, err = run(gnt_instance.main, "rename", "--no-name-check", "--no-ip-check", "a", "b")
    assert code == 1
    assert err.startswith("As you disabled the check of the DNS entry, please verify that 'b'")
    assert luxi.calls == []


def test_grow_disk(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(8, [None])
    assert run(gnt_instance.main, "grow-disk", "--absolute", "--no-wait-for-sync", "inst1",
               "1", "20G")[0] == 0
    assert _sent(luxi) == {"OP_ID": "OP_INSTANCE_GROW_DISK", "instance_name": "inst1",
                           "disk": 1, "amount": 20480, "wait_for_sync": False,
                           "absolute": True, "ignore_ipolicy": False, "dry_run": False}


@pytest.mark.parametrize(
    ("argv", "message"),
    [(("inst1", "one", "1G"), "Error: Invalid disk index: 'one'"),
     (("inst1", "0", "1Z"), "Error: Can't parse the given amount '1Z'")],
    ids=["index", "amount"],
)
def test_grow_disk_bad_input(run: Runner, luxi: FakeLuxi, argv: tuple[str, ...],
                             message: str) -> None:
    assert run(gnt_instance.main, "grow-disk", *argv) == (1, "", message + "\n")
    assert luxi.calls == []


def test_activate_disks_prints_devices(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(9, [[["node1", "disk/0", "/var/run/corral/instance-disks/inst1:0"]]])
    code, out, _ = run(gnt_instance.main, "activate-disks", "--wait-for-sync", "inst1")
    assert (code, out) == (0, "node1:disk/0:/var/run/corral/instance-disks/inst1:0\n")
    assert _sent(luxi) == {"OP_ID": "OP_INSTANCE_ACTIVATE_DISKS", "instance_name": "inst1",
                           "ignore_size": False, "wait_for_sync": True}


def test_deactivate_disks(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(9, [None])
    assert run(gnt_instance.main, "deactivate-disks", "-f", "inst1")[0] == 0
    assert _sent(luxi) == {"OP_ID": "OP_INSTANCE_DEACTIVATE_DISKS", "instance_name": "inst1",
                           "force": True, "dry_run": False}


def test_recreate_disks(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(9, [None])
    assert run(gnt_instance.main, "recreate-disks", "--disk", "0:size=2G", "--disk", "1",
               "-n", "node2:node3", "inst1")[0] == 0
    assert _sent(luxi) == {"OP_ID": "OP_INSTANCE_RECREATE_DISKS", "instance_name": "inst1",
                           "disks": [[0, {"size": 2048}], [1, {}]],
                           "nodes": ["node2", "node3"], "dry_run": False}


def test_recreate_disks_node_and_iallocator(run: Runner, luxi: FakeLuxi) -> None:
    code, _, err = run(gnt_instance.main, "recreate-disks", "-n", "n2", "-I", "hail", "inst1")
    assert (code, luxi.calls) == (1, [])
    assert err == "Error: At most one of either --nodes or --iallocator can be passed\n"


def test_instance_tags(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryTags", ["b", "a"])
    assert run(gnt_instance.main, "list-tags", "inst1") == (0, "a\nb\n", "")
    assert luxi.args_of("QueryTags") == [["instance", "inst1"]]
    luxi.job(2, [None])
    assert run(gnt_instance.main, "add-tags", "inst1", "web")[0] == 0
    assert _sent(luxi) == {"OP_ID": "OP_TAGS_SET", "kind": "instance", "name": "inst1",
                           "tags": ["web"]}
