"""The watcher on a real virtual cluster: crashed chroot and KVM instances come back,
a hopeless instance is tried exactly 5 times, pauses and locks are respected, daemons
are restarted, and instances left on an offline node are stopped."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral.clock import SystemClock
from corral.daemon_control import MASTERD_MATCH, NODED_MATCH, daemon_pid, stop_daemon
from corral.errors import HypervisorError
from corral.hypervisor import linux
from corral.hypervisor.kvm.paths import instance_paths
from corral.hypervisor.kvm.runtime import is_alive, read_runtime
from corral.hypervisor.registry import get_driver
from corral.layout import NodeLayout
from corral.process import SubprocessRunner
from corral.vcluster import cluster
from corral.watcher.policy import RETRY_EXPIRATION
from tests.integration.conftest import VENV_BIN, LiveCluster, RunResult

PORT = 18150
"""Node daemon port of this module's own virtual cluster (18110-18140 and 18170 are taken)."""
CHROOT, KVM, BAD = "wchr", "wkvm", "wbad"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="chroot and KVM instances need root"),
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None,
                       reason="KVM instances need qemu-system-x86_64 (package qemu-system-x86)"),
]


def _add(live: LiveCluster, name: str, hypervisor: str, node: str, *extra: str) -> None:
    added = live.gnt("gnt-instance", "add", "-t", "file", "--disk", "0:size=64M",
                     "-o", "busybox+default", "-H", hypervisor, "-n", node, *extra, name,
                     timeout=120)
    assert added.code == 0, added.stderr


@pytest.fixture(scope="module")
def watched() -> Iterator[LiveCluster]:
    """This module's own 3-node cluster with a chroot, a KVM and a doomed chroot instance."""
    directory = Path(tempfile.mkdtemp(prefix="corral-watcher-")) / "vc"
    try:
        vc = cluster.up(directory, 3, feedback=lambda _msg: None, port=PORT)
        live = LiveCluster(vc)
        _add(live, CHROOT, "chroot", "node2")
        _add(live, BAD, "chroot", "node2")
        _add(live, KVM, "kvm", "node3", "-B", "maxmem=128,minmem=128")
        yield live
    finally:
        _clean_crashed_chroots(directory)
        cluster.down(directory, feedback=lambda _msg: None)
        directory.parent.rmdir()


def _clean_crashed_chroots(directory: Path) -> None:
    """Unmount what a killed chroot instance left (``cluster.down`` stops running ones only)."""
    root = NodeLayout(directory / "node2")
    if not root.run_dir.exists():
        return
    driver = get_driver("chroot", root, SubprocessRunner(), SystemClock())
    for name in (CHROOT, BAD):
        try:
            asyncio.run(driver.cleanup(name))
        except HypervisorError:
            pass  # still running: cluster.down stops it


# --- helpers ------------------------------------------------------------------------------


def _root(live: LiveCluster, node: str) -> Path:
    return Path(next(n.root for n in live.vc.nodes if n.name == node))


def _command(live: LiveCluster, node: str, args: tuple[str, ...]) -> list[str]:
    return [str(VENV_BIN / "corral-watcher"), "--debug", "--root", str(_root(live, node)), *args]


def watcher(live: LiveCluster, *args: str, node: str = "node1",
            now: float | None = None) -> RunResult:
    env = {**os.environ, **({"CORRAL_WATCHER_NOW": str(now)} if now is not None else {})}
    proc = subprocess.run(_command(live, node, args), capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    return RunResult(proc.returncode, proc.stdout, proc.stderr)


def _query(live: LiveCluster, what: str, fields: list[str], qfilter: Any = None) -> list[Any]:
    with live.client() as client:
        answer = client.Query(what, fields, qfilter)
    return [[cell[1] for cell in row] for row in answer["data"]]


def status(live: LiveCluster, name: str) -> str:
    return str(_query(live, "instance", ["status"], ["=", "name", name])[0][0])


def wait_status(live: LiveCluster, name: str, wanted: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while (current := status(live, name)) != wanted:
        assert time.monotonic() < deadline, f"{name} stays {current}, not {wanted}"
        time.sleep(0.1)


def jobs(live: LiveCluster, summary: str) -> int:
    """How many (unarchived) jobs have this one-opcode summary."""
    return sum(row[0] == [summary] for row in _query(live, "job", ["summary"]))


def startups(live: LiveCluster, name: str) -> int:
    return jobs(live, f"INSTANCE_STARTUP({name})")


def kill_chroot(live: LiveCluster, node: str, name: str) -> None:
    """SIGKILL every process rooted in the instance's chroot, by pid, and wait until they
    are reaped: the guest's start script trusts its pid file while that pid exists, even
    as a zombie (and this machine's init reaps orphans only after a second or two)."""
    base = str(NodeLayout(_root(live, node)).run_dir / "chroot" / name)
    pids = [pid for pid, _ in linux.processes_below(base)]
    assert pids, f"nothing runs in {base}"
    killed = set(pids)
    while pids:
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
        pids = [pid for pid, _ in linux.processes_below(base)]
        killed.update(pids)
    deadline = time.monotonic() + 20
    while any(Path(f"/proc/{pid}").exists() for pid in killed):
        assert time.monotonic() < deadline, "killed processes are never reaped"
        time.sleep(0.05)
    wait_status(live, name, "ERROR_down")


def kvm_pid(live: LiveCluster, node: str, name: str) -> tuple[int, bool]:
    record = read_runtime(instance_paths(NodeLayout(_root(live, node)), name).runtime)
    assert record is not None
    return record.pid, is_alive(record)


def kill_kvm(live: LiveCluster, node: str, name: str) -> None:
    pid, alive = kvm_pid(live, node, name)
    assert alive
    os.kill(pid, signal.SIGKILL)
    wait_status(live, name, "ERROR_down")


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes() != b""  # a zombie has none
    except OSError:
        return False


def state(live: LiveCluster) -> dict[str, Any]:
    return dict(json.loads(NodeLayout(_root(live, "node1")).watcher_state_file.read_text()))


# --- tests --------------------------------------------------------------------------------


def test_killed_instances_come_back_once_even_with_two_watchers(watched: LiveCluster) -> None:
    kill_chroot(watched, "node2", CHROOT)
    kill_kvm(watched, "node3", KVM)
    procs = [subprocess.Popen(_command(watched, "node1", ()), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    logs = [err for _, err in outputs]
    assert sum("Restarting instance" in log for log in logs) == 1, logs
    assert status(watched, CHROOT) == "running"
    assert status(watched, KVM) == "running"
    assert (startups(watched, CHROOT), startups(watched, KVM)) == (1, 1)
    assert kvm_pid(watched, "node3", KVM)[1]
    assert any("RAPI answers" in log or "serves no RAPI" in log for log in logs), logs
    assert "GROUP_VERIFY_DISKS" not in str(_query(watched, "job", ["summary"]))  # archived
    again = watcher(watched)
    assert f"Restart of instance {CHROOT} succeeded" in again.stderr
    assert state(watched)["instance"] == {}


def test_paused_watcher_restarts_nothing(watched: LiveCluster) -> None:
    assert watched.gnt("gnt-cluster", "watcher", "pause", "1h").code == 0
    try:
        kill_chroot(watched, "node2", CHROOT)
        before = startups(watched, CHROOT)
        paused = watcher(watched)
        assert paused.code == 0
        assert "paused until" in paused.stderr
        assert startups(watched, CHROOT) == before
        assert status(watched, CHROOT) == "ERROR_down"
        forced = watcher(watched, "--ignore-pause", "--no-verify-disks")
        assert forced.code == 0, forced.stderr
        assert startups(watched, CHROOT) == before + 1
        assert status(watched, CHROOT) == "running"
    finally:
        assert watched.gnt("gnt-cluster", "watcher", "continue").code == 0


def test_hopeless_instance_is_tried_five_times_then_again_after_eight_hours(
    watched: LiveCluster,
) -> None:
    modified = watched.gnt("gnt-instance", "modify", "-H", "init_script=/no-such-script", BAD)
    assert modified.code == 0, modified.stderr
    kill_chroot(watched, "node2", BAD)
    logs = [watcher(watched, "--no-verify-disks").stderr for _ in range(7)]
    assert startups(watched, BAD) == 5
    give_up = [line for log in logs for line in log.splitlines()
               if " ERROR " in line and "giving up" in line]
    assert len(give_up) == 1, give_up
    assert f"Could not restart instance {BAD} after 5 attempts" in logs[5]
    assert state(watched)["instance"][BAD]["restart_count"] == 6
    later = time.time() + RETRY_EXPIRATION + 60
    expired = watcher(watched, "--no-verify-disks", now=later)
    assert f"Restarting instance {BAD} (attempt #1)" in expired.stderr
    assert startups(watched, BAD) == 6
    record = state(watched)["instance"][BAD]
    assert (record["restart_count"], record["restart_when"]) == (1, later)
    assert status(watched, BAD) == "ERROR_down"


def test_changed_boot_id_is_detected_and_stored(watched: LiveCluster) -> None:
    watcher(watched, "--no-verify-disks")
    path = NodeLayout(_root(watched, "node1")).watcher_state_file
    data = json.loads(path.read_text())
    data["node"]["node2"]["bootid"] = "stale-boot-id"
    path.write_text(json.dumps(data))
    activations = jobs(watched, f"INSTANCE_ACTIVATE_DISKS({CHROOT})")
    run = watcher(watched, "--no-verify-disks")
    assert "Node node2 rebooted (boot id changed)" in run.stderr
    real = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert state(watched)["node"]["node2"] == {"bootid": real}
    # Ganeti re-activates disks of instances with the rebooted node as *secondary*;
    # file instances have none, so nothing is submitted for the primary's instances.
    assert jobs(watched, f"INSTANCE_ACTIVATE_DISKS({CHROOT})") == activations


def test_stopped_daemons_are_started_again(watched: LiveCluster) -> None:
    node3 = NodeLayout(_root(watched, "node3"))
    assert stop_daemon(node3.pid_file("corral-noded"), NODED_MATCH, 15.0)
    run = watcher(watched, node="node3")
    assert run.code == 0, run.stderr
    assert "not the master (the master is node1)" in run.stderr
    assert daemon_pid(node3.pid_file("corral-noded"), NODED_MATCH) is not None
    master = NodeLayout(_root(watched, "node1"))
    assert stop_daemon(master.pid_file("corral-masterd"), MASTERD_MATCH, 15.0)
    run = watcher(watched, "--no-verify-disks")
    assert run.code == 0, run.stderr
    assert "The master daemon is not running: starting it" in run.stderr
    assert daemon_pid(master.pid_file("corral-masterd"), MASTERD_MATCH) is not None
    assert status(watched, KVM) == "running"


def test_instances_on_an_offline_node_are_stopped(watched: LiveCluster) -> None:
    assert watched.gnt("gnt-cluster", "modify", "--maintain-node-health", "yes").code == 0
    assert watched.gnt("gnt-node", "modify", "-O", "yes", "node3").code == 0
    try:
        pid, alive = kvm_pid(watched, "node3", KVM)
        assert alive
        run = watcher(watched, "--no-verify-disks")
        assert f"Instance {KVM} still runs on the offline node node3" in run.stderr
        assert not _alive(pid)
    finally:
        back = watched.gnt("gnt-node", "modify", "-O", "no", "--force", "node3")
        assert back.code == 0, back.stderr
    wait_status(watched, KVM, "ERROR_down")
    watcher(watched, "--no-verify-disks")
    assert status(watched, KVM) == "running"
