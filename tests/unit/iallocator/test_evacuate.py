"""``node-evacuate`` and ``change-group``: the requests Corral builds, the answers' checks,
the built-in allocator's decisions, and Debian's hail answering the same requests."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from corral.iallocator import builtin, external, moves, runner
from corral.iallocator import protocol as proto
from corral.objects import AdminState, AllocPolicy, DiskTemplate, Node
from corral.opcodes.codec import decode_opcode
from tests.support.config import ConfigBuilder, instance_cluster, instance_with_disks

HAIL = Path("/usr/lib/ganeti/3.0/usr/lib/ganeti/iallocators/hail")
needs_hail = pytest.mark.skipif(not (HAIL.exists() and os.access(HAIL, os.X_OK)),
                                reason="ganeti-htools-3.0 (hail) not installed")


def add(b: ConfigBuilder, name: str, node: Node, template: DiskTemplate = DiskTemplate.DISKLESS,
        *, up: bool = True, hypervisor: str = "fake", memory: int = 512) -> None:
    state = AdminState.UP if up else AdminState.DOWN
    be = {"maxmem": memory, "minmem": memory}
    if template is DiskTemplate.DISKLESS:
        b.instance(name, node, admin_state=state, hypervisor=hypervisor, os="noop",
                   beparams=be)
    else:
        instance_with_disks(b, name, node, template=template, admin_state=state,
                            hypervisor=hypervisor, beparams=be)


def node(b: ConfigBuilder, name: str) -> Node:
    return b.data.nodes[f"node-{name}"]


def document(b: ConfigBuilder, request: dict[str, Any], free: dict[str, int] | None = None,
             free_disk: int = 100_000) -> dict[str, Any]:
    figures = {uuid: proto.NodeFigures(total_memory=8192, reserved_memory=0,
                                       free_memory=(free or {}).get(n.name, 4096),
                                       total_disk=100_000, free_disk=free_disk, total_cpus=4)
               for uuid, n in b.data.nodes.items() if not n.offline and n.vm_capable}
    doc = proto.cluster_data(b.data, figures)
    doc["request"] = request
    return doc


def evacuate(instances: list[str], mode: str = "primary-only") -> dict[str, Any]:
    return proto.node_evacuate_request(instances, mode)


def placed(answer: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """instance → (OP_ID, target) from an answer's jobs (checked against the protocol)."""
    evac = proto.parse_evacuation(answer["result"])
    found = {}
    for job in evac.jobs:
        op = job[0]
        decode_opcode(op)  # every job is an opcode Corral runs
        found[op["instance_name"]] = (op["OP_ID"], op.get("target_node"))
    return found


# --- the protocol ----------------------------------------------------------------------

def test_requests_have_ganetis_keys() -> None:
    assert proto.node_evacuate_request(["a"], "all") == {
        "type": "node-evacuate", "instances": ["a"], "evac_mode": "all"}
    assert proto.change_group_request(["a"], ["g1"]) == {
        "type": "change-group", "instances": ["a"], "target_groups": ["g1"]}


@pytest.mark.parametrize(
    "result",
    [
        pytest.param([[], []], id="two-parts"),
        pytest.param([[["a", "g"]], [], []], id="short-moved"),
        pytest.param([[], [["a"]], []], id="short-failed"),
        pytest.param([[], [], [[{"OP_ID": "OP_INSTANCE_REMOVE", "instance_name": "a"}]]],
                     id="foreign-opcode"),
        pytest.param([[], [], [{"OP_ID": "OP_INSTANCE_MIGRATE"}]], id="job-not-a-list"),
    ],
)
def test_evacuation_results_outside_the_protocol_are_refused(result: Any) -> None:
    with pytest.raises(proto.ProtocolError, match="Invalid iallocator evacuation result"):
        proto.check_answer("node-evacuate", {"success": True, "info": "", "result": result})


def test_a_failed_answer_is_not_shape_checked() -> None:
    answer = proto.check_answer("change-group", {"success": False, "info": "no", "result": []})
    assert answer["info"] == "no"


# --- the built-in allocator: node-evacuate -----------------------------------------------

def test_moves_follow_state_hypervisor_and_storage() -> None:
    b = instance_cluster(nodes=3)
    n1 = node(b, "node1")
    add(b, "run", n1)
    add(b, "stopped", n1, up=False)
    add(b, "chroot", n1, DiskTemplate.SHAREDFILE, hypervisor="chroot")
    add(b, "file-down", n1, DiskTemplate.FILE, up=False)
    add(b, "plain-up", n1, DiskTemplate.PLAIN)
    answer = builtin.allocate(document(b, evacuate(["run", "stopped", "chroot", "file-down",
                                                    "plain-up"])))
    kinds = {name: op for name, (op, _) in placed(answer).items()}
    assert kinds == {"run": "OP_INSTANCE_MIGRATE", "stopped": "OP_INSTANCE_FAILOVER",
                     "chroot": "OP_INSTANCE_FAILOVER", "file-down": "OP_INSTANCE_MOVE",
                     "plain-up": "OP_INSTANCE_MIGRATE"}
    jobs = proto.parse_evacuation(answer["result"]).jobs
    migrations = {job[0]["instance_name"]: job[0] for job in jobs
                  if job[0]["OP_ID"] == "OP_INSTANCE_MIGRATE"}
    assert migrations["run"]["allow_failover"] is True       # shared: may fall back
    assert migrations["plain-up"]["allow_failover"] is False  # its disks must be copied
    assert answer["info"] == ("Request successful: 0 instances failed to move and 5 were"
                              " moved successfully")


def test_most_free_memory_wins_and_instances_spread() -> None:
    b = instance_cluster(nodes=3)
    for index in range(4):
        add(b, f"i{index}", node(b, "node1"), memory=1000)
    doc = document(b, evacuate([f"i{i}" for i in range(4)]),
                   free={"node2": 5000, "node3": 3500})
    targets = [target for _, target in placed(builtin.allocate(doc)).values()]
    # free memory after each placement: node2 5000 → 4000 → 3000, node3 3500 → 2500
    assert targets == ["node2", "node2", "node3", "node2"]


def test_stopped_instances_spread_too() -> None:
    b = instance_cluster(nodes=3)
    for index in range(4):
        add(b, f"s{index}", node(b, "node1"), up=False, memory=1000)
    doc = document(b, evacuate([f"s{i}" for i in range(4)]))
    targets = sorted(str(target) for _, target in placed(builtin.allocate(doc)).values())
    assert targets == ["node2", "node2", "node3", "node3"]


def test_unusable_nodes_other_groups_and_evacuated_nodes_are_never_targets() -> None:
    b = instance_cluster(nodes=6)
    far = b.group("far")
    b.node("node9", far)
    b.data.put(node(b, "node3").evolve(0, drained=True))
    b.data.put(node(b, "node4").evolve(0, offline=True))
    b.data.put(node(b, "node5").evolve(0, vm_capable=False))
    b.data.put(node(b, "node1").evolve(0, drained=True))  # drained first, then emptied
    add(b, "x1", node(b, "node1"))
    add(b, "x2", node(b, "node2"))
    doc = document(b, evacuate(["x1", "x2"]), free={"node9": 8000, "node3": 8000})
    # node1 and node2 are both being emptied: node6 is the only usable node of the group
    assert {target for _, target in placed(builtin.allocate(doc)).values()} == {"node6"}


def test_memory_is_needed_only_by_instances_that_will_run() -> None:
    b = instance_cluster(nodes=2)
    add(b, "big-up", node(b, "node1"), memory=3000)
    add(b, "big-down", node(b, "node1"), up=False, memory=3000)
    answer = builtin.allocate(document(b, evacuate(["big-up", "big-down"]),
                                       free={"node2": 1000}))
    assert list(placed(answer)) == ["big-down"]
    failed = proto.parse_evacuation(answer["result"]).failed
    assert [name for name, _ in failed] == ["big-up"]
    assert "No valid allocation solutions found" in failed[0][1]


def test_copied_disks_need_space_on_the_target() -> None:
    b = instance_cluster(nodes=2)
    add(b, "f1", node(b, "node1"), DiskTemplate.FILE, up=False)
    add(b, "shared1", node(b, "node1"), DiskTemplate.SHAREDFILE, up=False)
    answer = builtin.allocate(document(b, evacuate(["f1", "shared1"]), free_disk=100))
    assert list(placed(answer)) == ["shared1"]


def test_secondary_evacuation_and_offline_sources() -> None:
    b = instance_cluster(nodes=3)
    add(b, "d1", node(b, "node1"))
    add(b, "f1", node(b, "node1"), DiskTemplate.FILE)
    answer = builtin.allocate(document(b, evacuate(["d1"], "secondary-only")))
    assert proto.parse_evacuation(answer["result"]).failed[0][1] == (
        "Instances with disk template 'diskless' have no secondary node to evacuate")
    b.data.put(node(b, "node1").evolve(0, offline=True))
    answer = builtin.allocate(document(b, evacuate(["d1", "f1"])))
    assert placed(answer)["d1"][0] == "OP_INSTANCE_FAILOVER"  # cannot migrate off a dead node
    reason = dict(proto.parse_evacuation(answer["result"]).failed)["f1"]
    assert reason == "Its file disks are on offline node node1 and cannot be copied"


# --- the built-in allocator: change-group -------------------------------------------------

def grouped() -> ConfigBuilder:
    """``default`` (node1, node2) holding ``mover``; ``pref``, ``last`` (``last_resort``)
    and ``never`` (``unallocable``) groups of two nodes each. (hail refuses to move an
    instance out of a one-node group: N+1 fails there.)"""
    b = instance_cluster(nodes=2)
    for name, policy in (("pref", AllocPolicy.PREFERRED), ("last", AllocPolicy.LAST_RESORT),
                         ("never", AllocPolicy.UNALLOCABLE)):
        group = b.group(name, alloc_policy=policy)
        b.node(f"{name}1", group)
        b.node(f"{name}2", group)
    add(b, "mover", node(b, "node1"), memory=1000)
    return b


def test_change_group_prefers_preferred_groups_and_never_unallocable_ones() -> None:
    b = grouped()
    request = proto.change_group_request(["mover"], [])
    answer = builtin.allocate(document(b, request, free={"never1": 8000, "last1": 8000}))
    assert placed(answer) == {"mover": ("OP_INSTANCE_MIGRATE", "pref1")}
    assert proto.parse_evacuation(answer["result"]).moved[0].group == "pref"
    answer = builtin.allocate(document(b, request, free={"pref1": 100, "pref2": 100}))
    assert placed(answer)["mover"][1] == "last1"
    only_never = proto.change_group_request(["mover"], ["group-never"])
    assert placed(builtin.allocate(document(b, only_never))) == {}


def test_soft_errors_can_be_ignored() -> None:
    b = grouped()
    doc = document(b, proto.change_group_request(["mover"], ["group-pref"]))
    doc["nodegroups"]["group-pref"]["ipolicy"]["minmax"][0]["max"]["memory-size"] = 512
    assert placed(builtin.allocate(doc)) == {}
    assert placed(builtin.allocate(doc, ignore_soft_errors=True))["mover"][1] == "pref1"


# --- running allocators -----------------------------------------------------------------

def test_the_soft_errors_flag_reaches_both_kinds_of_allocator(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert runner._options({"ignore-soft-errors": None, "a": 1}) == [
        "--a=1", "--ignore-soft-errors"]
    b = grouped()
    doc = document(b, proto.change_group_request(["mover"], ["group-pref"]))
    doc["nodegroups"]["group-pref"]["ipolicy"]["minmax"][0]["max"]["memory-size"] = 512
    answer = asyncio.run(runner.run("corral", doc, {runner.IGNORE_SOFT_ERRORS: None}))
    assert placed(answer)["mover"][1] == "pref1"
    path = tmp_path / "request.json"
    path.write_text(json.dumps(doc))
    assert external.main([str(path)]) == 0
    assert placed(json.loads(capsys.readouterr().out)) == {}
    assert external.main([str(path), "--ignore-soft-errors"]) == 0
    assert placed(json.loads(capsys.readouterr().out))["mover"][1] == "pref1"


def test_the_rule_in_one_table() -> None:
    cases = [(True, "fake", "diskless", "migrate"), (False, "fake", "diskless", "failover"),
             (True, "chroot", "plain", "move"), (False, "fake", "file", "move"),
             (True, "fake", "file", "migrate"), (True, "nosuch", "sharedfile", "failover")]
    for running, hv, template, kind in cases:
        choice = moves.choose(running=running, hypervisor=hv, disk_template=template)
        assert choice.kind.value == kind, (running, hv, template)
    assert moves.choose(running=True, hypervisor="fake", disk_template="diskless",
                        always_failover=True).kind is moves.MoveKind.FAILOVER
    with pytest.raises(ValueError, match="needs a target node"):
        moves.move_opcode(moves.MoveKind.MOVE, "x", None)


# --- hail on Corral's requests -----------------------------------------------------------

def run_hail(doc: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "hail-request.json"
    path.write_text(json.dumps(proto.for_ganeti(doc)))
    proc = subprocess.run([str(HAIL), str(path)], capture_output=True, text=True, check=False,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proto.check_answer(doc["request"]["type"], json.loads(proc.stdout))


@needs_hail
def test_hail_answers_corrals_node_evacuate_request(tmp_path: Path) -> None:
    b = instance_cluster(nodes=3)
    n1 = node(b, "node1")
    add(b, "h-run", n1)
    add(b, "h-stopped", n1, up=False)
    add(b, "h-shared", n1, DiskTemplate.SHAREDFILE)
    add(b, "h-file", n1, DiskTemplate.FILE)
    doc = document(b, evacuate(["h-run", "h-stopped", "h-shared", "h-file"]))
    answer = run_hail(doc, tmp_path)
    assert answer["success"] is True, answer
    found = placed(answer)
    assert set(found) == {"h-run", "h-stopped", "h-shared"}
    assert {target for _, target in found.values()} <= {"node2", "node3"}
    failed = dict(proto.parse_evacuation(answer["result"]).failed)
    assert "cannot be relocated" in failed["h-file"]  # hail does not move node-local disks
    ours = placed(builtin.allocate(doc))
    assert set(ours) == {"h-run", "h-stopped", "h-shared", "h-file"}


@needs_hail
def test_hail_answers_corrals_change_group_request(tmp_path: Path) -> None:
    b = grouped()
    doc = document(b, proto.change_group_request(["mover"], ["group-pref", "group-last"]))
    answer = run_hail(doc, tmp_path)
    assert answer["success"] is True, answer
    assert placed(answer)["mover"][1] in {"pref1", "pref2", "last1", "last2"}
    moved = proto.parse_evacuation(answer["result"]).moved
    assert moved[0].group in {"pref", "last"}
