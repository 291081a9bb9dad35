"""The iallocator protocol document, Corral's built-in allocator, and external allocators
(a script, and Debian's hail when installed) answering the same request."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from corral.iallocator import builtin, runner
from corral.iallocator import protocol as proto
from corral.objects import AllocPolicy
from corral.objects import ipolicy as pol
from tests.support.config import ConfigBuilder, instance_cluster

HAIL = Path("/usr/lib/ganeti/3.0/usr/lib/ganeti/iallocators/hail")


def document(builder: ConfigBuilder, free: dict[str, int], **request: Any) -> dict[str, Any]:
    figures = {
        uuid: proto.NodeFigures(total_memory=8192, reserved_memory=0,
                                free_memory=free.get(node.name, 4096), total_disk=100_000,
                                free_disk=100_000, total_cpus=4)
        for uuid, node in builder.data.nodes.items()}
    doc = proto.cluster_data(builder.data, figures)
    args: dict[str, Any] = {"name": "new1", "disk_template": "plain", "memory": 512, "vcpus": 1,
                            "disks": [{"size": 1024, "mode": "rw"}], "nics": [],
                            "os": "noop", "hypervisor": "fake"}
    args.update(request)
    doc["request"] = proto.allocate_request(**args)
    return doc


def test_document_has_ganetis_keys() -> None:
    doc = document(instance_cluster(nodes=2), {})
    assert {"version", "cluster_name", "cluster_tags", "enabled_hypervisors", "ipolicy",
            "nodegroups", "nodes", "instances", "request"} <= set(doc)
    node = doc["nodes"]["node1"]
    assert {"total_memory", "free_memory", "total_disk", "free_disk", "total_cpus",
            "i_pri_memory", "group", "offline", "drained", "vm_capable"} <= set(node)
    assert doc["request"]["required_nodes"] == 1
    assert doc["request"]["disk_space_total"] == 1024


def test_builtin_picks_most_free_memory_and_skips_unusable_nodes() -> None:
    b = instance_cluster(nodes=3)
    doc = document(b, {"node1": 1024, "node2": 6000, "node3": 3000})
    assert builtin.allocate(doc)["result"] == ["node2"]
    doc["nodes"]["node2"]["drained"] = True
    assert builtin.allocate(doc)["result"] == ["node3"]
    too_big = document(b, {}, memory=10_000)
    answer = builtin.allocate(too_big)
    assert answer["success"] is False
    assert answer["result"] == []


def test_builtin_honours_policy_vcpu_ratio_and_exclusion_tags() -> None:
    b = instance_cluster(nodes=2)
    doc = document(b, {}, memory=64_000)
    doc["nodes"]["node1"]["free_memory"] = doc["nodes"]["node2"]["free_memory"] = 100_000
    assert builtin.allocate(doc)["success"] is False  # memory-size above the policy's max
    doc = document(b, {}, vcpus=17)
    doc["nodegroups"]["group-default"]["ipolicy"]["minmax"][0]["max"]["cpu-count"] = 32
    assert builtin.allocate(doc)["success"] is False  # 17 > 4 CPUs x vcpu-ratio 4
    doc = document(b, {"node1": 6000, "node2": 3000}, tags=["svc:web"])
    doc["cluster_tags"] = ["htools:iextags:svc:"]
    doc["instances"]["web0"] = {"nodes": ["node1"], "tags": ["svc:web"], "vcpus": 1,
                                "memory": 128, "admin_state": "up"}
    assert builtin.allocate(doc)["result"] == ["node2"]


def test_builtin_mirrored_pairs_keep_n_plus_1() -> None:
    b = instance_cluster(nodes=3)
    doc = document(b, {"node1": 4000, "node2": 4000, "node3": 4000}, disk_template="drbd",
                   memory=1000)
    doc["nodegroups"]["group-default"]["ipolicy"] = pol.small_instance_ipolicy()
    # node3 already backs 3,500 MiB of node1's instances: it cannot back another 1,000.
    doc["instances"]["m0"] = {"nodes": ["node1", "node3"], "tags": [], "vcpus": 1,
                              "memory": 3500, "admin_state": "up"}
    answer = builtin.allocate(doc)
    assert answer["success"], answer
    primary, secondary = answer["result"]
    assert primary != secondary
    assert (primary, secondary) != ("node1", "node3")


def test_last_resort_groups_only_when_nothing_else_fits() -> None:
    b = instance_cluster(nodes=1)
    spare = b.group("spare", alloc_policy=AllocPolicy.LAST_RESORT)
    b.node("node9", spare)
    doc = document(b, {"node1": 256, "node9": 8000})
    assert builtin.allocate(doc)["result"] == ["node9"]
    doc = document(b, {"node1": 4000, "node9": 8000})
    assert builtin.allocate(doc)["result"] == ["node1"]


def test_answers_outside_the_protocol_are_refused() -> None:
    with pytest.raises(proto.ProtocolError, match="missing key 'info'"):
        proto.check_answer("allocate", {"success": True, "result": ["a"]})
    with pytest.raises(proto.ProtocolError, match="invalid number of nodes"):
        proto.check_answer("allocate", {"success": True, "info": "", "result": ["a"]}, 2)
    legacy = proto.check_answer("allocate", {"success": True, "info": "", "nodes": ["a"]}, 1)
    assert legacy["result"] == ["a"]


def test_external_allocator_found_in_the_search_path(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "fixed"
    script.write_text("#!/bin/sh\ntest -s \"$1\" || exit 3\n"
                      "echo '{\"success\": true, \"info\": \"ok\", \"result\": [\"node2\"]}'\n")
    script.chmod(0o755)
    broken = tmp_path / "broken"
    broken.write_text("#!/bin/sh\necho no way >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("CORRAL_IALLOCATOR_PATH", str(tmp_path))
    doc = document(instance_cluster(nodes=2), {})
    assert asyncio.run(runner.run("fixed", doc))["result"] == ["node2"]
    with pytest.raises(runner.AllocatorError, match="exited with code 1: no way"):
        asyncio.run(runner.run("broken", doc))
    with pytest.raises(runner.AllocatorError, match="Can't find allocator 'nosuch'"):
        asyncio.run(runner.run("nosuch", doc))
    assert asyncio.run(runner.run("corral", doc))["success"] is True


def test_entry_point_answers_like_hail(tmp_path: Path) -> None:
    doc = document(instance_cluster(nodes=3), {"node1": 1000, "node2": 2000, "node3": 7000})
    path = tmp_path / "request.json"
    path.write_text(json.dumps(doc))
    from corral.iallocator import external
    code = external.main([str(path)])
    assert code == 0
    if HAIL.exists() and os.access(HAIL, os.X_OK):
        path.write_text(json.dumps(proto.for_ganeti(doc)))
        proc = subprocess.run([str(HAIL), str(path)], capture_output=True, text=True,
                              check=False, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["result"] == builtin.allocate(doc)["result"] == ["node3"]
