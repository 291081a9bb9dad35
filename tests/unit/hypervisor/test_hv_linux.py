"""Pure /proc parsers and the process-root scan (against a fake /proc tree)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from corral.hypervisor.linux import (
    count_sockets,
    is_below,
    memory_mib,
    mounts_below,
    parse_mountinfo,
    parse_stat_cpu_ticks,
    process_cpu_seconds,
    processes_below,
    read_host,
)

MEMINFO = """MemTotal:        8126412 kB
MemFree:         1234567 kB
MemAvailable:    4063206 kB
Buffers:          100000 kB
HugePages_Total:       0
"""

MOUNTINFO = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:25 / /run rw,nosuid shared:5 - tmpfs tmpfs rw
40 30 7:0 / /run/corral/chroot/web1 rw,relatime shared:9 - ext4 /dev/loop0 rw
41 40 0:50 / /run/corral/chroot/web1/proc rw - proc proc rw
42 40 0:51 / /run/corral/chroot/web1/dev rw - tmpfs chroot-dev rw
43 42 0:52 / /run/corral/chroot/web1/dev/pts rw - devpts devpts rw
44 40 0:53 / /run/corral/chroot/web1/mnt/with\\040space rw - tmpfs tmpfs rw
45 30 7:1 / /run/corral/chroot/web10 rw - ext4 /dev/loop1 rw
46 40 0:54 / /run/corral/chroot/web1/proc rw - tmpfs over rw
"""


def test_memory_from_meminfo() -> None:
    assert memory_mib(MEMINFO) == (7935, 3967)


def test_memory_without_memavailable_sums_free_buffers_cached() -> None:
    text = "MemTotal: 2048000 kB\nMemFree: 512000 kB\nBuffers: 0 kB\nCached: 512000 kB\n"
    assert memory_mib(text) == (2000, 1000)


def test_meminfo_without_total_is_an_error() -> None:
    with pytest.raises(ValueError, match="MemTotal"):
        memory_mib("MemFree: 1 kB\n")


def test_sockets() -> None:
    cpuinfo = "processor\t: 0\nphysical id\t: 0\n\nprocessor\t: 1\nphysical id\t: 1\n"
    assert count_sockets(cpuinfo) == 2
    assert count_sockets("processor : 0\n") == 1


def test_mountinfo_is_parsed_with_escapes() -> None:
    entries = parse_mountinfo(MOUNTINFO + "garbage line\n")
    assert len(entries) == 9
    assert entries[2].mount_point == "/run/corral/chroot/web1"
    assert entries[2].source == "/dev/loop0"
    assert entries[2].fs_type == "ext4"
    assert entries[6].mount_point == "/run/corral/chroot/web1/mnt/with space"


def test_mounts_below_deepest_first_stacked_last_mounted_first() -> None:
    points = mounts_below(parse_mountinfo(MOUNTINFO), "/run/corral/chroot/web1")
    assert points == [
        "/run/corral/chroot/web1/mnt/with space",
        "/run/corral/chroot/web1/dev/pts",
        "/run/corral/chroot/web1/proc",   # the tmpfs stacked on proc (mount 46) first
        "/run/corral/chroot/web1/dev",
        "/run/corral/chroot/web1/proc",
        "/run/corral/chroot/web1",
    ]


@pytest.mark.parametrize(("path", "root", "below"), [
    ("/a/b", "/a/b", True),
    ("/a/b/c", "/a/b", True),
    ("/a/bc", "/a/b", False),
    ("/a", "/a/b", False),
    ("/a/b/c", "/a/b/", True),
], ids=str)
def test_is_below(path: str, root: str, below: bool) -> None:
    assert is_below(path, root) is below


def test_stat_cpu_ticks_survive_odd_command_names() -> None:
    line = "1234 (my (odd) proc) S 1 1234 1234 0 -1 4194560 100 0 0 0 70 30 0 0 20 0 1 0"
    assert parse_stat_cpu_ticks(line) == 100


def test_processes_below_reads_roots(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    for pid, root in (("10", "/run/corral/chroot/web1"), ("11", "/run/corral/chroot/web1/x"),
                      ("12", "/"), ("13", "/run/corral/chroot/web10"),
                      ("14", "/run/corral/chroot/web1 (deleted)")):
        (proc / pid).mkdir(parents=True)
        os.symlink(root, proc / pid / "root")
    (proc / "self").mkdir()
    (proc / "15").mkdir()  # a process that hides its root
    found = processes_below("/run/corral/chroot/web1", proc)
    assert sorted(found) == [(10, "/run/corral/chroot/web1"),
                             (11, "/run/corral/chroot/web1/x"),
                             (14, "/run/corral/chroot/web1")]


def test_cpu_seconds_of_this_process() -> None:
    assert process_cpu_seconds([os.getpid(), 999_999_999]) > 0


def test_read_host_figures() -> None:
    host = read_host()
    assert host.memory_total > 0
    assert 0 <= host.memory_free <= host.memory_total
    assert host.cpu_total >= 1
    assert host.cpu_nodes >= 1
