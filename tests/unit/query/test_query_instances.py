"""Instance queries: config fields, parameters, devices, live fields and status."""

from typing import Any

import pytest

from corral.objects import AdminState, AdminStateSource, DiskTemplate
from corral.query import (
    RS_NODATA,
    RS_NORMAL,
    RS_OFFLINE,
    RS_UNAVAIL,
    InstanceStatus,
    query,
    query_values,
)


@pytest.fixture
def pair(builder):
    return builder.node("node1.example.com"), builder.node("node2.example.com")


def one_row(builder: Any, fields: list[str], **ctx: Any) -> list[list[Any]]:
    row: list[list[Any]] = query("instance", fields, None, builder.context(**ctx))["data"][0]
    return row


def test_config_fields(builder, pair):
    n1, n2 = pair
    builder.instance("web1.example.com", n1, n2, disks=(1024, 2048), os="debian+default",
                     network_port=11000, tags=("t2", "t1"))
    fields = ["name", "os", "pnode", "snodes", "admin_state", "admin_up", "disk_template",
              "tags", "uuid", "serial_no", "network_port", "hypervisor", "pnode.group",
              "snodes.group"]
    assert query_values("instance", fields, None, builder.context()) == [[
        "web1.example.com", "debian+default", "node1.example.com", ["node2.example.com"],
        "up", True, "drbd", ["t1", "t2"], "inst-web1.example.com", 1, 11000, "fake",
        "default", ["default"],
    ]]


def test_titles(builder):
    result = query("instance", ["name", "pnode", "snodes", "status", "oper_state", "oper_ram",
                                "oper_vcpus", "vcpus", "be/memory", "be/maxmem", "disk.sizes",
                                "nic.macs", "admin_state", "disk_usage", "nic.count"],
                   None, builder.context())
    assert [f["title"] for f in result["fields"]] == [
        "Instance", "Primary_node", "Secondary_Nodes", "Status", "Running", "Memory", "VCPUs",
        "ConfigVCPUs", "ConfigMaxMem", "ConfigMaxMem", "Disk_sizes", "NIC_MACs",
        "InstanceState", "DiskUsage", "NICs",
    ]
    assert result["fields"][8]["name"] == "be/memory"


def test_backend_and_hypervisor_parameters(builder, pair):
    builder.set_cluster(
        beparams={"default": {"maxmem": 512, "minmem": 256, "vcpus": 1, "auto_balance": True}},
        hvparams={"kvm": {"acpi": True, "kernel_path": "/vmlinuz", "migration_port": 8102}},
        os_hvp={"debian": {"kvm": {"kernel_path": "/debian-kernel"}}},
    )
    builder.instance("i1", pair[0], os="debian", hypervisor="kvm",
                     beparams={"maxmem": 2048, "vcpus": 4}, hvparams={"acpi": False})
    fields = ["be/maxmem", "be/memory", "vcpus", "be/minmem", "be/auto_balance", "hv/acpi",
              "hv/kernel_path", "hv/cdrom_image_path", "custom_beparams", "hvparams"]
    row = one_row(builder, fields)
    assert row[:8] == [
        [RS_NORMAL, 2048], [RS_NORMAL, 2048], [RS_NORMAL, 4], [RS_NORMAL, 256],
        [RS_NORMAL, True], [RS_NORMAL, False], [RS_NORMAL, "/debian-kernel"],
        [RS_UNAVAIL, None],
    ]
    assert row[8] == [RS_NORMAL, {"maxmem": 2048, "vcpus": 4}]
    assert row[9][1] == {"acpi": False, "kernel_path": "/debian-kernel"}


def test_disks_and_usage(builder, pair):
    n1, n2 = pair
    builder.instance("drbd", n1, n2, disks=(1024, 512))
    builder.instance("plain", n1, disks=(100,))
    builder.instance("diskless", n1)
    fields = ["name", "disk.count", "disk.sizes", "disk_usage", "disk.size/0", "sda_size",
              "sdb_size", "disk.uuids"]
    result = query("instance", fields, None, builder.context())
    assert result["data"][0] == [
        [RS_NORMAL, "diskless"], [RS_NORMAL, 0], [RS_NORMAL, []], [RS_NORMAL, 0],
        [RS_UNAVAIL, None], [RS_UNAVAIL, None], [RS_UNAVAIL, None], [RS_NORMAL, []],
    ]
    assert [v for _s, v in result["data"][1]] == [
        "drbd", 2, [1024, 512], 1024 + 512 + 2 * 128, 1024, 1024, 512,
        ["disk-drbd-0", "disk-drbd-1"],
    ]
    assert [v for _s, v in result["data"][2]][:4] == ["plain", 1, [100], 100]


def test_nics(builder, pair):
    builder.set_cluster(nicparams={"default": {"mode": "bridged", "link": "br0", "vlan": ""}})
    net = builder.network("net1", "10.0.0.0/24")
    nics = (
        builder.nic(1, ip="10.0.0.5", network=net.uuid),
        builder.nic(2, nicparams={"mode": "routed", "link": "rt1"}),
        builder.nic(3, nicparams={"mode": "openvswitch", "link": "sw", "vlan": "100"}),
    )
    builder.instance("i1", pair[0], nics=nics)
    fields = ["nic.count", "nic.macs", "nic.ips", "nic.modes", "nic.links", "nic.bridges",
              "nic.vlans", "nic.networks", "nic.networks.names", "ip", "mac", "bridge",
              "nic_mode", "nic.link/1", "nic.bridge/1", "nic.ip/1", "nic.mac/7", "nic.vlan/2"]
    assert one_row(builder, fields) == [
        [RS_NORMAL, 3],
        [RS_NORMAL, ["aa:00:00:00:00:01", "aa:00:00:00:00:02", "aa:00:00:00:00:03"]],
        [RS_NORMAL, ["10.0.0.5", None, None]],
        [RS_NORMAL, ["bridged", "routed", "openvswitch"]],
        [RS_NORMAL, ["br0", "rt1", "sw"]],
        [RS_NORMAL, ["br0", None, None]],
        [RS_NORMAL, [None, None, "100"]],
        [RS_NORMAL, [net.uuid, None, None]],
        [RS_NORMAL, ["net1", None, None]],
        [RS_NORMAL, "10.0.0.5"],
        [RS_NORMAL, "aa:00:00:00:00:01"],
        [RS_NORMAL, "br0"],
        [RS_NORMAL, "bridged"],
        [RS_NORMAL, "rt1"],
        [RS_UNAVAIL, None],
        [RS_UNAVAIL, None],
        [RS_UNAVAIL, None],
        [RS_NORMAL, "100"],
    ]


def test_live_fields(builder, pair):
    n1, _n2 = pair
    down = builder.node("down")
    off = builder.node("off", offline=True)
    builder.instance("a-running", n1)
    builder.instance("b-stopped", n1, admin_state=AdminState.DOWN)
    builder.instance("c-nodedown", down)
    builder.instance("d-offline", off)
    ctx = {"instance_live": {"inst-a-running": {"state": "running", "memory": 512, "vcpus": 2}},
           "offline_or_failed": {down.uuid, off.uuid}}
    result = query("instance", ["oper_state", "oper_ram", "oper_vcpus"], None,
                   builder.context(**ctx))
    assert result["data"] == [
        [[RS_NORMAL, True], [RS_NORMAL, 512], [RS_NORMAL, 2]],
        [[RS_NORMAL, False], [RS_UNAVAIL, None], [RS_UNAVAIL, None]],
        [[RS_NODATA, None], [RS_NODATA, None], [RS_NODATA, None]],
        [[RS_NODATA, None], [RS_OFFLINE, None], [RS_OFFLINE, None]],
    ]


STATUS_CASES = [
    # (admin state, source, live state or None, found on primary, node state, user shutdown)
    ("up", "admin", "running", True, "ok", False, InstanceStatus.RUNNING),
    ("down", "admin", None, True, "ok", False, InstanceStatus.ADMIN_DOWN),
    ("down", "admin", "shutdown", True, "ok", False, InstanceStatus.ADMIN_DOWN),
    ("offline", "admin", None, True, "ok", False, InstanceStatus.ADMIN_OFFLINE),
    ("down", "admin", "running", True, "ok", False, InstanceStatus.ERROR_UP),
    ("up", "admin", None, True, "ok", False, InstanceStatus.ERROR_DOWN),
    ("up", "admin", "shutdown", True, "ok", False, InstanceStatus.ERROR_DOWN),
    ("up", "admin", "running", False, "ok", False, InstanceStatus.ERROR_WRONGNODE),
    ("up", "admin", None, True, "failed", False, InstanceStatus.ERROR_NODEDOWN),
    ("up", "admin", None, True, "offline", False, InstanceStatus.ERROR_NODEOFFLINE),
    ("up", "admin", "shutdown", True, "ok", True, InstanceStatus.USER_DOWN),
    ("down", "user", None, True, "ok", True, InstanceStatus.USER_DOWN),
    ("down", "user", None, True, "ok", False, InstanceStatus.ADMIN_DOWN),
]


@pytest.mark.parametrize(
    ("admin", "source", "state", "on_primary", "node_state", "user_shutdown", "expected"),
    STATUS_CASES,
    ids=[f"{c[-1].value}-{i}" for i, c in enumerate(STATUS_CASES)],
)
def test_status(builder, pair, admin, source, state, on_primary, node_state, user_shutdown,
                expected):
    builder.set_cluster(enabled_user_shutdown=user_shutdown)
    _n1, n2 = pair
    pnode = builder.node("pnode", offline=node_state == "offline")
    builder.instance("i1", pnode, admin_state=AdminState(admin),
                     admin_state_source=AdminStateSource(source))
    live: dict[str, Any] = {}
    if state is not None:
        live["inst-i1"] = {"state": state, "memory": 128, "vcpus": 1,
                           "node": pnode.uuid if on_primary else n2.uuid}
    failed = {pnode.uuid} if node_state != "ok" else set()
    row = one_row(builder, ["status"], instance_live=live, offline_or_failed=failed)
    assert row == [[RS_NORMAL, expected.value]]


def test_user_shutdown_on_kvm_needs_hvparam(builder, pair):
    builder.set_cluster(enabled_user_shutdown=True, hvparams={"kvm": {"user_shutdown": False}})
    builder.instance("i1", pair[0], hypervisor="kvm")
    live = {"inst-i1": {"state": "shutdown"}}
    assert one_row(builder, ["status"], instance_live=live) == [[RS_NORMAL, "ERROR_down"]]
    builder.instance("i1", pair[0], hypervisor="kvm", hvparams={"user_shutdown": True})
    assert one_row(builder, ["status"], instance_live=live) == [[RS_NORMAL, "USER_down"]]


def test_filter_on_pnode_and_status(builder, pair):
    n1, n2 = pair
    builder.instance("i1", n1)
    builder.instance("i2", n2)
    builder.instance("i3", n1, admin_state=AdminState.DOWN, template=DiskTemplate.DISKLESS)
    rows = query_values("instance", ["name", "status"],
                        ["&", ["=", "pnode", "node1"], ["=", "status", "ADMIN_down"]],
                        builder.context())
    assert rows == [["i3", "ADMIN_down"]]
