"""KVM guests on ``mirror`` disks on the virtual cluster, through the master: creation on
node2:node3, live migration to the secondary without a disk copy, and the durability
scenario (the primary's QEMU and node daemon killed while the guest writes and fsyncs
numbered records; failover --ignore-consistency; every acknowledged record is on the
secondary, which now runs the guest).

Each phase's duration is printed (``MIRROR-TIMES``; run with ``-s`` to see them).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.daemon_control import NODED_MATCH, daemon_pid
from corral.guestkit import READY_MARKER
from corral.hypervisor.kvm.console import SerialConsole
from corral.hypervisor.kvm.paths import instance_paths
from corral.layout import NodeLayout
from corral.storage.mirror.export import mirror_run_dir, stop_export
from corral.vcluster import cluster
from corral.vcluster.cluster import FILE_STORAGE_DIR, VNode
from tests.guest.kit import ask, require_qemu
from tests.integration.conftest import LiveCluster

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0,
                                 reason="KVM guests need root (taps on the bridge)")]
NODED = "corral-noded"
PRIMARY, SECONDARY = "node2", "node3"
RECORD_DISK = "/dev/vdb"
SYNC_TIMEOUT = 120.0
RECORD_LOOP = (f"i=0; while [ $i -lt 15000 ]; do printf 'record %08d\\n' $i | dd of={RECORD_DISK}"
               " bs=512 seek=$i oflag=direct conv=notrunc,sync,fsync 2>/dev/null && "
               "echo ACK $i; i=$((i+1)); done\n")
_ACK = re.compile(r"^ACK (\d+)\r?$", re.MULTILINE)


def _vnode(live: LiveCluster, name: str) -> VNode:
    return next(n for n in live.vc.nodes if n.name == name)


def _layout(live: LiveCluster, name: str) -> NodeLayout:
    return NodeLayout(Path(_vnode(live, name).root))


def _gnt(live: LiveCluster, *args: str, timeout: float = 180) -> str:
    """Run a gnt command that must succeed; its output (stdout and stderr)."""
    done = live.gnt(*args, timeout=timeout)
    assert done.code == 0, (args, done.stdout, done.stderr)
    return done.stdout + done.stderr


def _halves(live: LiveCluster, name: str, node: str) -> list[Path]:
    """The files of ``name``'s disks on ``node``, by disk index."""
    directory = Path(_vnode(live, node).root) / FILE_STORAGE_DIR.lstrip("/") / name
    return sorted(directory.glob("*.file.disk*"), key=lambda p: p.name.rpartition("disk")[2])


def _wait(what: str, check: object, timeout: float) -> float:
    """Poll ``check()`` until true; seconds it took."""
    began = time.monotonic()
    while not check():  # type: ignore[operator]
        if time.monotonic() - began > timeout:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)
    return time.monotonic() - began


def _in_sync(live: LiveCluster, name: str, disks: int) -> bool:
    """Both nodes' halves of every disk are equal (a full sync is done)."""
    ours, theirs = _halves(live, name, PRIMARY), _halves(live, name, SECONDARY)
    return len(ours) == len(theirs) == disks and all(
        a.read_bytes() == b.read_bytes() for a, b in zip(ours, theirs, strict=True))


def _booted(live: LiveCluster, node: str, name: str, since: int = 0) -> bool:
    log = instance_paths(_layout(live, node), name).serial_log
    return log.exists() and f"{READY_MARKER} {name}" in log.read_text(errors="replace")[since:]


def _qemu_pid(live: LiveCluster, node: str, name: str) -> int | None:
    try:
        pid = int(instance_paths(_layout(live, node), name).pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def _times(label: str, **seconds: float) -> None:
    shown = ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items())
    print(f"\nMIRROR-TIMES {label}: {shown}")


@pytest.fixture
def mirrored(live: LiveCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A booted KVM guest on mirror disks (root 64 MiB; with the indirect parameter
    ``records`` also an 8 MiB disk for raw records), node2:node3, in sync; node2 back
    online with its daemon at the end, the instance removed.

    No NIC: the virtual nodes share this host's network devices, so the tap of a killed
    node's guest would outlive its "host" and block the same tap on the secondary."""
    require_qemu()
    name = f"mir-{request.node.name.split('[')[-1].rstrip(']').replace('_', '-')[-20:]}"
    disks = ["--disk", "0:size=64M"]
    if getattr(request, "param", None) == "records":
        disks += ["--disk", "1:size=8M"]
    began = time.monotonic()
    _gnt(live, "gnt-instance", "add", "-t", "mirror", *disks, "--no-nics", "-o",
         "busybox+default", "-H", "kvm", "-B", "maxmem=128,minmem=128", "-n",
         f"{PRIMARY}:{SECONDARY}", name)
    added = time.monotonic() - began
    try:
        boot = _wait("the guest's boot", lambda: _booted(live, PRIMARY, name), 120)
        sync = _wait("the initial sync", lambda: _in_sync(live, name, len(disks) // 2),
                     SYNC_TIMEOUT)
        _times(f"{name} setup", add=added, boot=boot, initial_sync=sync)
        yield name
    finally:
        _revive(live, PRIMARY)
        live.gnt("gnt-instance", "remove", "-f", "--ignore-failures", name, timeout=120)
        left = _stop_left_exports(live)
    assert left == [], "gnt-instance remove left mirror exports running"


def _stop_left_exports(live: LiveCluster) -> list[str]:
    """Stop (by PID) every mirror export still served on the virtual nodes; their names."""
    layouts = {vnode.name: _layout(live, vnode.name) for vnode in live.vc.nodes}
    return [f"{name}:{record.stem}" for name, layout in layouts.items()
            for record in sorted(mirror_run_dir(layout).glob("*.export"))
            if stop_export(layout, record.stem)]


def _revive(live: LiveCluster, node: str) -> None:
    """``node``'s daemon running and the node online again."""
    vnode = _vnode(live, node)
    if daemon_pid(_layout(live, node).pid_file(NODED), NODED_MATCH) is None:
        cluster.start_noded(vnode)
    cluster.wait_until_listening(vnode)
    listed = live.gnt("gnt-node", "list", "--no-headers", "-o", "offline", node)
    if listed.stdout.strip() == "Y":
        _gnt(live, "gnt-node", "modify", "-O", "no", "--force", node)


def _console(live: LiveCluster, node: str, name: str) -> SerialConsole:
    return SerialConsole(instance_paths(_layout(live, node), name).serial_socket)


def _info(live: LiveCluster, name: str) -> str:
    return _gnt(live, "gnt-instance", "info", name)


async def _shell(live: LiveCluster, node: str, name: str, command: str) -> None:
    """Run ``command`` in the guest on ``node`` and wait for its shell to answer again."""
    console = _console(live, node, name)
    await console.open()
    try:
        await console.send(command + "\n")
        await ask(console)
    finally:
        await console.close()


def _written(live: LiveCluster, name: str, node: str, marker: str) -> bool:
    """``marker`` is in ``node``'s half of the root disk."""
    return marker.encode() in _halves(live, name, node)[0].read_bytes()


def _write_marker(live: LiveCluster, node: str, name: str, marker: str) -> None:
    asyncio.run(_shell(live, node, name, f"echo {marker} > /{marker.lower()}; sync"))


def test_mirror_instance_migrates_without_copy_and_resyncs_a_returned_secondary(
        live: LiveCluster, mirrored: str) -> None:
    """Both nodes in ``gnt-instance info``; ``migrate`` moves only memory and swaps the
    roles (the old primary now receives the writes); the new secondary's export lost
    and back: ``activate-disks`` resyncs it."""
    token = os.urandom(4).hex().upper()
    info = _info(live, mirrored)
    assert f"primary: {PRIMARY}" in info, info
    assert f"secondaries: {SECONDARY}" in info, info
    began = time.monotonic()
    out = _gnt(live, "gnt-instance", "migrate", "-f", mirrored)
    took = time.monotonic() - began
    assert "disk copy" not in out, out
    assert "creating the instance's disks" not in out, out
    assert f"* moving the disk exports from {SECONDARY} to {PRIMARY}" in out, out
    assert "WARNING" not in out, out
    info = _info(live, mirrored)
    assert f"primary: {SECONDARY}" in info, info
    assert f"secondaries: {PRIMARY}" in info, info
    assert _qemu_pid(live, SECONDARY, mirrored) is not None
    assert _qemu_pid(live, PRIMARY, mirrored) is None
    _write_marker(live, SECONDARY, mirrored, f"AFTER-MOVE-{token}")
    assert _written(live, mirrored, PRIMARY, f"AFTER-MOVE-{token}")
    # the new secondary's export dies: the guest writes on, degraded
    disk_uuid = _halves(live, mirrored, PRIMARY)[0].name.partition(".")[0]
    assert stop_export(_layout(live, PRIMARY), disk_uuid)
    _write_marker(live, SECONDARY, mirrored, f"DEGRADED-{token}")
    assert not _written(live, mirrored, PRIMARY, f"DEGRADED-{token}")
    began = time.monotonic()
    out = _gnt(live, "gnt-instance", "activate-disks", mirrored)
    assert "resyncing disk(s) 0" in out, out
    resync = _wait("the resync", lambda: _in_sync(live, mirrored, 1), SYNC_TIMEOUT)
    assert _written(live, mirrored, PRIMARY, f"DEGRADED-{token}")
    _times(f"{mirrored} migrate", migrate=took, activate_and_resync=time.monotonic() - began,
           resync_wait=resync)


async def _write_until_killed(live: LiveCluster, name: str, moment: int) -> list[int]:
    """Start the record loop, SIGKILL the primary's QEMU and node daemon once record
    ``moment`` is acknowledged; the acknowledged record numbers."""
    console = _console(live, PRIMARY, name)
    await console.open()
    try:
        start = len(console.output)
        await console.send(RECORD_LOOP)
        await console.expect(f"ACK {moment}\r", timeout=120, start=start)
        qemu = _qemu_pid(live, PRIMARY, name)
        noded = daemon_pid(_layout(live, PRIMARY).pid_file(NODED), NODED_MATCH)
        assert qemu is not None
        assert noded is not None
        os.kill(qemu, signal.SIGKILL)
        os.kill(noded, signal.SIGKILL)
        await asyncio.sleep(0.2)
        return [int(n) for n in _ACK.findall(console.text[start:])]
    finally:
        await console.close()


@pytest.mark.parametrize("mirrored", ["records"], indirect=True)
@pytest.mark.parametrize("moment", [0, 3, 11, 24, 47])
def test_acknowledged_records_survive_the_primarys_death(live: LiveCluster, mirrored: str,
                                                         moment: int) -> None:
    began = time.monotonic()
    acked = asyncio.run(_write_until_killed(live, mirrored, moment))
    writing = time.monotonic() - began
    assert acked
    assert max(acked) >= moment
    _gnt(live, "gnt-node", "modify", "-O", "yes", "--auto-promote", PRIMARY)
    log = instance_paths(_layout(live, SECONDARY), mirrored).serial_log
    since = len(log.read_text(errors="replace")) if log.exists() else 0
    began = time.monotonic()
    out = _gnt(live, "gnt-instance", "failover", "-f", "--ignore-consistency", mirrored)
    failover = time.monotonic() - began
    assert "degraded" in out, out
    boot = _wait("the guest on the secondary", lambda: _booted(live, SECONDARY, mirrored,
                                                               since), 120)
    info = _info(live, mirrored)
    assert f"primary: {SECONDARY}" in info, info
    assert f"secondaries: {PRIMARY}" in info, info
    records = _halves(live, mirrored, SECONDARY)[1].read_bytes()
    missing = [n for n in acked
               if not records[n * 512:].startswith(f"record {n:08d}\n".encode())]
    assert missing == []
    _times(f"{mirrored} kill after ACK {moment} ({len(acked)} acknowledged)",
           writing=writing, failover_job=failover, failover_to_console_marker=failover + boot)
    if moment == 0:
        _resynced_when_back(live, mirrored)


def _resynced_when_back(live: LiveCluster, name: str) -> None:
    """The old primary back (daemon restarted, node online): ``activate-disks`` serves
    its halves to the new primary, which copies its disks over them."""
    assert not _in_sync(live, name, 2)  # the guest booted on the secondary's copy alone
    began = time.monotonic()
    _revive(live, PRIMARY)
    out = _gnt(live, "gnt-instance", "activate-disks", name)
    assert "resyncing disk(s) 0, 1" in out, out
    asked = time.monotonic() - began
    took = _wait("the resync to the old primary", lambda: _in_sync(live, name, 2),
                 SYNC_TIMEOUT)
    _times(f"{name} old primary back", revive_and_activate=asked, resync_wait=took)


def _halves_equal(live: LiveCluster, name: str, first: str, second: str) -> bool:
    ours, theirs = _halves(live, name, first), _halves(live, name, second)
    return len(ours) == len(theirs) == 1 and ours[0].read_bytes() == theirs[0].read_bytes()


def test_node_migrate_and_secondary_evacuation_of_a_mirror_instance(
        live: LiveCluster, mirrored: str) -> None:
    """``gnt-node migrate`` of the primary sends the instance to its secondary (memory only);
    ``gnt-node evacuate -s -n node1`` of the new secondary (the old primary) moves its
    halves to node1, which serves them in sync; ``gnt-node failover`` of the primary
    restarts the instance on node1."""
    token = os.urandom(4).hex().upper()
    began = time.monotonic()
    out = _gnt(live, "gnt-node", "migrate", "-f", PRIMARY)
    migrate = time.monotonic() - began
    assert f"* moving the disk exports from {SECONDARY} to {PRIMARY}" in out, out
    assert "disk copy" not in out, out
    info = _info(live, mirrored)
    assert f"primary: {SECONDARY}" in info, info
    assert f"secondaries: {PRIMARY}" in info, info
    assert _qemu_pid(live, SECONDARY, mirrored) is not None
    assert _qemu_pid(live, PRIMARY, mirrored) is None
    began = time.monotonic()
    out = _gnt(live, "gnt-node", "evacuate", "-f", "-s", "-n", "node1", PRIMARY, timeout=300)
    evacuate = time.monotonic() - began
    assert "Adding new local storage on node1 for disk/0" in out, out
    assert f"Instance {mirrored}'s disks are in sync" in out, out
    synced = _wait("node1's copy", lambda: _halves_equal(live, mirrored, SECONDARY, "node1"),
                   SYNC_TIMEOUT)
    info = _info(live, mirrored)
    assert f"primary: {SECONDARY}" in info, info
    assert "secondaries: node1" in info, info
    assert "in sync" in info, info
    assert "*DEGRADED*" not in info, info
    assert _halves(live, mirrored, PRIMARY) == []
    assert list(mirror_run_dir(_layout(live, PRIMARY)).glob("*.export")) == []
    _write_marker(live, SECONDARY, mirrored, f"ON-NODE1-{token}")
    assert marker_in(_halves(live, mirrored, "node1")[0], f"ON-NODE1-{token}")
    # gnt-node failover of the primary: the instance restarts on its secondary, node1
    log = instance_paths(_layout(live, "node1"), mirrored).serial_log
    since = len(log.read_text(errors="replace")) if log.exists() else 0
    began = time.monotonic()
    _gnt(live, "gnt-node", "failover", "-f", SECONDARY)
    failover = time.monotonic() - began
    _wait("the guest on node1", lambda: _booted(live, "node1", mirrored, since), 120)
    info = _info(live, mirrored)
    assert "primary: node1" in info, info
    assert f"secondaries: {SECONDARY}" in info, info
    assert _qemu_pid(live, SECONDARY, mirrored) is None
    _wait("node3's copy", lambda: _halves_equal(live, mirrored, "node1", SECONDARY),
          SYNC_TIMEOUT)
    _times(f"{mirrored} node operations", node_migrate=migrate, evacuate_secondary=evacuate,
           sync_wait=synced, node_failover=failover)


def marker_in(path: Path, marker: str) -> bool:
    return marker.encode() in path.read_bytes()


def test_mirror_refusals_on_the_virtual_cluster(live: LiveCluster, mirrored: str) -> None:
    """A disk is not added to the running mirror instance (stop it first); no instance is
    created with a drained secondary; both leave nothing behind."""
    done = live.gnt("gnt-instance", "modify", "--disk", "add:size=8M", mirrored, timeout=120)
    assert done.code != 0, done.stdout
    assert "cannot add a disk to a running mirror instance" in done.stdout + done.stderr
    assert len(_halves(live, mirrored, PRIMARY)) == len(_halves(live, mirrored, SECONDARY)) == 1
    _gnt(live, "gnt-node", "modify", "-D", "yes", SECONDARY)
    try:
        done = live.gnt("gnt-instance", "add", "-t", "mirror", "--disk", "0:size=8M",
                        "--no-nics", "-o", "busybox+default", "-H", "kvm", "--no-start",
                        "-n", f"{PRIMARY}:{SECONDARY}", "mir-drained", timeout=120)
    finally:
        _gnt(live, "gnt-node", "modify", "-D", "no", SECONDARY)
    assert done.code != 0, done.stdout
    assert f"Cannot use drained secondary node '{SECONDARY}'" in done.stdout + done.stderr
    listed = _gnt(live, "gnt-instance", "list", "--no-headers", "-o", "name")
    assert "mir-drained" not in listed


def test_evacuating_all_of_a_mirror_instances_primary(live: LiveCluster,
                                                      mirrored: str) -> None:
    """``gnt-node evacuate`` (all instances, the built-in allocator) of the primary: the
    instance migrates to its secondary, then its secondary half moves to node1."""
    token = os.urandom(4).hex().upper()
    began = time.monotonic()
    out = _gnt(live, "gnt-node", "evacuate", "-f", PRIMARY, timeout=300)
    took = time.monotonic() - began
    assert f"* moving the disk exports from {SECONDARY} to {PRIMARY}" in out, out
    assert "Adding new local storage on node1 for disk/0" in out, out
    info = _info(live, mirrored)
    assert f"primary: {SECONDARY}" in info, info
    assert "secondaries: node1" in info, info
    _wait("node1's copy", lambda: _halves_equal(live, mirrored, SECONDARY, "node1"),
          SYNC_TIMEOUT)
    assert _halves(live, mirrored, PRIMARY) == []
    assert _qemu_pid(live, PRIMARY, mirrored) is None
    _write_marker(live, SECONDARY, mirrored, f"EVACUATED-{token}")
    assert marker_in(_halves(live, mirrored, "node1")[0], f"EVACUATED-{token}")
    _times(f"{mirrored} evacuate all", evacuate=took)
