"""``OP_INSTANCE_MOVE`` on the real virtual cluster: the disk travels between two node
daemons over TLS and arrives byte for byte; the source copy goes; the instance runs on
the target."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import pytest

from corral.hypervisor import linux
from corral.layout import NodeLayout
from corral.luxi.client import wait_for_job
from corral.vcluster.cluster import FILE_STORAGE_DIR
from tests.integration.conftest import LiveCluster

DISK_MIB = 64
MARKER = b"CORRAL-MOVE-MARKER-0123456789"
PROGRESS = re.compile(r"^\* disk/0: (\d+\.\d) % \((\d+)/64 MiB, \d+\.\d MiB/s\)$")


def _node_root(live: LiveCluster, node: str) -> Path:
    return Path(next(n.root for n in live.vc.nodes if n.name == node))


def _instance_dir(live: LiveCluster, node: str, name: str) -> Path:
    return _node_root(live, node) / FILE_STORAGE_DIR.lstrip("/") / name


def _disk_file(live: LiveCluster, node: str, name: str) -> Path:
    (found,) = _instance_dir(live, node, name).iterdir()
    return found


def _fields(live: LiveCluster, name: str) -> list[str]:
    result = live.gnt("gnt-instance", "list", "--no-headers", "-o", "pnode,status", name)
    assert result.code == 0, result.stderr
    return result.stdout.split()


def _add(live: LiveCluster, name: str, hypervisor: str, node: str) -> None:
    added = live.gnt("gnt-instance", "add", "-t", "file", "--disk", f"0:size={DISK_MIB}M",
                     "-o", "busybox+default", "-H", hypervisor, "-n", node, name)
    assert added.code == 0, added.stderr


def _move(live: LiveCluster, name: str, target: str, **fields: Any) -> tuple[str, Any,
                                                                                list[str]]:
    """Run the move as a job: (status, result, log messages)."""
    messages: list[str] = []
    op = {"OP_ID": "OP_INSTANCE_MOVE", "instance_name": name, "target_node": target, **fields}
    with live.client() as client:
        job = client.SubmitJob([op])
        status, _, result = wait_for_job(client, job,
                                         on_log=lambda entry: messages.append(str(entry[3])))
    return status, result, messages


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def test_a_file_disk_arrives_byte_for_byte_and_the_source_goes(live: LiveCluster) -> None:
    _add(live, "mv1", "fake", "node2")
    try:
        source = _disk_file(live, "node2", "mv1")
        with source.open("r+b") as handle:
            handle.seek(DISK_MIB * 1024 * 1024 - 4096)
            handle.write(MARKER)
        before = _digest(source)
        status, result, messages = _move(live, "mv1", "node3")
        assert status == "success", (result, messages)
        target = _disk_file(live, "node3", "mv1")
        assert target.name == source.name
        assert _digest(target) == before
        with target.open("rb") as handle:
            handle.seek(DISK_MIB * 1024 * 1024 - 4096)
            assert handle.read(len(MARKER)) == MARKER
        assert not source.exists()
        assert not _instance_dir(live, "node2", "mv1").exists()
        assert _fields(live, "mv1") == ["node3", "running"]
        shown = [m for m in messages if PROGRESS.match(m)]
        assert shown, messages
        assert shown[-1].startswith("* disk/0: 100.0 % (64/64 MiB")
        assert "Removing the disks on the original node" in messages
    finally:
        assert live.gnt("gnt-instance", "remove", "-f", "mv1").code == 0


def test_a_refused_move_changes_nothing(live: LiveCluster) -> None:
    _add(live, "mv2", "fake", "node2")
    try:
        status, result, _ = _move(live, "mv2", "node2")
        assert status == "error"
        assert result[0][0] == "OpPrereqError"
        assert "Instance mv2 is already on the node node2" in result[0][1][0]
        status, result, _ = _move(live, "mv2", "node3", compress="lzop")
        assert status == "error"
        assert "Compression tool 'lzop' is not supported" in result[0][1][0]
        assert _fields(live, "mv2") == ["node2", "running"]
        assert _disk_file(live, "node2", "mv2").exists()
        assert not _instance_dir(live, "node3", "mv2").exists()
    finally:
        assert live.gnt("gnt-instance", "remove", "-f", "mv2").code == 0


def _chroot_processes(chroot_dir: Path) -> list[int]:
    return [pid for pid, _root in linux.processes_below(str(chroot_dir))]


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot instances need root (mounts)")
def test_a_chroot_instance_moves_compressed_and_runs_on_the_target(live: LiveCluster) -> None:
    _add(live, "mvchr", "chroot", "node2")
    old = NodeLayout(_node_root(live, "node2")).run_dir / "chroot" / "mvchr"
    new = NodeLayout(_node_root(live, "node3")).run_dir / "chroot" / "mvchr"
    try:
        assert _chroot_processes(old)
        status, result, messages = _move(live, "mvchr", "node3", compress="gzip")
        assert status == "success", (result, messages)
        assert _fields(live, "mvchr") == ["node3", "running"]
        assert _chroot_processes(new), "no process runs inside the chroot on the target"
        assert _chroot_processes(old) == []
        assert not _instance_dir(live, "node2", "mvchr").exists()
    finally:
        assert live.gnt("gnt-instance", "remove", "-f", "mvchr").code == 0
