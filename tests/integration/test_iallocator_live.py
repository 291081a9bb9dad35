"""Allocators on a real virtual cluster: Debian's hail unchanged (``-I hail``), Corral's own
(no ``-n``), and ``-n`` with ``-I`` refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import LiveCluster

HAIL = Path("/usr/lib/ganeti/3.0/usr/lib/ganeti/iallocators/hail")
ADD = ("gnt-instance", "add", "-t", "diskless", "-o", "noop", "-H", "fake", "--no-nics",
       "--no-ip-check", "--no-name-check", "--no-start")


def _primary(live: LiveCluster, name: str) -> str:
    result = live.gnt("gnt-instance", "list", "--no-headers", "-o", "pnode", name)
    assert result.code == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.skipif(not HAIL.exists(), reason="ganeti-htools-3.0 (hail) not installed")
def test_hail_places_the_instance(live: LiveCluster) -> None:
    added = live.gnt(*ADD, "-I", "hail", "hailed1")
    try:
        assert added.code == 0, added.stderr + added.stdout
        text = added.stdout + added.stderr
        assert "via iallocator hail: " in text
        chosen = text.split("via iallocator hail: ", 1)[1].split()[0]
        assert _primary(live, "hailed1") == chosen
    finally:
        live.gnt("gnt-instance", "remove", "-f", "hailed1")


def test_builtin_allocator_without_a_node(live: LiveCluster) -> None:
    added = live.gnt(*ADD, "allocated1")
    try:
        assert added.code == 0, added.stderr + added.stdout
        assert "via iallocator corral: " in added.stdout + added.stderr
        assert _primary(live, "allocated1") in {"node1", "node2", "node3"}
    finally:
        live.gnt("gnt-instance", "remove", "-f", "allocated1")


def test_node_and_allocator_together_are_refused(live: LiveCluster) -> None:
    both = live.gnt(*ADD, "-n", "node1", "-I", "hail", "both1")
    assert both.code != 0
    assert live.gnt("gnt-instance", "list", "--no-headers", "-o", "name", "both1").code != 0 \
        or "both1" not in live.gnt("gnt-instance", "list", "--no-headers").stdout


def test_debug_iallocator_shows_request_and_answer(live: LiveCluster) -> None:
    result = live.gnt("gnt-debug", "iallocator", "--dir", "in", "--mode", "allocate",
                      "-t", "diskless", "--mem", "128", "--vcpus", "1", "--disks", "",
                      "--nics", "", "-o", "noop", "probe1")
    assert result.code == 0, result.stderr + result.stdout
    doc = json.loads(result.stdout)
    assert doc["request"]["type"] == "allocate"
    assert set(doc["nodes"]) == {"node1", "node2", "node3"}


@pytest.mark.skipif(not HAIL.exists(), reason="ganeti-htools-3.0 (hail) not installed")
def test_debug_iallocator_runs_hail_and_corral(live: LiveCluster) -> None:
    for name in ("hail", "corral"):
        result = live.gnt("gnt-debug", "iallocator", "--dir", "out", "-I", name, "--mode",
                          "allocate", "-t", "diskless", "--mem", "128", "--vcpus", "1",
                          "--disks", "", "--nics", "", "-o", "noop", "probe2")
        assert result.code == 0, result.stderr + result.stdout
        answer = json.loads(result.stdout)
        assert answer["success"] is True, answer
        assert answer["result"][0] in {"node1", "node2", "node3"}
