"""node_info: /proc parsing and the handler's payload."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from corral.backend.context import NodeContext
from corral.backend.node_info import memory_from_meminfo, node_info
from corral.hypervisor.linux import count_sockets, parse_meminfo
from corral.layout import NodeLayout
from tests.support.fake_rpc import wire

MEMINFO = """\
MemTotal:       24684092 kB
MemFree:        24530388 kB
MemAvailable:   20445192 kB
Buffers:             984 kB
Cached:            42968 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
"""

OLD_MEMINFO = """\
MemTotal:        2048000 kB
MemFree:          512000 kB
Buffers:          102400 kB
Cached:           409600 kB
"""

CPUINFO = """\
processor\t: 0
physical id\t: 0
core id\t\t: 0

processor\t: 1
physical id\t: 1
core id\t\t: 0

processor\t: 2
physical id\t: 1
core id\t\t: 1
"""


def test_parse_meminfo_values_in_kb() -> None:
    fields = parse_meminfo(MEMINFO)
    assert fields["MemTotal"] == 24684092
    assert fields["HugePages_Total"] == 0
    assert fields["Hugepagesize"] == 2048


def test_memory_uses_mem_available() -> None:
    mem = memory_from_meminfo(MEMINFO)
    assert (mem.total, mem.free, mem.dom0) == (24105, 19966, 24105 - 19966)


def test_memory_without_mem_available_counts_caches() -> None:
    mem = memory_from_meminfo(OLD_MEMINFO)
    assert (mem.total, mem.free, mem.dom0) == (2000, 1000, 1000)


def test_memory_needs_total() -> None:
    with pytest.raises(ValueError, match="MemTotal"):
        memory_from_meminfo("MemFree: 1 kB\n")


def test_cpu_sockets_and_numa_nodes() -> None:
    assert count_sockets(CPUINFO) == 2
    assert count_sockets("processor : 0\n") == 1


def test_handler_reports_host_storage_and_hypervisors(tmp_path: Path) -> None:
    ctx = NodeContext(layout=NodeLayout(tmp_path), node_name="node1")
    (tmp_path / "srv" / "storage").mkdir(parents=True)
    units = [
        ["file", "/srv/storage", {}],
        ["file", "/srv/missing", {}],
        ["lvm-vg", "xenvg", {}],
        ["nbd", "x", {}],
    ]
    info = wire(asyncio.run(node_info(ctx, units, [["fake", {}], ["kvm", {}]])))
    assert len(info["bootid"]) == 36
    assert 0 < info["memory_free"] <= info["memory_total"]
    assert info["memory_dom0"] == info["memory_total"] - info["memory_free"]
    assert info["cpu_total"] >= 1
    assert info["cpu_nodes"] >= 1
    assert info["cpu_sockets"] >= 1
    good, missing, lvm, unknown = info["storage"]
    assert good["type"] == "file"
    assert good["name"] == "/srv/storage"
    assert 0 <= good["storage_free"] <= good["storage_size"]
    assert missing["name"] == "/srv/missing"
    assert "Cannot get space" in missing["error"]
    assert lvm["name"] == "xenvg"
    assert "xenvg" in lvm["error"]  # no such volume group here (or no LVM tools at all)
    assert "Unknown storage type" in unknown["error"]
    assert info["hv"]["fake"]["memory_total"] == info["memory_total"]
    assert info["hv"]["fake"]["cpu_total"] == info["cpu_total"]
    assert "kvm" in info["hv"]  # described by its driver, or an error saying why not
