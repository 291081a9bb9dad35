"""gnt-os list, diagnose, info and modify."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from corral.cli import gnt_os
from corral.opcodes import decode_opcode

if TYPE_CHECKING:
    from tests.unit.cli.conftest import FakeLuxi, Runner


def _sent(luxi: FakeLuxi) -> dict[str, Any]:
    (op,) = luxi.submitted()
    decode_opcode(op)
    return {k: v for k, v in op.items() if k not in ("reason", "debug_level")}


def test_list_valid_names_with_variants(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(1, [[["busybox", True, []], ["broken", False, []],
                  ["debootstrap", True, ["bookworm", "trixie"]]]])
    code, out, err = run(gnt_os.main, "list")
    assert (code, err) == (0, "")
    assert out == "Name\nbusybox\ndebootstrap+bookworm\ndebootstrap+trixie\n"
    assert _sent(luxi) == {"OP_ID": "OP_OS_DIAGNOSE", "output_fields": ["name", "valid",
                                                                        "variants"],
                           "names": []}


def test_list_no_headers(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(1, [[["noop", True, None]]])
    assert run(gnt_os.main, "list", "--no-headers") == (0, "noop\n", "")


def test_list_takes_no_arguments(run: Runner, luxi: FakeLuxi) -> None:
    assert run(gnt_os.main, "list", "x") == (1, "", "Error: Command list expects no arguments\n")
    assert luxi.calls == []


NODE_STATUS = {
    "node2": [["/srv/ganeti/os/debootstrap", True, "", ["bookworm"], [["dhcp", "use DHCP"]],
               [20]],
              ["/usr/share/ganeti/os/debootstrap", False, "missing create script", [], [],
               [20], True]],
    "node10": [["/srv/ganeti/os/debootstrap", True, "", ["bookworm"],
                [["dhcp", "use DHCP"]], [15, 20], False]],
    "node1": [],
}


def test_diagnose(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(1, [[
        ["busybox", True, [], {"node1": [["/srv/ganeti/os/busybox", True, "", [], [], [10], True]]},
         False, False],
        ["debootstrap", False, ["bookworm"], NODE_STATUS, True, False],
    ]])
    code, out, _ = run(gnt_os.main, "diagnose")
    assert code == 1
    assert out.splitlines() == [
        "OS: busybox [global status: valid]",
        "  Node: node1, status: valid (path: /srv/ganeti/os/busybox) [API versions: 10]"
        " [trusted]",
        "",
        "OS: debootstrap [global status: partial valid] [hidden]",
        "  Variants: [bookworm]",
        "  Node: node2, status: valid (path: /srv/ganeti/os/debootstrap) [API versions: 20]"
        " [variants: bookworm] [parameters: dhcp] [trusted]",
        "    [hidden] path: /usr/share/ganeti/os/debootstrap, status: invalid - missing create"
        " script",
        "  Node: node10, status: valid (path: /srv/ganeti/os/debootstrap) [API versions: 15,"
        " 20] [variants: bookworm] [parameters: dhcp] [untrusted]",
        "  Node: node1, status: OS not found",
        "",
    ]
    assert _sent(luxi)["output_fields"] == gnt_os.DIAGNOSE_FIELDS


def test_diagnose_all_valid_exits_zero(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(1, [[["noop", True, [], {"n1": [["/os/noop", True, "", [], [], []]]}, False,
                   True]]])
    code, out, _ = run(gnt_os.main, "diagnose")
    assert code == 0
    assert out.splitlines()[:2] == [
        "OS: noop [global status: valid] [blacklisted]",
        "  Node: n1, status: valid (path: /os/noop) [no API versions declared] [trusted]"]


def test_info(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(1, [[
        ["busybox", True, ["tiny"], [["size", "root size"]], [20, 15], False, False],
        ["broken", False, [], [], [], False, True],
    ]])
    code, out, _ = run(gnt_os.main, "info", "busybox", "nothere")
    assert code == 0
    assert out.splitlines() == [
        "busybox:", "  - valid: True", "  - hidden: False", "  - blacklisted: False",
        "  - API versions:", "    - 15", "    - 20", "  - variants:", "    - tiny",
        "  - parameters:", "    - size: root size", "  - trusted: True", "", "nothere: ",
    ]
    assert _sent(luxi)["output_fields"] == gnt_os.INFO_FIELDS


def test_info_without_oses(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(1, [[]])
    assert run(gnt_os.main, "info") == (1, "", "Can't get the OS list\n")


def test_modify(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(1, [None])
    code, _, _ = run(gnt_os.main, "modify", "-H", "kvm:kernel_args=quiet", "-O", "size=big",
                     "--hidden", "yes", "--blacklisted", "no", "busybox")
    assert code == 0
    assert _sent(luxi) == {
        "OP_ID": "OP_CLUSTER_SET_PARAMS", "os_hvp": {"busybox": {"kvm": {"kernel_args": "quiet"}}},
        "osparams": {"busybox": {"size": "big"}}, "hidden_os": [["add", "busybox"]],
        "blacklisted_os": [["remove", "busybox"]], "dry_run": False}


def test_modify_needs_a_change(run: Runner, luxi: FakeLuxi) -> None:
    assert run(gnt_os.main, "modify", "busybox") == (
        1, "", "At least one of OS parameters or hypervisor parameters must be passed\n")
    assert luxi.calls == []
