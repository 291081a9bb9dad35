"""Migration and failover on the real virtual cluster, with fake instances (their state
files move between the nodes' roots), node-local disks copied, an interrupted migration
cleaned up, and node daemons that die during the job."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from corral.daemon_control import NODED_MATCH, daemon_pid
from corral.guestkit import READY_MARKER
from corral.hypervisor.kvm.console import SerialConsole
from corral.hypervisor.kvm.paths import instance_paths
from corral.layout import NodeLayout
from corral.luxi.client import wait_for_job
from corral.vcluster import cluster
from corral.vcluster.cluster import FILE_STORAGE_DIR, VNode
from tests.guest.kit import ask
from tests.integration.conftest import LiveCluster

pytestmark = pytest.mark.integration
NODED = "corral-noded"
ANSWER = re.compile(r"hello-\d+")
"""What the guest prints when :func:`ask` has it compute a sum."""


@dataclass
class JobOutcome:
    status: str
    result: Any
    log: list[str] = field(default_factory=list)


def _node(live: LiveCluster, name: str) -> VNode:
    return next(n for n in live.vc.nodes if n.name == name)


def _layout(live: LiveCluster, name: str) -> NodeLayout:
    return NodeLayout(Path(_node(live, name).root))


def _state_file(live: LiveCluster, node: str, instance: str) -> Path:
    return _layout(live, node).run_dir / "fake-hv" / f"{instance}.json"


def _running_on(live: LiveCluster, instance: str) -> list[str]:
    """Nodes whose fake hypervisor has a state file for ``instance``."""
    return [n.name for n in live.vc.nodes if _state_file(live, n.name, instance).exists()]


def _run(live: LiveCluster, op: dict[str, Any]) -> JobOutcome:
    log: list[str] = []
    with live.client() as client:
        job_id = client.SubmitJob([op])
        status, _, result = wait_for_job(client, job_id, on_log=lambda e: log.append(str(e[3])))
    return JobOutcome(status, result, log)


def _primary(live: LiveCluster, instance: str) -> str:
    listed = live.gnt("gnt-instance", "list", "--no-headers", "-o", "pnode", instance)
    assert listed.code == 0, listed.stderr
    return listed.stdout.strip()


@pytest.fixture
def instance(live: LiveCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A running fake instance on node2 (template: the indirect parameter, else sharedfile)."""
    template = str(getattr(request, "param", "sharedfile"))
    name = f"mig-{template}-{request.node.name.split('[')[0][-12:].replace('_', '-')}"
    created = _run(live, {
        "OP_ID": "OP_INSTANCE_CREATE", "instance_name": name, "mode": "create",
        "disk_template": template, "disks": [] if template == "diskless" else [{"size": 16}],
        "nics": [], "os_type": "noop", "hypervisor": "fake", "pnode": "node2",
        "ip_check": False, "name_check": False,
    })
    assert created.status == "success", created.result
    try:
        yield name
    finally:
        live.gnt("gnt-instance", "remove", "-f", "--ignore-failures", name)


def _migrate(name: str, **fields: Any) -> dict[str, Any]:
    return {"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": name, **fields}


def test_migrate_shared_storage(live: LiveCluster, instance: str) -> None:
    outcome = _run(live, _migrate(instance, target_node="node3"))
    assert outcome.status == "success", (outcome.result, outcome.log)
    for line in (f"Migrating instance {instance}", "* preparing node3 to accept the instance",
                 "* migrating instance to node3", "* memory transfer complete", "* done"):
        assert line in outcome.log
    assert _primary(live, instance) == "node3"
    assert _running_on(live, instance) == ["node3"]
    state = json.loads(_state_file(live, "node3", instance).read_text())
    assert state["state"] == "running"
    back = _run(live, _migrate(instance))  # the built-in allocator picks a node
    assert back.status == "success", back.result
    assert _primary(live, instance) in ("node1", "node2")
    assert _running_on(live, instance) == [_primary(live, instance)]


@pytest.mark.parametrize("instance", ["file"], indirect=True)
def test_migrate_node_local_disks_moves_them(live: LiveCluster, instance: str) -> None:
    def disk_dir(node: str) -> Path:
        return Path(_node(live, node).root) / FILE_STORAGE_DIR.lstrip("/") / instance

    before = sorted(p.name for p in disk_dir("node2").iterdir())
    assert before
    outcome = _run(live, _migrate(instance, target_node="node3"))
    assert outcome.status == "success", (outcome.result, outcome.log)
    assert "* creating the instance's disks on node3" in outcome.log
    assert sorted(p.name for p in disk_dir("node3").iterdir()) == before
    assert not disk_dir("node2").exists()
    assert _primary(live, instance) == "node3"
    assert _running_on(live, instance) == ["node3"]


@pytest.mark.parametrize("instance", ["file"], indirect=True)
def test_file_instance_cannot_fail_over(live: LiveCluster, instance: str) -> None:
    outcome = _run(live, {"OP_ID": "OP_INSTANCE_FAILOVER", "instance_name": instance,
                          "target_node": "node3"})
    assert outcome.status == "error"
    assert "does not allow failover; use 'gnt-instance move'" in str(outcome.result)
    assert _running_on(live, instance) == ["node2"]


def test_failover_shared_storage(live: LiveCluster, instance: str) -> None:
    outcome = _run(live, {"OP_ID": "OP_INSTANCE_FAILOVER", "instance_name": instance,
                          "target_node": "node3"})
    assert outcome.status == "success", (outcome.result, outcome.log)
    assert "* starting the instance on the target node node3" in outcome.log
    assert _primary(live, instance) == "node3"
    assert _running_on(live, instance) == ["node3"]


def test_cleanup_of_a_half_done_migration(live: LiveCluster, instance: str) -> None:
    """The target holds a received (paused) copy, the source still runs it, and the
    source's hypervisor reports the migration completed: the target wins."""
    source = _state_file(live, "node2", instance)
    target = _state_file(live, "node3", instance)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({**json.loads(source.read_text()), "state": "paused"}))
    outcome = _run(live, _migrate(instance, target_node="node3", cleanup=True))
    assert outcome.status == "success", (outcome.result, outcome.log)
    assert "* instance running on: node2,node3" in outcome.log
    assert _primary(live, instance) == "node3"
    assert _running_on(live, instance) == ["node3"]
    assert json.loads(target.read_text())["state"] == "running"


def test_cleanup_of_an_instance_running_nowhere(live: LiveCluster, instance: str) -> None:
    _state_file(live, "node2", instance).unlink()
    outcome = _run(live, _migrate(instance, target_node="node3", cleanup=True))
    assert outcome.status == "error"
    assert "Instance does not seem to be running at all" in str(outcome.result)
    assert _primary(live, instance) == "node2"


# --- node daemons dying during the job -------------------------------------------------

def _kill_noded(live: LiveCluster, node: str) -> int:
    layout = _layout(live, node)
    pid = daemon_pid(layout.pid_file(NODED), NODED_MATCH)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    return pid


def _restart_noded(live: LiveCluster, *nodes: str) -> None:
    """Start the daemons of ``nodes`` again where they are dead, and wait until the
    master candidates have caught up (job submissions need a majority of them)."""
    for node in nodes:
        vnode = _node(live, node)
        if daemon_pid(_layout(live, node).pid_file(NODED), NODED_MATCH) is None:
            cluster.start_noded(vnode)
        cluster.wait_until_listening(vnode)
    deadline = time.monotonic() + 60
    with live.client() as client:
        while lagging := client.QueryConfigValues(["lagging_candidates"])[0]:
            if time.monotonic() > deadline:
                pytest.fail(f"the master candidates did not catch up: {lagging}")
            time.sleep(0.2)


def _hook(live: LiveCluster, node: str, phase: str, body: str) -> Path:
    directory = _layout(live, node).hooks_dir / f"instance-migrate-{phase}.d"
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "50-kill"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return script


@pytest.fixture
def dying(live: LiveCluster) -> Iterator[list[Path]]:
    """Hook scripts a test installs; removed, and every node daemon restarted, after it."""
    scripts: list[Path] = []
    try:
        yield scripts
    finally:
        for script in scripts:
            script.unlink(missing_ok=True)
        _restart_noded(live, *(vnode.name for vnode in live.vc.nodes))


def _die_after_hooks(live: LiveCluster, victim: str, scripts: list[Path]) -> None:
    """Kill ``victim``'s node daemon once the pre hooks have answered: its own hook
    detaches a killer; the master's hook returns only when the daemon is gone, so the
    job's first call to ``victim`` after the hooks meets a dead daemon."""
    pid = daemon_pid(_layout(live, victim).pid_file(NODED), NODED_MATCH)
    assert pid is not None
    marker = _layout(live, victim).run_dir / "migration-test-killer"
    marker.unlink(missing_ok=True)
    scripts.append(_hook(live, victim, "pre",
                         f"touch {marker}\n(sleep 0.5; kill -9 {pid}) >/dev/null 2>&1 &\n"))
    scripts.append(_hook(live, "node1", "pre",
                         f"while [ ! -e {marker} ] || kill -0 {pid} 2>/dev/null; do"
                         " sleep 0.1; done\n"))


def test_target_daemon_killed_during_migration(live: LiveCluster, instance: str,
                                                dying: list[Path]) -> None:
    _die_after_hooks(live, "node3", dying)
    outcome = _run(live, _migrate(instance, target_node="node3"))
    assert outcome.status == "error", outcome.log
    message = str(outcome.result)
    assert f"Could not migrate instance {instance}" in message
    assert "it keeps running on node2" in message
    assert "Migration failed, aborting" in outcome.log
    assert any("Aborting migration failed on target node node3" in line for line in outcome.log)
    _restart_noded(live, "node3")
    assert _primary(live, instance) == "node2"
    assert _running_on(live, instance) == ["node2"]


def test_source_daemon_killed_during_migration(live: LiveCluster, instance: str,
                                                dying: list[Path]) -> None:
    _die_after_hooks(live, "node2", dying)
    outcome = _run(live, _migrate(instance, target_node="node3"))
    assert outcome.status == "error", outcome.log
    assert "failed fetching source migration information from node2" in str(outcome.result)
    assert any("Aborting migration failed on source node node2" in line for line in outcome.log)
    _restart_noded(live, "node2")
    assert _primary(live, instance) == "node2"
    assert _running_on(live, instance) == ["node2"]
    again = _run(live, _migrate(instance, target_node="node3"))
    assert again.status == "success", again.result
    assert _running_on(live, instance) == ["node3"]


def test_dead_target_is_refused_before_anything_moves(live: LiveCluster, instance: str,
                                                      dying: list[Path]) -> None:
    _kill_noded(live, "node3")
    deadline = time.monotonic() + 10
    while daemon_pid(_layout(live, "node3").pid_file(NODED), NODED_MATCH) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    outcome = _run(live, _migrate(instance, target_node="node3"))
    assert outcome.status == "error"
    assert outcome.result[0][0] == "OpPrereqError"
    assert "node3" in str(outcome.result)
    assert _running_on(live, instance) == ["node2"]


# --- real QEMU guests -----------------------------------------------------------------

def _guest_answers(live: LiveCluster, node: str, name: str, command: str = "") -> str:
    """The guest's shell on ``node`` runs ``command`` (if any), then computes a sum on its
    serial console; returns the console output from the command on."""
    async def talk() -> str:
        console = SerialConsole(instance_paths(_layout(live, node), name).serial_socket)
        await console.open()
        try:
            start = len(console.output)
            if command:
                await console.send(command + "\n")
            await ask(console)
            return console.output[start:].decode(errors="replace")
        finally:
            await console.close()

    return asyncio.run(talk())


def _wait_for_text(path: Path, text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def guest(live: LiveCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A booted QEMU guest on node2 (template: the indirect parameter)."""
    template = str(request.param)
    name = f"mig-kvm-{template}"
    added = live.gnt("gnt-instance", "add", "-t", template, "--disk", "0:size=64M",
                     "-o", "busybox+default", "-H", "kvm", "-B", "maxmem=128,minmem=128",
                     "-n", "node2", name, timeout=180)
    assert added.code == 0, added.stderr
    try:
        serial_log = instance_paths(_layout(live, "node2"), name).serial_log
        assert _wait_for_text(serial_log, f"{READY_MARKER} {name}", 120), serial_log
        yield name
    finally:
        live.gnt("gnt-instance", "remove", "-f", "--ignore-failures", name, timeout=120)


def _qemu_nodes(live: LiveCluster, name: str) -> list[str]:
    """Nodes whose KVM driver has a live QEMU for ``name`` (its pid file names a process)."""
    found = []
    for vnode in live.vc.nodes:
        pidfile = instance_paths(_layout(live, vnode.name), name).pidfile
        try:
            pid = int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if Path(f"/proc/{pid}").exists():
            found.append(vnode.name)
    return found


@pytest.mark.skipif(os.geteuid() != 0, reason="KVM guests need root (taps on the bridge)")
@pytest.mark.parametrize("guest", ["sharedfile", "file"], indirect=True)
def test_real_guest_migrates_live(live: LiveCluster, guest: str) -> None:
    """The guest keeps running, and what it wrote to its root disk before the migration
    is there after it (its disk was copied for ``file``, shared for ``sharedfile``)."""
    marker = f"CORRAL-MIGRATION-{guest.upper()}"
    _guest_answers(live, "node2", guest, f"echo {marker} > /migration-marker; sync")
    outcome = _run(live, _migrate(guest, target_node="node3"))
    assert outcome.status == "success", (outcome.result, outcome.log)
    assert "* memory transfer complete" in outcome.log
    if guest.endswith("-file"):
        assert "* creating the instance's disks on node3" in outcome.log
        assert not (Path(_node(live, "node2").root) / FILE_STORAGE_DIR.lstrip("/")
                    / guest).exists()
    assert _primary(live, guest) == "node3"
    assert _qemu_nodes(live, guest) == ["node3"]
    after = _guest_answers(live, "node3", guest, "cat /migration-marker")
    assert marker in after.split("cat /migration-marker", 1)[-1], after


def _run_killing(live: LiveCluster, op: dict[str, Any], victim: str) -> JobOutcome:
    """Run ``op``, killing ``victim``'s node daemon at the first progress line."""
    log: list[str] = []
    pid = daemon_pid(_layout(live, victim).pid_file(NODED), NODED_MATCH)
    assert pid is not None

    def follow(entry: list[Any]) -> None:
        text = str(entry[3])
        log.append(text)
        if "progress:" in text and not any("progress:" in line for line in log[:-1]):
            os.kill(pid, signal.SIGKILL)

    with live.client() as client:
        job_id = client.SubmitJob([op])
        status, _, result = wait_for_job(client, job_id, on_log=follow)
    return JobOutcome(status, result, log)


@pytest.mark.skipif(os.geteuid() != 0, reason="KVM guests need root (taps on the bridge)")
@pytest.mark.parametrize("guest", ["sharedfile"], indirect=True)
def test_real_guest_survives_its_target_daemon_dying(live: LiveCluster, guest: str,
                                                     dying: list[Path]) -> None:
    """QEMU outlives the target's daemon: the transfer completes, the configuration moves
    to the target, and the guest waits there (paused) for the cleanup to resume it."""
    outcome = _run_killing(live, _migrate(guest, target_node="node3"), "node3")
    assert outcome.status == "error", outcome.log
    message = str(outcome.result)
    assert "was migrated to node3 but could not be resumed there" in message
    assert f"gnt-instance migrate --cleanup {guest}" in message
    _restart_noded(live, "node3")
    assert _primary(live, guest) == "node3"
    assert _qemu_nodes(live, guest) == ["node3"]
    cleaned = _run(live, _migrate(guest, cleanup=True))
    assert cleaned.status == "success", (cleaned.result, cleaned.log)
    assert "* instance confirmed to be running on its primary node (node3)" in cleaned.log
    assert ANSWER.search(_guest_answers(live, "node3", guest))


@pytest.mark.skipif(os.geteuid() != 0, reason="KVM guests need root (taps on the bridge)")
@pytest.mark.parametrize("guest", ["sharedfile"], indirect=True)
def test_real_guest_survives_its_source_daemon_dying(live: LiveCluster, guest: str,
                                                     dying: list[Path]) -> None:
    outcome = _run_killing(live, _migrate(guest, target_node="node3"), "node2")
    assert outcome.status == "error", outcome.log
    assert "the source node2 stopped answering" in str(outcome.result)
    _restart_noded(live, "node2")
    assert _primary(live, guest) == "node2"
    cleaned = _run(live, _migrate(guest, target_node="node3", cleanup=True))
    assert cleaned.status == "success", (cleaned.result, cleaned.log)
    assert _primary(live, guest) == "node2"
    assert _qemu_nodes(live, guest) == ["node2"]
    assert ANSWER.search(_guest_answers(live, "node2", guest))
