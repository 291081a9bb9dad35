"""Allocation of one instance on a generated 1,000-node, 20,000-instance cluster: Corral's
built-in allocator (``corral-iallocator``) against Debian's ``hail`` on the same request file.

hail's time grows steeply with the cluster (about 40 s at 100 nodes / 2,000 instances on the
reference machine; it did not finish in 10 minutes at 1,000 / 20,000), so at full scale it
gets ``HAIL_CAP`` seconds and, if it has not answered, its time is reported as that cap (a
lower bound). Placement quality is compared on a smaller cluster (``SMALL``) where hail
answers.

Both run as external allocators (a process reading the request file and printing the answer),
so both times include start-up and JSON parsing; the built-in allocator's in-process time is
reported as context. Placement quality: the cluster score after placing the instance where
each allocator says, computed the same way for both (the built-in allocator's ``score``: the
standard deviation of the nodes' free-memory fractions plus that of their free-disk
fractions, lower is better; hail's own score weighs more metrics, but these two dominate it).
Targets: built-in time ≤ hail's, built-in score ≤ hail's.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Figure, median, report
from corral.iallocator import builtin
from corral.objects import ipolicy as pol

NODES = 1_000
INSTANCES = 20_000
RUNS = 3
HAIL_CAP = 60.0
SMALL = (50, 1_000)
HAIL = Path("/usr/lib/ganeti/3.0/usr/lib/ganeti/iallocators/hail")
TOTAL_MEMORY = 131_072
TOTAL_DISK = 4_000_000
RESERVED = 2_048


def _node(name: str, group: str) -> dict[str, Any]:
    return {"tags": [], "primary_ip": "192.0.2.1", "secondary_ip": "192.0.2.1",
            "offline": False, "drained": False, "master_candidate": False, "group": group,
            "master_capable": True, "vm_capable": True,
            "ndparams": {"spindle_count": 1, "exclusive_storage": False, "cpu_speed": 1.0},
            "total_memory": TOTAL_MEMORY, "reserved_memory": RESERVED,
            "free_memory": TOTAL_MEMORY - RESERVED, "total_disk": TOTAL_DISK,
            "free_disk": TOTAL_DISK, "total_spindles": 0, "free_spindles": 0,
            "total_cpus": 64, "reserved_cpus": 0, "i_pri_memory": 0, "i_pri_up_memory": 0}


def generate(nodes_count: int = NODES, instances_count: int = INSTANCES,
             seed: int = 12) -> dict[str, Any]:
    """A consistent request document: every node's free figures match its instances."""
    rng = random.Random(seed)
    groups = {f"group-{g}": {"name": f"group{g}", "alloc_policy": "preferred", "networks": [],
                             "tags": [], "ipolicy": pol.default_ipolicy()} for g in range(2)}
    nodes = {f"node{i:04d}": _node(f"node{i:04d}", f"group-{i % 2}") for i in range(nodes_count)}
    names = sorted(nodes)
    instances = {}
    for i in range(instances_count):
        node_name = rng.choice(names)
        node = nodes[node_name]
        memory = rng.choice((1024, 2048, 4096))
        disk = rng.choice((10_240, 20_480, 51_200))
        if node["free_memory"] < memory or node["free_disk"] < disk:
            continue
        node["free_memory"] -= memory
        node["i_pri_memory"] += memory
        node["i_pri_up_memory"] += memory
        node["free_disk"] -= disk
        instances[f"inst{i:05d}"] = {
            "tags": [], "admin_state": "up", "admin_state_source": "admin",
            "vcpus": rng.choice((1, 2, 4)), "memory": memory, "spindle_use": 1, "os": "noop",
            "nodes": [node_name],
            "nics": [{"mac": f"aa:00:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}",
                      "ip": None, "mode": "bridged", "link": "br0", "bridge": "br0"}],
            "disks": [{"dev_type": "plain", "size": disk, "mode": "rw", "spindles": None}],
            "disk_template": "plain", "disks_active": True, "hypervisor": "kvm",
            "disk_space_total": disk}
    request = {"type": "allocate", "name": "new1", "disk_template": "plain", "tags": [],
               "os": "noop", "vcpus": 2, "memory": 4096, "spindle_use": 1,
               "disks": [{"size": 20_480, "mode": "rw"}], "disk_space_total": 20_480,
               "nics": [{"mac": "auto", "ip": None, "mode": "bridged", "link": "br0"}],
               "required_nodes": 1, "hypervisor": "kvm"}
    return {"version": 2, "cluster_name": "bench.example.com", "cluster_tags": [],
            "enabled_hypervisors": ["kvm"], "ipolicy": pol.default_ipolicy(),
            "nodegroups": groups, "nodes": nodes, "instances": instances, "request": request}


def score_after(document: dict[str, Any], chosen: str) -> float:
    """The cluster score once the request's instance is on ``chosen``."""
    request = document["request"]
    state = builtin._state(document)
    node = state.nodes[chosen]
    node.free_mem -= int(request["memory"])
    node.free_disk -= int(request["disk_space_total"])
    return builtin.score(state.nodes.values())


def _timed(argv: list[str], cap: float = 600.0) -> tuple[float, dict[str, Any] | None]:
    """Wall seconds and decoded answer; (cap, None) when the allocator ran out of time."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=cap)
    except subprocess.TimeoutExpired:
        return cap, None
    return time.perf_counter() - start, json.loads(proc.stdout)


def _builtin_command() -> list[str]:
    found = shutil.which("corral-iallocator") or str(Path(sys.executable).parent /
                                                      "corral-iallocator")
    return [found]


def _both(document: dict[str, Any], runs: int, cap: float) -> tuple[
        list[tuple[float, dict[str, Any] | None]], list[tuple[float, dict[str, Any] | None]]]:
    with tempfile.TemporaryDirectory(prefix="corral-bench-alloc-") as tmp:
        path = Path(tmp) / "request.json"
        path.write_text(json.dumps(document))
        ours = [_timed([*_builtin_command(), str(path)]) for _ in range(runs)]
        theirs = [_timed([str(HAIL), str(path)], cap)] if HAIL.exists() else []
    return ours, theirs


def _chosen(answer: dict[str, Any] | None) -> str:
    if not answer or not answer.get("success") or not answer.get("result"):
        raise RuntimeError(f"allocation failed: {answer}")
    return str(answer["result"][0])


def run() -> list[Figure]:
    print(f"allocator: one allocation on {NODES:,} nodes / {INSTANCES:,} instances", flush=True)
    document = generate()
    start = time.perf_counter()
    builtin.allocate(document)
    in_process = time.perf_counter() - start
    ours, theirs = _both(document, RUNS, HAIL_CAP)
    our_time = median([t for t, _ in ours])
    chosen = _chosen(ours[0][1])
    figures = []
    if theirs:
        hail_time, hail_answer = theirs[0]
        hail_text = (f"hail {hail_time:.1f} s" if hail_answer is not None
                     else f"hail had not answered after {HAIL_CAP:.0f} s")
        figures.append(report(Figure(
            "allocate 1 of 20k (built-in)", our_time, "s", hail_time, "max",
            f"median of {RUNS} runs of corral-iallocator, chose {chosen}; in-process"
            f" {in_process:.2f} s; target: {hail_text}")))
        small = generate(*SMALL)
        small_ours, small_theirs = _both(small, 1, 600.0)
        ours_small, hail_small = _chosen(small_ours[0][1]), _chosen(small_theirs[0][1])
        our_score, hail_score = score_after(small, ours_small), score_after(small, hail_small)
        figures.append(report(Figure(
            "allocation score (built-in)", our_score, "", hail_score, "max",
            f"{SMALL[0]} nodes / {SMALL[1]:,} instances: free mem+disk balance after the"
            f" placement, lower is better; built-in chose {ours_small}"
            f" ({small_ours[0][0]:.2f} s), hail chose {hail_small} ({small_theirs[0][0]:.1f} s,"
            f" score {hail_score:.6f})")))
    else:
        figures.append(report(Figure(
            "allocate 1 of 20k (built-in)", our_time, "s", None, "max",
            f"hail not installed; in-process {in_process:.2f} s; chose {chosen}")))
    return figures


if __name__ == "__main__":
    run()
