"""gnt-instance info, list, list-fields and console: what the user sees."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from corral.cli import gnt_instance, instance_args

if TYPE_CHECKING:
    from tests.unit.cli.conftest import FakeLuxi, Runner

CTIME, MTIME = 1700000000, 1700000100


def _local(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def _instance(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "inst1.example.com", "uuid": "5f1c-uuid", "serial_no": 4, "ctime": CTIME,
        "mtime": MTIME, "config_state": "up", "run_state": "up", "pnode": "node1",
        "pnode_group_name": "default", "pnode_group_uuid": "g-uuid", "snodes": [],
        "snodes_group_names": [], "snodes_group_uuids": [], "os": "busybox", "osparams": {},
        "os_instance": {}, "os_actual": {"size": "small"}, "network_port": 11000,
        "hypervisor": "kvm", "hv_instance": {"acpi": False},
        "hv_actual": {"acpi": False, "kernel_path": "/boot/vmlinuz"},
        "be_instance": {"maxmem": 256}, "be_actual": {"maxmem": 256, "minmem": 128, "vcpus": 1},
        "nics": [[None, "nic-uuid", None, "aa:00:00:12:34:56", "bridged", "br0", "", None,
                  None]],
        "disk_template": "file",
        "disks": [{"iv_name": "disk/0", "dev_type": "file",
                   "logical_id": ["loop", "/srv/corral/inst1/disk0"],
                   "pstatus": ["/srv/corral/inst1/disk0", None, None, None, None, False, 1],
                   "sstatus": None, "children": [], "mode": "rw", "size": 1024, "name": None,
                   "uuid": "disk-uuid", "spindles": None}],
        "admin_state": "up",
    }
    data.update(changes)
    return data


def _query_data(luxi: FakeLuxi, result: dict[str, Any]) -> None:
    luxi.job(3, [result])


def test_info_layout(run: Runner, luxi: FakeLuxi) -> None:
    _query_data(luxi, {"inst1.example.com": _instance()})
    code, out, err = run(gnt_instance.main, "info", "inst1")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "- Instance name: inst1.example.com",
        "  UUID: 5f1c-uuid",
        "  Serial number: 4",
        f"  Creation time: {_local(CTIME)}",
        f"  Modification time: {_local(MTIME)}",
        "  State: configured to be up, actual state is up",
        "  Nodes: ",
        "    - primary: node1",
        "      group: default (UUID g-uuid)",
        "    - secondaries: ",
        "  Operating system: busybox",
        "  Operating system parameters: ",
        "    size: default (small)",
        "  Allocated network port: 11000",
        "  Hypervisor: kvm",
        "  Hypervisor parameters: ",
        "    acpi: False",
        "    kernel_path: default (/boot/vmlinuz)",
        "  Back-end parameters: ",
        "    maxmem: 256",
        "    memory: default (256)",
        "    minmem: default (128)",
        "    vcpus: default (1)",
        "  NICs: ",
        "    - nic/0: ",
        "      MAC: aa:00:00:12:34:56",
        "      IP: None",
        "      mode: bridged",
        "      link: br0",
        "      vlan: ",
        "      network: None",
        "      UUID: nic-uuid",
        "      name: None",
        "  Disk template: file",
        "  Disks: ",
        "    - disk/0: file, size 1.0G",
        "      access mode: rw",
        "      logical_id: ['loop', '/srv/corral/inst1/disk0']",
        "      on primary: /srv/corral/inst1/disk0 (N/A:N/A)",
        "      name: None",
        "      UUID: disk-uuid",
    ]
    op = luxi.submitted()[0]
    assert (op["OP_ID"], op["instances"], op["static"], op["use_locking"]) == (
        "OP_INSTANCE_QUERY_DATA", ["inst1"], False, True)


def test_info_static_drbd_with_secondary_and_vnc(run: Runner, luxi: FakeLuxi) -> None:
    drbd = {"iv_name": "disk/0", "dev_type": "drbd", "logical_id": ["n1", "n2", 11000],
            "drbd_info": {"primary_node": "node1", "primary_minor": 0,
                          "secondary_node": "node2", "secondary_minor": 3, "port": 11000,
                          "secret": "s3"},
            "pstatus": ["/dev/drbd0", 147, 0, 45.5, 30, True, 1],
            "sstatus": ["/dev/drbd3", 147, 3, None, None, False, 4], "mode": "rw",
            "size": 2048, "name": "root", "uuid": "d-uuid", "spindles": 1,
            "children": [{"dev_type": "plain", "logical_id": ["xenvg", "data"], "size": 2048,
                          "pstatus": None, "sstatus": None, "children": [], "name": None,
                          "uuid": "c-uuid"}]}
    inst = _instance(run_state=None, snodes=["node2"], snodes_group_names=["default"],
                     snodes_group_uuids=["g-uuid"], disk_template="drbd", disks=[drbd],
                     hv_actual={"vnc_bind_address": "0.0.0.0"}, hv_instance={},
                     network_port=5901)
    _query_data(luxi, {"inst1.example.com": inst})
    code, out, _ = run(gnt_instance.main, "info", "-s", "inst1")
    assert code == 0
    lines = out.splitlines()
    assert "  State: configured to be up" in lines
    assert "    - secondaries: node2 (group default, group UUID g-uuid)" in lines
    assert "  console connection: vnc to node1:5901 (display 1)" in lines
    disk_at = lines.index("    - disk/0: drbd, size 2.0G")
    assert lines[disk_at + 1:] == [
        "      spindles: 1",
        "      access mode: rw",
        "      nodeA: node1, minor=0",
        "      nodeB: node2, minor=3",
        "      port: 11000",
        "      auth key: s3",
        "      on primary: /dev/drbd0 (147:0) *RECOVERING* 45.50%, ETA 30s, status *DEGRADED*",
        "      on secondary: /dev/drbd3 (147:3) in sync, status ok *MISSING DISK*",
        "      name: root",
        "      UUID: d-uuid",
        "      child devices: ",
        "        - child 0: plain, size 2.0G",
        "          logical_id: xenvg/data",
        "          name: None",
        "          UUID: c-uuid",
    ]
    op = luxi.submitted()[0]
    assert (op["static"], op["use_locking"]) == (True, False)


@pytest.mark.parametrize(
    ("argv", "err"),
    [((), "No instance selected. Please pass in --all if you want to query all instances.\n"
          "Note that this can take a long time on a big cluster.\n"),
     (("--all", "x"), "Cannot use --all if you specify instance names.\n")],
    ids=["nothing", "all-and-names"],
)
def test_info_selection_errors(run: Runner, luxi: FakeLuxi, argv: tuple[str, ...],
                               err: str) -> None:
    assert run(gnt_instance.main, "info", *argv) == (1, "", err)
    assert luxi.calls == []


def test_info_all_without_instances(run: Runner, luxi: FakeLuxi) -> None:
    _query_data(luxi, {})
    assert run(gnt_instance.main, "info", "--all") == (1, "No instances.\n", "")
    assert luxi.submitted()[0]["instances"] == []


FIELDS = [
    {"name": "name", "title": "Instance", "kind": "text", "doc": "Instance name"},
    {"name": "hypervisor", "title": "Hypervisor", "kind": "text", "doc": "Hypervisor name"},
    {"name": "os", "title": "OS", "kind": "text", "doc": "Operating system"},
    {"name": "pnode", "title": "Primary_node", "kind": "text", "doc": "Primary node"},
    {"name": "status", "title": "Status", "kind": "text", "doc": "Instance status"},
    {"name": "oper_ram", "title": "Memory", "kind": "unit", "doc": "Actual memory usage"},
]
ROWS = [
    [[0, "inst1.example.com"], [0, "kvm"], [0, "busybox"], [0, "node1"], [0, "running"],
     [0, 256]],
    [[0, "inst2.example.com"], [0, "chroot"], [0, "busybox"], [0, "node2"],
     [0, "ADMIN_down"], [2, None]],
]


def test_list_default_fields(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("Query", {"fields": FIELDS, "data": ROWS})
    code, out, err = run(gnt_instance.main, "list")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "Instance          Hypervisor OS      Primary_node Status     Memory",
        "inst1.example.com kvm        busybox node1        running      256M",
        "inst2.example.com chroot     busybox node2        ADMIN_down      ?",
    ]
    assert luxi.args_of("Query") == [["instance", [f["name"] for f in FIELDS], None]]


def test_list_fields_names_separator_units(run: Runner, luxi: FakeLuxi) -> None:
    fields = [{"name": "name", "title": "Instance", "kind": "text"},
              {"name": "snodes", "title": "Secondary_Nodes", "kind": "other"},
              {"name": "oper_state", "title": "Running", "kind": "bool"},
              {"name": "disk_usage", "title": "DiskUsage", "kind": "unit"}]
    luxi.on("Query", {"fields": fields, "data": [
        [[0, "inst1"], [0, ["node2", "node3"]], [0, True], [0, 3072]]]})
    code, out, _ = run(gnt_instance.main, "list", "-o", "name,snodes,oper_state,disk_usage",
                       "--separator", "|", "--units", "g", "--no-headers", "inst1", "web*")
    assert (code, out) == (0, "inst1|node2,node3|Y|3.0\n")
    _what, names, qfilter = luxi.args_of("Query")[0]
    assert names == ["name", "snodes", "oper_state", "disk_usage"]
    assert qfilter == ["|", ["==", "name", "inst1"], ["=~", "name", r"^web[^.]*(\..*)?$"]]


def test_list_fields(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryFields", {"fields": FIELDS[4:5]})
    code, out, _ = run(gnt_instance.main, "list-fields", "status")
    assert code == 0
    assert out.splitlines() == ["Name   Type Title  Description",
                                "status Text Status Instance status"]
    assert luxi.args_of("QueryFields") == [["instance", ["status"]]]


SOCKET_CONSOLE = {"instance": "inst1", "kind": "socket", "host": "127.0.0.1", "port": None,
                  "user": None, "command": ["corral-console", "--node", "node1", "inst1 s"],
                  "message": None}


def test_console_show_cmd(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(4, [SOCKET_CONSOLE])
    code, out, err = run(gnt_instance.main, "console", "--show-cmd", "inst1")
    assert (code, out, err) == (0, "corral-console --node node1 'inst1 s'\n", "")
    op = luxi.submitted()[0]
    assert (op["OP_ID"], op["instance_name"]) == ("OP_INSTANCE_CONSOLE", "inst1")


def test_console_socket_execs_the_command(run: Runner, luxi: FakeLuxi,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    executed: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(os, "execvp",
                        lambda path, argv: executed.append((path, list(argv))))
    luxi.job(4, [SOCKET_CONSOLE])
    assert run(gnt_instance.main, "console", "inst1") == (0, "", "")
    assert executed == [("corral-console", ["corral-console", "--node", "node1", "inst1 s"])]


def test_console_command_missing(run: Runner, luxi: FakeLuxi,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(path: str, argv: list[str]) -> None:
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(os, "execvp", missing)
    luxi.job(4, [SOCKET_CONSOLE])
    assert run(gnt_instance.main, "console", "inst1") == (
        1, "", "Connection to console of instance inst1 failed: cannot run corral-console:"
               " No such file or directory\n")


@pytest.mark.parametrize(
    ("console", "out"),
    [({"instance": "i1", "kind": "msg", "message": "Instance i1 is paused"},
      "Instance i1 is paused\n"),
     ({"instance": "i1", "kind": "vnc", "host": "node1", "port": 5902, "display": 2},
      "Instance i1 has VNC listening on node1:5902 (display 2), URL <vnc://node1:5902/>\n"),
     ({"instance": "i1", "kind": "spice", "host": "192.0.2.1", "port": 6000},
      "Instance i1 has SPICE listening on 192.0.2.1:6000\n"),
     ({"instance": "i1", "kind": "ssh", "host": "node1", "port": 22, "user": "root",
       "command": ["xl", "console", "i1"]},
      "ssh -oEscapeChar=none -oBatchMode=yes -oHashKnownHosts=no -t -t -p 22 root@node1"
      " 'xl console i1'\n")],
    ids=["message", "vnc", "spice", "ssh"],
)
def test_console_kinds(run: Runner, luxi: FakeLuxi, console: dict[str, Any], out: str) -> None:
    luxi.job(4, [console])
    assert run(gnt_instance.main, "console", "--show-cmd", "i1") == (0, out, "")


def test_console_unknown_kind(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(4, [{"instance": "i1", "kind": "telepathy"}])
    assert run(gnt_instance.main, "console", "i1") == (1, "", "Unknown console type 'telepathy'\n")


def test_console_of_stopped_instance(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(4, [["OpExecError", ["Instance i1 is not running, can't get console"]]],
             status="error")
    code, _, err = run(gnt_instance.main, "console", "i1")
    assert code == 1
    assert err == ("Failure: command execution error:\n"
                   "Instance i1 is not running, can't get console\n")


def test_hvparam_table_covers_every_corral_hypervisor_parameter() -> None:
    from corral.hypervisor.params import TABLES

    kinds = {bool: "bool", int: "int", str: "str"}
    for hv, table in TABLES.items():
        for name, spec in table.items():
            assert instance_args.HVPARAM_TYPES.get(name) == kinds[type(spec.default)], (
                hv, name)
    assert set(instance_args.HYPERVISORS) == {str(kind) for kind in TABLES}


@pytest.mark.parametrize("module", ["gnt_instance", "gnt_os"])
def test_tools_stay_light(module: str, tmp_path: Path) -> None:
    code = (f"import sys; from corral.cli.{module} import main; main(['list']);"
            " main(['info', 'x']); print('\\n'.join(sorted(sys.modules)))")
    env = dict(os.environ, CORRAL_LUXI=str(tmp_path / "absent.sock"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=True)
    assert "Traceback" not in proc.stderr
    heavy = ("msgspec", "aiohttp", "asyncio", "corral.objects", "corral.opcodes", "dataclasses")
    loaded = [m for m in proc.stdout.split() if any(m == h or m.startswith(h + ".")
                                                    for h in heavy)]
    assert loaded == []


def test_console_on_another_machine_goes_through_ssh() -> None:
    from corral.cli.instance_console import console_argv

    remote = {**SOCKET_CONSOLE, "host": "192.0.2.77"}  # TEST-NET-1: not this machine
    argv = console_argv(remote)
    assert argv[0] == "ssh"
    assert argv[-2:] == ["192.0.2.77", "corral-console --node node1 'inst1 s'"]


def test_ssh_console_on_this_machine_runs_directly() -> None:
    from corral.cli.instance_console import console_argv

    local = {"instance": "c1", "kind": "ssh", "host": "127.0.0.12", "user": "root",
             "command": ["chroot", "/x", "/bin/sh"]}
    assert console_argv(local) == ["chroot", "/x", "/bin/sh"]
