"""Instance and OS opcodes: Ganeti's fields and defaults, round trips, checks naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from corral.errors import ParameterError
from corral.opcodes import REGISTRY, decode_opcode, encode_opcode
from corral.opcodes.instance import (
    OpInstanceCreate,
    OpInstanceGrowDisk,
    OpInstanceReboot,
    OpInstanceRecreateDisks,
    OpInstanceRename,
    OpInstanceSetParams,
    OpInstanceShutdown,
)
from corral.opcodes.os import OpOsDiagnose

NEW_OP_IDS = [
    "OP_INSTANCE_CREATE", "OP_INSTANCE_REINSTALL", "OP_INSTANCE_REMOVE", "OP_INSTANCE_RENAME",
    "OP_INSTANCE_STARTUP", "OP_INSTANCE_SHUTDOWN", "OP_INSTANCE_REBOOT", "OP_INSTANCE_CONSOLE",
    "OP_INSTANCE_ACTIVATE_DISKS", "OP_INSTANCE_DEACTIVATE_DISKS", "OP_INSTANCE_RECREATE_DISKS",
    "OP_INSTANCE_QUERY_DATA", "OP_INSTANCE_SET_PARAMS", "OP_INSTANCE_GROW_DISK", "OP_OS_DIAGNOSE",
]

CREATE = {"OP_ID": "OP_INSTANCE_CREATE", "instance_name": "inst1.example.com",
          "disk_template": "file", "disks": [{"size": 1024, "mode": "rw"}], "nics": [{}],
          "os_type": "busybox+default", "pnode": "node1"}


def _create(**changes: Any) -> dict[str, Any]:
    data = dict(CREATE)
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_registered_with_logical_units() -> None:
    for op_id in NEW_OP_IDS:
        assert op_id in REGISTRY
        assert REGISTRY[op_id].WITH_LU is True, op_id


def test_create_defaults_are_ganeti_3_0s() -> None:
    op = decode_opcode(CREATE)
    assert isinstance(op, OpInstanceCreate)
    assert (op.mode, op.start, op.wait_for_sync, op.ip_check, op.name_check) == (
        "create", True, True, True, True)
    assert (op.conflicts_check, op.no_install, op.source_shutdown_timeout, op.compress) == (
        True, None, 120, "none")
    assert (op.hvparams, op.beparams, op.osparams, op.tags) == ({}, {}, {}, [])
    assert op.os_type == "busybox+default"
    assert op.summary() == "INSTANCE_CREATE(inst1.example.com)"


@pytest.mark.parametrize(
    "data",
    [
        _create(nics=[{"mac": "aa:00:00:12:34:56", "ip": None, "mode": "bridged",
                       "link": "br0", "vlan": "", "name": "eth0", "network": "net1"}],
                hypervisor="kvm", hvparams={"acpi": False}, beparams={"maxmem": 512},
                tags=["web"]),
        {"OP_ID": "OP_INSTANCE_REMOVE", "instance_name": "i1", "ignore_failures": True},
        {"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": "i1", "hvparams": {"acpi": True},
         "startup_paused": True},
        {"OP_ID": "OP_INSTANCE_SHUTDOWN", "instance_name": "i1", "timeout": 5,
         "admin_state_source": "user"},
        {"OP_ID": "OP_INSTANCE_REBOOT", "instance_name": "i1", "reboot_type": "full"},
        {"OP_ID": "OP_INSTANCE_REINSTALL", "instance_name": "i1", "os_type": "noop",
         "osparams": {"x": "1"}},
        {"OP_ID": "OP_INSTANCE_RENAME", "instance_name": "i1", "new_name": "i2"},
        {"OP_ID": "OP_INSTANCE_SET_PARAMS", "instance_name": "i1",
         "disks": [["add", -1, {"size": 1024}], ["remove", 1, {}], ["modify", "data", {}]],
         "nics": [["add", {"mac": "auto"}], [0, {"link": "br1"}]], "offline": True,
         "runtime_mem": 256},
        {"OP_ID": "OP_INSTANCE_GROW_DISK", "instance_name": "i1", "disk": 0, "amount": 1024},
        {"OP_ID": "OP_INSTANCE_ACTIVATE_DISKS", "instance_name": "i1"},
        {"OP_ID": "OP_INSTANCE_DEACTIVATE_DISKS", "instance_name": "i1", "force": True},
        {"OP_ID": "OP_INSTANCE_RECREATE_DISKS", "instance_name": "i1",
         "disks": [[0, {"size": 2048}]], "nodes": ["node2"]},
        {"OP_ID": "OP_INSTANCE_RECREATE_DISKS", "instance_name": "i1", "disks": [0, 2]},
        {"OP_ID": "OP_INSTANCE_CONSOLE", "instance_name": "i1"},
        {"OP_ID": "OP_INSTANCE_QUERY_DATA", "instances": ["i1"], "static": True},
        {"OP_ID": "OP_OS_DIAGNOSE", "output_fields": ["name", "valid", "variants"]},
    ],
    ids=["create", "remove", "startup", "shutdown", "reboot", "reinstall", "rename",
         "set-params", "grow-disk", "activate", "deactivate", "recreate-params",
         "recreate-indices", "console", "query-data", "os-diagnose"],
)
def test_round_trip(data: dict[str, Any]) -> None:
    op = decode_opcode(data)
    encoded = encode_opcode(op)
    assert encoded["OP_ID"] == data["OP_ID"]
    assert {k: encoded[k] for k in data} == data
    assert decode_opcode(encoded) == op


def test_defaults_of_life_cycle_opcodes() -> None:
    shutdown = decode_opcode({"OP_ID": "OP_INSTANCE_SHUTDOWN", "instance_name": "i1"})
    assert isinstance(shutdown, OpInstanceShutdown)
    assert (shutdown.timeout, shutdown.force, shutdown.no_remember) == (120, False, False)
    reboot = decode_opcode({"OP_ID": "OP_INSTANCE_REBOOT", "instance_name": "i1",
                            "reboot_type": "soft"})
    assert isinstance(reboot, OpInstanceReboot)
    assert (reboot.shutdown_timeout, reboot.ignore_secondaries) == (120, False)
    grow = decode_opcode({"OP_ID": "OP_INSTANCE_GROW_DISK", "instance_name": "i1", "disk": 1,
                          "amount": 0})
    assert isinstance(grow, OpInstanceGrowDisk)
    assert (grow.wait_for_sync, grow.absolute) == (True, False)
    assert grow.summary() == "INSTANCE_GROW_DISK(i1)"
    rename = decode_opcode({"OP_ID": "OP_INSTANCE_RENAME", "instance_name": "a",
                            "new_name": "b"})
    assert rename.summary() == "INSTANCE_RENAME"


def test_import_modes_need_no_os_or_disk_sizes() -> None:
    op = decode_opcode(_create(mode="import", os_type=None, disks=[{}], src_node="node2",
                               src_path="/srv/export/inst1"))
    assert isinstance(op, OpInstanceCreate)
    assert op.mode == "import"


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (_create(bogus=1), "bogus"),
        (_create(disks=[{"size": "big"}]), r"disks\[0\]\.size"),
        (_create(disks=[{"mode": "rw"}]), r"disks\[0\]: missing disk size"),
        (_create(disks=[{"size": 1, "mode": "rx"}]), r"disks\[0\]\.mode"),
        (_create(disks=[{"size": 1}, {"adopt": "lv1"}]), "either all disks are adopted"),
        (_create(disks=[5]), r"disks\[0\]: Expected `object`"),
        (_create(nics=[{"mac": "zz:00"}]), r"nics\[0\]\.mac"),
        (_create(nics=[{}, {"colour": "red"}]), r"nics\[1\]\.colour: unknown NIC parameter"),
        (_create(nics=[{"mode": "nat"}]), r"nics\[0\]\.mode"),
        (_create(os_type=None), "os_type"),
        (_create(name_check=False), "ip_check"),
        (_create(iallocator="hail"), "iallocator"),
        (_create(mode="clone"), "mode"),
        (_create(hypervisor="vmware"), "hypervisor"),
        (_create(disk_template="zfs"), "disk_template"),
        (_create(file_driver="nfs"), "file_driver"),
        (_create(mode="remote-import", os_type=None), "source_handshake"),
        (_create(tags=[""]), "tags"),
        (_create(instance_name=""), "instance_name"),
        ({"OP_ID": "OP_INSTANCE_REBOOT", "instance_name": "i1"}, "reboot_type"),
        ({"OP_ID": "OP_INSTANCE_REBOOT", "instance_name": "i1", "reboot_type": "warm"},
         "reboot_type"),
        ({"OP_ID": "OP_INSTANCE_SHUTDOWN", "instance_name": "i1", "timeout": -1}, "timeout"),
        ({"OP_ID": "OP_INSTANCE_SHUTDOWN", "instance_name": "i1",
          "admin_state_source": "robot"}, "admin_state_source"),
        ({"OP_ID": "OP_INSTANCE_RENAME", "instance_name": "a", "new_name": "b",
          "name_check": False}, "ip_check"),
        ({"OP_ID": "OP_INSTANCE_GROW_DISK", "instance_name": "i", "disk": 16, "amount": 1},
         "disk"),
        ({"OP_ID": "OP_INSTANCE_GROW_DISK", "instance_name": "i", "disk": 0, "amount": -1},
         "amount"),
        ({"OP_ID": "OP_INSTANCE_SET_PARAMS", "instance_name": "i",
          "disks": [["grow", 0, {}]]}, r"disks\[0\]: unknown action"),
        ({"OP_ID": "OP_INSTANCE_SET_PARAMS", "instance_name": "i",
          "disks": [["add", -1, {}]]}, r"disks\[0\]: missing disk size"),
        ({"OP_ID": "OP_INSTANCE_SET_PARAMS", "instance_name": "i",
          "nics": [["modify", 0, {"speed": "10G"}]]}, r"nics\[0\]\.speed"),
        ({"OP_ID": "OP_INSTANCE_SET_PARAMS", "instance_name": "i", "nics": [["add"]]},
         r"nics\[0\]: expected \[action"),
        ({"OP_ID": "OP_INSTANCE_SET_PARAMS", "instance_name": "i",
          "nics": [["grow", {}]]}, r"nics\[0\]: expected 'add', 'remove' or an index"),
        ({"OP_ID": "OP_INSTANCE_SET_PARAMS", "instance_name": "i", "runtime_mem": 0},
         "runtime_mem"),
        ({"OP_ID": "OP_INSTANCE_RECREATE_DISKS", "instance_name": "i",
          "disks": [0, [1, {}]]}, "disks: give either disk indices"),
        ({"OP_ID": "OP_INSTANCE_RECREATE_DISKS", "instance_name": "i", "disks": [20]},
         r"disks\[0\]: invalid disk index"),
        ({"OP_ID": "OP_OS_DIAGNOSE", "output_fields": ["name", "colour"]}, "colour"),
        ({"OP_ID": "OP_OS_DIAGNOSE"}, "output_fields"),
    ],
    ids=["unknown-field", "disk-size-type", "disk-no-size", "disk-mode", "adopt-mixed",
         "disk-not-dict", "nic-mac", "nic-unknown-key", "nic-mode", "no-os", "ip-without-name",
         "iallocator-and-pnode", "mode", "hypervisor", "template", "file-driver",
         "remote-import", "empty-tag", "empty-name", "reboot-missing", "reboot-type",
         "timeout", "admin-source", "rename-checks", "disk-index", "amount", "mod-action",
         "mod-add-size", "mod-nic-key", "mod-shape", "mod-old-shape", "runtime-mem",
         "recreate-mixed", "recreate-index", "os-field", "os-fields-missing"],
)
def test_bad_input_is_refused_naming_the_field(data: dict[str, Any], needle: str) -> None:
    with pytest.raises(ParameterError, match=needle):
        decode_opcode(data)


def test_direct_construction_checks_too() -> None:
    with pytest.raises(ValueError, match=r"nics\[0\]\.mac"):
        OpInstanceCreate(instance_name="i", disks=[], nics=[{"mac": "nope"}], os_type="x")
    with pytest.raises(ValueError, match="ip_check"):
        OpInstanceRename(instance_name="a", new_name="b", name_check=False)
    op = OpInstanceSetParams(instance_name="i", disks=[["attach", "shared0", {}]])
    assert op.disks == [["attach", "shared0", {}]]
    assert OpInstanceRecreateDisks(instance_name="i").disks == []
    assert OpOsDiagnose(output_fields=["name"]).names == []
