"""Instance policies on a real virtual cluster: shown by Corral's and Debian's (Ganeti 3.0's
own) ``gnt-cluster info``/``gnt-group info``, set with ``--ipolicy-*``, and enforced."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.integration.conftest import LiveCluster, RunResult

GANETI_LIB = Path("/usr/share/ganeti/3.0")


def ganeti_tool(live: LiveCluster, tool: str, *args: str) -> RunResult:
    """Run Ganeti's own (Debian's) ``tool`` against the cluster's LUXI socket.

    Ganeti's virtual-cluster variables move its paths under a root directory, where its
    query socket is a link to Corral's LUXI socket.
    """
    # Ganeti wants the root's last component to be the host name.
    root = Path(tempfile.mkdtemp(prefix="ganeti-root-")) / live.vc.master.name
    socket_dir = root / "var/run/ganeti/socket"
    socket_dir.mkdir(parents=True)
    (root / "var/log/ganeti").mkdir(parents=True)
    (socket_dir / "ganeti-query").symlink_to(live.vc.luxi_socket)
    (socket_dir / "ganeti-master").symlink_to(live.vc.luxi_socket)
    env = {**os.environ, "PYTHONPATH": str(GANETI_LIB), "GANETI_ROOTDIR": str(root),
           "GANETI_HOSTNAME": live.vc.master.name}
    proc = subprocess.run(["/usr/bin/python3", str(GANETI_LIB / tool), *args],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    return RunResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.mark.skipif(not (GANETI_LIB / "gnt-cluster").exists(), reason="ganeti-3.0 not installed")
def test_ganetis_own_info_commands_show_the_policy(live: LiveCluster) -> None:
    cluster = ganeti_tool(live, "gnt-cluster", "info")
    assert cluster.code == 0, cluster.stderr + cluster.stdout
    assert "Instance policy - limits for instances:" in cluster.stdout
    assert "bounds specs:" in cluster.stdout
    assert "vcpu-ratio: 4.0" in cluster.stdout
    group = ganeti_tool(live, "gnt-group", "info", "default")
    assert group.code == 0, group.stderr + group.stdout
    assert "bounds specs:" in group.stdout
    assert "vcpu-ratio: default (4.0)" in group.stdout


def test_policy_is_set_shown_and_enforced(live: LiveCluster) -> None:
    specs = ("cpu-count=1,disk-count=0,disk-size=4,memory-size=4,nic-count=0,spindle-use=0",
             "cpu-count=8,disk-count=16,disk-size=1048576,memory-size=512,nic-count=8,"
             "spindle-use=12")
    modified = live.gnt("gnt-group", "modify", "--ipolicy-bounds-specs",
                        f"min:{specs[0]}/max:{specs[1]}", "--ipolicy-vcpu-ratio", "8",
                        "default")
    assert modified.code == 0, modified.stderr
    try:
        info = live.gnt("gnt-group", "info", "default")
        assert "memory-size: 512" in info.stdout
        assert "vcpu-ratio: 8.0" in info.stdout
        add = ("gnt-instance", "add", "-t", "diskless", "-o", "noop", "-H", "fake",
               "--no-nics", "-n", "node1", "--no-ip-check", "--no-name-check", "--no-start",
               "-B", "memory=1024")
        refused = live.gnt(*add, "policy1")
        assert refused.code != 0
        assert ("violates policy: memory-size value 1024 is not in range [4, 512]"
                in refused.stderr + refused.stdout)
        accepted = live.gnt(*add, "--ignore-ipolicy", "policy1")
        assert accepted.code == 0, accepted.stderr
        verify = live.gnt("gnt-cluster", "verify")
        assert "instance policy1: memory-size value 1024 is not in range [4, 512]" in (
            verify.stdout + verify.stderr)
        assert live.gnt("gnt-instance", "remove", "-f", "policy1").code == 0
    finally:
        reset = live.gnt("gnt-group", "modify", "--ipolicy-bounds-specs", "default",
                         "--ipolicy-vcpu-ratio", "default", "default")
        assert reset.code == 0, reset.stderr
    cluster = live.gnt("gnt-cluster", "modify", "--ipolicy-std-specs", "memory-size=64")
    assert cluster.code == 0, cluster.stderr
    shown = live.gnt("gnt-cluster", "info")
    assert "Instance policy - limits for instances:" in shown.stdout


def test_show_ispecs_cmd_recreates_the_policy(live: LiveCluster) -> None:
    """The printed command lines carry the specs the cluster and its groups have."""
    shown = live.gnt("gnt-cluster", "show-ispecs-cmd")
    assert shown.code == 0, shown.stderr
    line = shown.stdout.strip()
    assert line.startswith("gnt-cluster init --ipolicy-std-specs ")
    assert " --ipolicy-bounds-specs min:" in line
    with live.client() as client:
        assert line.split()[-1] == client.QueryClusterInfo()["name"]
    groups = live.gnt("gnt-group", "show-ispecs-cmd", "--include-defaults", "default")
    assert groups.code == 0, groups.stderr
    assert groups.stdout.startswith("gnt-group add --ipolicy-bounds-specs min:")
    assert groups.stdout.strip().endswith(" default")
