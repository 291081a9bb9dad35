"""A virtual cluster with ``mirror`` KVM instances, for the failover and replace-disks
benchmarks: instances created through ``gnt-instance add``
(:func:`bench.bench_migration_cli.gnt`, as an operator types it), a node's death (its
QEMU and node daemon killed with SIGKILL) and its return, the mirror's sync state asked
of the primary's QEMU as its node daemon does. The guest is the busybox guest kit
under TCG.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from bench.bench_migration_cli import gnt
from bench.common import BenchError, vcluster_at
from corral.clock import SystemClock
from corral.daemon_control import NODED_MATCH, daemon_pid
from corral.guestkit import READY_MARKER
from corral.hypervisor.base import MirrorDiskStatus, MirrorSync
from corral.hypervisor.kvm.driver import KvmHypervisor
from corral.hypervisor.kvm.paths import instance_paths
from corral.hypervisor.kvm.runtime import read_pidfile
from corral.layout import NodeLayout
from corral.luxi.client import Client
from corral.process import SubprocessRunner
from corral.storage.mirror import stop_export
from corral.storage.mirror.export import mirror_run_dir
from corral.vcluster import cluster
from corral.vcluster.cluster import VCluster, VNode

MEMORY_MIB = 128
BOOT_TIMEOUT_S = 60.0
CATCH_UP_TIMEOUT_S = 60.0
SYNC_TIMEOUT_S = 300.0
DEGRADED_GRACE_S = 20.0
POLL_S = 0.02


def require_qemu() -> None:
    """Raises BenchError when QEMU is not installed."""
    if not os.access("/usr/bin/qemu-system-x86_64", os.X_OK):
        raise BenchError("qemu-system-x86_64 is not installed")


def vnode(vc: VCluster, name: str) -> VNode:
    for node in vc.nodes:
        if node.name == name:
            return node
    raise BenchError(f"no node {name} in the virtual cluster")


def layout(vc: VCluster, name: str) -> NodeLayout:
    return NodeLayout(Path(vnode(vc, name).root))


def stop_exports(vc: VCluster) -> None:
    """Stop every mirror export still served by a node of ``vc`` (by its record: they
    are daemons of their own, which the virtual cluster's teardown does not know)."""
    for node in vc.nodes:
        node_layout = NodeLayout(Path(node.root))
        for record in mirror_run_dir(node_layout).glob("*.export"):
            stop_export(node_layout, record.name.removesuffix(".export"))


@contextlib.contextmanager
def mirror_vcluster(prefix: str, port: int) -> Iterator[VCluster]:
    """A 3-node virtual cluster on ``port`` (``mirror`` is among its templates); its
    exports stopped before it is torn down, whatever happened."""
    with vcluster_at(3, prefix, port) as vc:
        try:
            yield vc
        finally:
            stop_exports(vc)


def add_mirror_instance(vc: VCluster, name: str, nodes: str, size: str) -> None:
    """``gnt-instance add -t mirror -n PRIMARY:SECONDARY`` of a busybox KVM guest with one
    disk of ``size`` (``64M``, ``1G``), started; returns once its job is done."""
    gnt(vc, "gnt-instance", "add", "-t", "mirror", "--disk", f"0:size={size}",
        "-o", "busybox+default", "-H", "kvm", "-B",
        f"maxmem={MEMORY_MIB},minmem={MEMORY_MIB}", "-n", nodes, name)


def serial_log(vc: VCluster, node: str, instance: str) -> Path:
    return instance_paths(layout(vc, node), instance).serial_log


def wait_marker(vc: VCluster, node: str, instance: str, timeout: float = BOOT_TIMEOUT_S
                ) -> float:
    """Until the guest kit's ready marker is in ``instance``'s serial log on ``node``;
    the monotonic time it was seen (polled every :data:`POLL_S`)."""
    log = serial_log(vc, node, instance)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.is_file() and READY_MARKER.encode() in log.read_bytes():
            return time.monotonic()
        time.sleep(POLL_S)
    raise BenchError(f"{instance} did not reach its console marker on {node} within "
                     f"{timeout:.0f} s")


def mirror_states(vc: VCluster, node: str, instance: str) -> list[MirrorDiskStatus]:
    """The sync status of each mirror disk of ``instance``, asked of its QEMU on ``node``
    (the primary) as the node daemon does."""
    driver = KvmHypervisor(layout(vc, node), SubprocessRunner(), SystemClock())
    return asyncio.run(driver.mirror_status(instance))


def wait_in_sync(vc: VCluster, node: str, instance: str, timeout: float = SYNC_TIMEOUT_S
                 ) -> float:
    """Until every mirror disk of ``instance`` (primary ``node``) is in sync; the
    monotonic time it was seen. A mirror degraded for :data:`DEGRADED_GRACE_S` on end
    (nothing copying to a secondary) fails at once rather than at ``timeout``."""
    deadline = time.monotonic() + timeout
    degraded_since: float | None = None
    while True:
        now = time.monotonic()
        states = mirror_states(vc, node, instance)
        if states and all(s.state == MirrorSync.IN_SYNC for s in states):
            return now
        if not any(s.state == MirrorSync.DEGRADED for s in states):
            degraded_since = None
        elif degraded_since is None:
            degraded_since = now
        if now > deadline or (degraded_since and now - degraded_since > DEGRADED_GRACE_S):
            raise BenchError(f"{instance} on {node} not in sync: "
                             f"{[(str(s.state), s.error) for s in states]}")
        time.sleep(0.1)


def where(vc: VCluster, instance: str) -> list[str]:
    """``[primary node, status]`` of ``instance`` as ``gnt-instance list`` shows them."""
    return gnt(vc, "gnt-instance", "list", "--no-headers", "-o", "pnode,status",
               instance).stdout.split()


def kill_node(vc: VCluster, node: str, instance: str) -> None:
    """The node's death as the durability test plays it: SIGKILL to ``instance``'s QEMU
    and to the node daemon of ``node``. What the host's death takes with it goes too:
    the instance's taps (in the network namespace all virtual nodes share, where they
    would keep the next node from creating its own) and its run files (``/run`` is
    empty after a reboot)."""
    driver = KvmHypervisor(layout(vc, node), SubprocessRunner(), SystemClock())
    qemu = read_pidfile(driver.paths(instance).pidfile)
    noded = daemon_pid(layout(vc, node).pid_file("corral-noded"), NODED_MATCH)
    if qemu is None or noded is None:
        raise BenchError(f"{node}: no QEMU of {instance} ({qemu}) or no node daemon ({noded})")
    for pid in (qemu, noded):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
    while asyncio.run(driver.live_record(instance)) is not None:
        if time.monotonic() > deadline:
            raise BenchError(f"QEMU {qemu} of {instance} on {node} survived SIGKILL")
        time.sleep(POLL_S)
    asyncio.run(driver.cleanup(instance))


def revive_node(vc: VCluster, node: str) -> None:
    """Start the node daemon of ``node`` again and wait until the master candidates have
    caught up (jobs need a majority of them)."""
    target = vnode(vc, node)
    if daemon_pid(layout(vc, node).pid_file("corral-noded"), NODED_MATCH) is None:
        cluster.start_noded(target)
    cluster.wait_until_listening(target)
    deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
    with Client(str(vc.luxi_socket)) as client:
        while client.QueryConfigValues(["lagging_candidates"])[0]:
            if time.monotonic() > deadline:
                raise BenchError(f"the master candidates did not catch up after {node}")
            time.sleep(0.2)
