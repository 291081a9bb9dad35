"""An lxc instance on the real virtual cluster: a real container running the busybox OS.

Created with ``gnt-instance add -H lxc -o busybox+default`` (a file disk the OS fills
with a busybox system), then: its init runs in its own PID namespace as PID 1, the
console command reaches its shell, its memory comes from the cgroup and follows a
runtime change, reboot gives a new init, soft and forced stops end it and unmount
its disk; bad parameters are refused before anything runs. On shared storage the
container fails over to another node.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from corral.hypervisor.lxc.driver import REQUIRED_TOOLS
from corral.layout import NodeLayout
from tests.integration.conftest import LiveCluster

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="lxc containers need root here"),
    pytest.mark.skipif(any(shutil.which(t) is None for t in REQUIRED_TOOLS),
                       reason="Debian's lxc tools are not installed"),
]

NODE = "node1"
NAME = "lxc1"


def _node_root(live: LiveCluster, node: str) -> Path:
    return Path(next(n.root for n in live.vc.nodes if n.name == node))


def _lxc_path(live: LiveCluster) -> Path:
    return NodeLayout(_node_root(live, NODE)).run_dir / "lxc"


def _field(live: LiveCluster, fields: str) -> list[str]:
    result = live.gnt("gnt-instance", "list", "--no-headers", "--units=m", "-o", fields, NAME)
    assert result.code == 0, result.stderr
    return result.stdout.split()


def _init_pid(live: LiveCluster) -> int | None:
    out = subprocess.run(["lxc-info", "-n", NAME, "-P", str(_lxc_path(live)), "-p", "-H"],
                         capture_output=True, text=True, check=False)
    return int(out.stdout.split()[-1]) if out.returncode == 0 and out.stdout.strip() else None


def _mounted_below(path: Path) -> list[str]:
    prefix = str(path) + "/"
    with open("/proc/self/mountinfo") as fh:
        return [p for p in (line.split()[4] for line in fh) if p.startswith(prefix)]


def _assert_stopped(live: LiveCluster) -> None:
    assert _field(live, "status") == ["ADMIN_down"]
    assert _init_pid(live) is None
    assert _mounted_below(_lxc_path(live)) == []
    listed = subprocess.run(["lxc-ls", "-P", str(_lxc_path(live)), "--running", "-1"],
                            capture_output=True, text=True, check=True)
    assert NAME not in listed.stdout.split()


def _status_field(pid: int, name: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == name:
            return value.strip()
    return ""


def _console_text(command: list[str]) -> str:
    """Type one command into the console (``script`` gives lxc-console a terminal)."""
    # typed three times: input sent before lxc-console holds the terminal may be dropped
    feed = ("sleep 1; for i in 1 2 3; do printf 'echo marker-$((6*7))\\n'; sleep 1; done; "
            "printf '\\001q'")
    line = shlex.join(command)
    out = subprocess.run(["sh", "-c", f"({feed}) | script -qfec {shlex.quote(line)} /dev/null"],
                         capture_output=True, text=True, timeout=60, check=False)
    return out.stdout


def _check_real_container(live: LiveCluster) -> int:
    pid = _init_pid(live)
    assert pid is not None, "lxc-info knows no init of the instance"
    assert os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    assert _status_field(pid, "NSpid").split() == [str(pid), "1"]  # init is PID 1 inside
    assert Path(f"/proc/{pid}/comm").read_text().strip() == "init"
    assert Path(f"/proc/{pid}/root/etc/hostname").read_text().strip() == NAME  # the OS disk
    return pid


def test_lxc_instance_is_a_real_container(live: LiveCluster) -> None:
    added = live.gnt("gnt-instance", "add", "-t", "file", "--disk", "0:size=64M",
                     "-o", "busybox+default", "-H", "lxc", "-B", "maxmem=96,minmem=64",
                     "-n", NODE, NAME, timeout=180)
    assert added.code == 0, added.stderr
    try:
        assert _field(live, "status") == ["running"]
        pid = _check_real_container(live)
        assert _field(live, "oper_ram") == ["96"]  # the cgroup's memory limit

        shown = live.gnt("gnt-instance", "console", "--show-cmd", NAME)
        assert shown.code == 0, shown.stderr
        assert f"lxc-console -n {NAME} -P {_lxc_path(live)} -t 0" in shown.stdout
        command = ["lxc-console", "-n", NAME, "-P", str(_lxc_path(live)), "-t", "0"]
        assert "marker-42" in _console_text(command)

        assert live.gnt("gnt-instance", "modify", "-m", "64", NAME).code == 0
        assert _field(live, "oper_ram") == ["64"]

        assert live.gnt("gnt-instance", "reboot", NAME, timeout=180).code == 0
        assert _field(live, "status") == ["running"]
        assert _check_real_container(live) != pid

        assert live.gnt("gnt-instance", "shutdown", NAME, timeout=180).code == 0
        _assert_stopped(live)

        assert live.gnt("gnt-instance", "startup", NAME, timeout=180).code == 0
        _check_real_container(live)
        forced = live.gnt("gnt-instance", "shutdown", "--timeout=0", NAME, timeout=180)
        assert forced.code == 0, forced.stderr
        _assert_stopped(live)
    finally:
        assert live.gnt("gnt-instance", "remove", "-f", NAME, timeout=180).code == 0
    assert _mounted_below(_lxc_path(live)) == []


@pytest.mark.parametrize(("hvparam", "named"), [
    ("cpu_mask=0:1", "cpu_mask"),
    ("devices=c 1:3 rx", "devices"),
    ("drop_capabilities=sys_everything", "drop_capabilities"),
    ("extra_config=lxc.rootfs.path = /srv", "extra_config"),
    ("num_ttys=-2", "num_ttys"),
])
def test_bad_lxc_hvparams_are_refused(live: LiveCluster, hvparam: str, named: str) -> None:
    added = live.gnt("gnt-instance", "add", "-t", "diskless", "-o", "noop", "--no-nics",
                     "-H", f"lxc:{hvparam}", "-n", NODE, "--no-ip-check", "--no-name-check",
                     "lxcbad1")
    assert added.code != 0
    assert named in added.stderr + added.stdout
    listing = live.gnt("gnt-instance", "list", "--no-headers", "-o", "name")
    assert "lxcbad1" not in listing.stdout


def test_diskless_lxc_instance_is_refused_at_start(live: LiveCluster) -> None:
    added = live.gnt("gnt-instance", "add", "-t", "diskless", "-o", "noop", "--no-nics",
                     "-H", "lxc", "-n", NODE, "--no-ip-check", "--no-name-check", "lxcbad2")
    try:
        assert added.code != 0
        assert "diskless" in added.stderr + added.stdout
    finally:
        live.gnt("gnt-instance", "remove", "-f", "lxcbad2")
    assert _mounted_below(_lxc_path(live)) == []


def test_lxc_instance_fails_over_on_shared_storage(live: LiveCluster) -> None:
    name = "lxcm1"
    added = live.gnt("gnt-instance", "add", "-t", "sharedfile", "--disk", "0:size=64M",
                     "-o", "busybox+default", "-H", "lxc", "-n", NODE, name, timeout=180)
    assert added.code == 0, added.stderr
    target = NodeLayout(_node_root(live, "node2")).run_dir / "lxc"
    try:
        moved = live.gnt("gnt-instance", "failover", "-f", "-n", "node2", name, timeout=180)
        assert moved.code == 0, moved.stderr
        shown = live.gnt("gnt-instance", "list", "--no-headers", "-o", "pnode,status", name)
        assert shown.stdout.split() == ["node2", "running"]
        pid = subprocess.run(["lxc-info", "-n", name, "-P", str(target), "-p", "-H"],
                             capture_output=True, text=True, check=True).stdout.strip()
        assert Path(f"/proc/{pid}/root/etc/hostname").read_text().strip() == name
        assert _mounted_below(_lxc_path(live)) == []  # nothing left on node1
    finally:
        assert live.gnt("gnt-instance", "remove", "-f", name, timeout=180).code == 0
    assert _mounted_below(target) == []
