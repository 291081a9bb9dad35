"""Xen instances on a real virtual cluster whose nodes answer ``xl`` from the simulator.

The cluster's node daemons run with ``--simulate-xen`` (as ``corral vcluster up``
starts them): the ``xen-pvm``/``xen-hvm`` drivers are the real ones, only the
``xl`` command lines are answered by :mod:`corral.testing.xl`.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.layout import NodeLayout
from corral.testing.xl import XlSimulator
from corral.vcluster import cluster
from corral.vcluster.cluster import VNode
from tests.integration.conftest import LiveCluster, RunResult, _can_bind_loopback_range

PORT = 18500
"""This module's own virtual cluster (ports 18500-18549 are this file's)."""
MIGRATION_PORT = 18501
"""Where the target's socat receives a migrating domain (``migration_port``)."""


@pytest.fixture(scope="module")
def xen_live() -> Iterator[LiveCluster]:
    if not _can_bind_loopback_range():
        pytest.skip("cannot bind addresses in 127.0.0.0/8 beyond 127.0.0.1 here")
    directory = Path(tempfile.mkdtemp(prefix="corral-xen-")) / "vc"
    hvparams = {kind: {**params, "migration_port": MIGRATION_PORT}
                for kind, params in cluster.xen_hvparams(directory).items()}
    try:
        yield LiveCluster(cluster.up(directory, 2, feedback=lambda _msg: None, port=PORT,
                                     init_options={"hvparams": hvparams}))
    finally:
        cluster.down(directory, feedback=lambda _msg: None)
        shutil.rmtree(directory.parent, ignore_errors=True)


def _ok(live: LiveCluster, *args: str) -> RunResult:
    result = live.gnt(*args)
    assert result.code == 0, (args, result.stdout, result.stderr)
    return result


def _node(live: LiveCluster, name: str) -> VNode:
    return next(n for n in live.vc.nodes if n.name == name)


def _xl(live: LiveCluster, name: str) -> XlSimulator:
    """The simulated Xen host of node ``name`` (the state its daemon uses)."""
    return XlSimulator(cluster.xen_simulation_dir(_node(live, name)), name)


def _domid(live: LiveCluster, node: str, instance: str) -> int:
    domain = _xl(live, node).state().domain(instance)
    assert domain is not None, f"{instance} is not a domain of {node}"
    return domain.domid


def _add(live: LiveCluster, kind: str, name: str, *extra: str) -> RunResult:
    return live.gnt("gnt-instance", "add", "-t", "diskless", "-o", "noop", "-H", kind,
                    "-B", "maxmem=256,minmem=128,vcpus=2", "--no-nics", "-n", "node1",
                    "--no-ip-check", "--no-name-check", *extra, name)


def _oper(live: LiveCluster, name: str) -> list[str]:
    return _ok(live, "gnt-instance", "list", "--no-headers", "--units=m",
               "-o", "status,oper_ram,oper_vcpus", name).stdout.split()


@pytest.mark.parametrize("kind", ["xen-pvm", "xen-hvm"])
def test_xen_instance_life_cycle(xen_live: LiveCluster, kind: str) -> None:
    name = f"{kind}-1"
    added = _add(xen_live, kind, name)
    assert added.code == 0, added.stderr
    assert _oper(xen_live, name) == ["running", "256", "2"]
    info = _ok(xen_live, "gnt-instance", "info", name).stdout
    assert f"Hypervisor: {kind}" in info
    assert "memory: default (256)" in info or "memory: 256" in info
    first = _domid(xen_live, "node1", name)
    _ok(xen_live, "gnt-instance", "reboot", name)
    assert _domid(xen_live, "node1", name) > first
    shown = _ok(xen_live, "gnt-instance", "console", "--show-cmd", name).stdout
    assert f"xl console {name}" in shown
    _ok(xen_live, "gnt-instance", "modify", "--runtime-memory", "128", name)
    assert _oper(xen_live, name) == ["running", "128", "2"]
    _ok(xen_live, "gnt-instance", "shutdown", "--timeout", "30", name)
    assert _oper(xen_live, name)[0] == "ADMIN_down"
    assert _xl(xen_live, "node1").state().domain(name) is None
    _ok(xen_live, "gnt-instance", "remove", "-f", name)


def test_a_domain_ignoring_shutdown_is_forced_off(xen_live: LiveCluster) -> None:
    _xl(xen_live, "node1").configure(ignore_shutdown=["stubborn*"])
    assert _add(xen_live, "xen-pvm", "stubborn1").code == 0
    _ok(xen_live, "gnt-instance", "shutdown", "--timeout", "3", "stubborn1")
    assert _oper(xen_live, "stubborn1")[0] == "ADMIN_down"
    assert _xl(xen_live, "node1").state().domain("stubborn1") is None
    _ok(xen_live, "gnt-instance", "remove", "-f", "stubborn1")


def test_refusals(xen_live: LiveCluster) -> None:
    bad = _add(xen_live, "xen-hvm", "badhvm", "-H", "xen-hvm:boot_order=xyz")
    assert bad.code != 0
    assert "boot_order" in bad.stderr + bad.stdout
    missing = _add(xen_live, "xen-pvm", "nokernel", "-H", "xen-pvm:kernel_path=/no/vmlinuz")
    assert missing.code != 0
    # refused by the node's check of the start files, before xl create
    assert "'kernel_path': /no/vmlinuz is not an existing regular file" in missing.stderr
    local = _add(xen_live, "xen-pvm", "xmlocal", "-H", "xen-pvm:xen_cmd=xm")
    assert local.code != 0
    assert "'xen_cmd' is global" in local.stderr
    _ok(xen_live, "gnt-cluster", "modify", "-H", "xen-pvm:xen_cmd=xm")
    try:
        wrong = _add(xen_live, "xen-pvm", "xmtool")
    finally:
        _ok(xen_live, "gnt-cluster", "modify", "-H", "xen-pvm:xen_cmd=xl")
    assert wrong.code != 0
    assert "xm toolstack is not installed" in wrong.stderr + wrong.stdout
    names = _ok(xen_live, "gnt-instance", "list", "--no-headers", "-o", "name").stdout.split()
    assert "badhvm" not in names
    for name in {"nokernel", "xmtool"} & set(names):
        assert _oper(xen_live, name)[0] != "running"
        _ok(xen_live, "gnt-instance", "remove", "-f", name)
    assert _xl(xen_live, "node1").state().domains == []


def test_xen_instance_migrates_between_simulated_hosts(xen_live: LiveCluster) -> None:
    added = xen_live.gnt("gnt-instance", "add", "-t", "sharedfile", "--disk", "0:size=16m",
                         "-o", "noop", "-H", "xen-pvm", "-B", "maxmem=128,vcpus=1",
                         "--no-nics", "-n", "node1", "--no-ip-check", "--no-name-check",
                         "mig1")
    assert added.code == 0, added.stderr
    _ok(xen_live, "gnt-instance", "migrate", "-f", "-n", "node2", "mig1")
    assert _xl(xen_live, "node1").state().domain("mig1") is None
    assert _xl(xen_live, "node2").state().domain("mig1") is not None
    # sent through the target's socat receiver on migration_port (Ganeti's transport)
    receiver_log = NodeLayout(Path(_node(xen_live, "node2").root)).log_dir / "xen"
    assert (receiver_log / "mig1-migrate-receive.log").exists()
    listed = _ok(xen_live, "gnt-instance", "list", "--no-headers", "-o", "pnode,status", "mig1")
    assert listed.stdout.split() == ["node2", "running"]
    _ok(xen_live, "gnt-instance", "remove", "-f", "mig1")
