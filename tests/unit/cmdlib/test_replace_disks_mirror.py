"""``gnt-instance replace-disks`` of mirror instances on the master: the secondary's halves
rebuilt (-s) or moved to a new node (-n, -I), the exports, the whole-disk resync by the
running primary with its progress, and the modes refused."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from corral.cmdlib import instance_replace_disks, node_evacuate  # noqa: F401  (registers)
from corral.errors import ErrorCode, OpExecError
from corral.objects import Node
from corral.objects.instance import AdminState
from corral.opcodes import decode_opcode
from corral.opcodes.mobility import OpInstanceReplaceDisks, OpNodeEvacuate, ReplaceDisksMode
from corral.rpc.payloads import MirrorDiskSync
from tests.support.lu_harness import LuHarness, MakeHarness, expect_failure
from tests.unit.cmdlib.test_cmdlib_instance_drbd import lvm_free
from tests.unit.cmdlib.test_cmdlib_instance_mirror import NAME, cluster, create, mirror_disks


def replace(mode: ReplaceDisksMode, **kw: Any) -> OpInstanceReplaceDisks:
    return OpInstanceReplaceDisks(instance_name=NAME, mode=mode, **kw)


def ready(make_harness: MakeHarness, *, running: bool = True) -> LuHarness:
    """A mirror instance on node2:node3 (running unless told), on a 4-node cluster."""
    h = make_harness(cluster(nodes=4))
    h.rpc.script("node_info", fn=lvm_free(10_000))
    h.run_sync(create())
    if running:
        inst = h.data.instance_by_name(NAME)
        assert inst is not None
        asyncio.run(h.writer.commit(inst.evolve(h.clock.now(), admin_state=AdminState.UP,
                                                disks_active=True)))
    h.rpc.reset()
    h.feedback.clear()
    return h


def sequence(h: LuHarness) -> list[tuple[str, str]]:
    skip = {"node_info", "hooks_runner", "instance_mirror_status", "config_replicate"}
    return [(c.name, c.node) for c in h.rpc.calls if c.name not in skip]


def copying(*steps: tuple[int, int]) -> Any:
    """instance_mirror_status answers: disk 0 resyncing through ``steps`` (done, total),
    then in sync."""
    answers = iter(steps)

    def answer(node: Node, args: tuple[Any, ...]) -> list[MirrorDiskSync]:
        step = next(answers, None)
        if step is None:
            return [MirrorDiskSync(index=0, state="in_sync", done=1, total=1)]
        return [MirrorDiskSync(index=0, state="resyncing", done=step[0], total=step[1])]
    return answer


def test_new_secondary_moves_the_half_and_switches_the_export(
        make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    [(before, old)] = mirror_disks(h)
    h.rpc.script("instance_mirror_status", fn=copying((0, 1024), (512, 1024)))
    h.run_sync(replace("replace_new_secondary", remote_node="node4"))
    [(disk, lid)] = mirror_disks(h)
    assert disk.nodes == ("node-node2", "node-node4")
    assert (lid.path, lid.port, lid.export, lid.address) == (
        old.path, old.port, old.export, "10.0.0.4")
    assert sequence(h) == [
        ("blockdev_create", "node4"), ("mirror_export_start", "node4"),
        ("instance_mirror_resync", "node2"), ("mirror_export_stop", "node3"),
        ("blockdev_remove", "node3")]
    start = h.rpc.calls_of("mirror_export_start")[0].args
    assert (start[1], start[2], start[3]) == ("10.0.0.4", old.port, "node2")
    bundle, disks, full = h.rpc.calls_of("instance_mirror_resync")[0].args
    assert (disks, full) == ([0], True)
    assert bundle.disks[0].logical_id[2] == lid.uri
    assert h.rpc.calls_of("blockdev_remove")[0].args[0].logical_id == before.logical_id
    progress = [line for line in h.feedback if "% done" in line]
    assert progress == [" - INFO: - device disk/0:  0.00% done, no time estimate",
                        " - INFO: - device disk/0: 50.00% done, 1s remaining (estimated)"]
    h.assert_persisted()


def test_rebuild_on_the_secondary(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    before = mirror_disks(h)
    h.run_sync(replace("replace_on_secondary"))
    assert mirror_disks(h) == before
    assert sequence(h) == [
        ("mirror_export_stop", "node3"), ("blockdev_remove", "node3"),
        ("blockdev_create", "node3"), ("mirror_export_start", "node3"),
        ("instance_mirror_resync", "node2")]
    assert " - INFO: Instance vm1.example.com's disks are in sync" in h.feedback


def test_stopped_instance_gets_its_copy_at_the_next_start(make_harness: MakeHarness) -> None:
    h = ready(make_harness, running=False)
    h.run_sync(replace("replace_new_secondary", remote_node="node4"))
    assert h.rpc.calls_of("instance_mirror_resync") == []
    assert any("filled when it starts" in line for line in h.feedback)
    assert mirror_disks(h)[0][0].nodes == ("node-node2", "node-node4")


def test_allocator_picks_the_new_secondary(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    h.run_sync(replace("replace_new_secondary", iallocator="corral"))
    [(disk, _)] = mirror_disks(h)
    assert disk.nodes[0] == "node-node2"
    assert disk.nodes[1] in {"node-node1", "node-node4"}


def test_export_failure_on_the_new_node_undoes_it(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    before = mirror_disks(h)
    h.rpc.script("mirror_export_start", "node4", fail="qemu-storage-daemon died")
    with pytest.raises(OpExecError, match=r"Cannot export disk disk/0 .* on node node4"):
        h.run_sync(replace("replace_new_secondary", remote_node="node4"))
    assert mirror_disks(h) == before
    assert sequence(h)[-2:] == [("mirror_export_stop", "node4"), ("blockdev_remove", "node4")]


def test_a_copy_that_stays_degraded_fails(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    h.rpc.script("instance_mirror_status", fn=lambda node, args: [MirrorDiskSync(
        index=0, state="degraded", error="secondary unreachable")])
    with pytest.raises(OpExecError, match=r"disk/0 \(secondary unreachable\) of instance"):
        h.run_sync(replace("replace_on_secondary"))


def test_primary_mode_is_refused(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    expect_failure(h, replace("replace_on_primary"), code=ErrorCode.INVAL,
                   match="only their secondary halves can be replaced")


def test_auto_rebuilds_the_degraded_disks(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    h.run_sync(create(name="two", disks=[{"size": 64}, {"size": 64}]))
    inst = h.data.instance_by_name("two")
    assert inst is not None
    asyncio.run(h.writer.commit(inst.evolve(h.clock.now(), admin_state=AdminState.UP)))
    h.rpc.reset()
    states = iter([[MirrorDiskSync(index=0, state="in_sync"),
                    MirrorDiskSync(index=1, state="degraded", error="gone")]])
    h.rpc.script("instance_mirror_status", fn=lambda node, args: next(states, [
        MirrorDiskSync(index=0, state="in_sync"), MirrorDiskSync(index=1, state="in_sync")]))
    h.run_sync(OpInstanceReplaceDisks(instance_name="two", mode="replace_auto"))
    created = [c.args[0].iv_name for c in h.rpc.calls_of("blockdev_create")]
    assert created == ["disk/1"]
    [resync] = h.rpc.calls_of("instance_mirror_resync")
    assert resync.args[1:] == ([1], True)


def test_auto_with_nothing_degraded_says_so(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    h.run_sync(replace("replace_auto"))
    assert "No disks need replacement for instance 'vm1.example.com'" in h.feedback
    assert h.rpc.calls_of("blockdev_create") == []


def test_auto_needs_a_running_instance(make_harness: MakeHarness) -> None:
    h = ready(make_harness, running=False)
    expect_failure(h, replace("replace_auto"), code=ErrorCode.STATE,
                   match="is not running: only its running primary knows")


def test_not_enough_space_for_the_new_half(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    h.rpc.script("node_info", "node4", fn=lambda node, args: {
        "memory_total": 8192, "memory_free": 4096, "cpu_total": 4, "hv": {},
        "storage": [{"type": "file", "name": "/srv/corral/file-storage",
                     "storage_free": 100, "storage_size": 20_000}]})
    expect_failure(h, replace("replace_new_secondary", remote_node="node4"),
                   code=ErrorCode.NORES, match="Not enough disk space on target node node4")



def test_evacuate_secondaries_moves_the_mirror_halves(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    result = h.run_sync(OpNodeEvacuate(node_name="node3", mode="secondary-only",
                                       remote_node="node1"))
    [[op]] = result["jobs"]
    assert (op["mode"], op["remote_node"]) == ("replace_new_secondary", "node1")
    h.run_sync(decode_opcode(op))
    assert mirror_disks(h)[0][0].nodes == ("node-node2", "node-node1")


def test_dead_old_secondary_only_warns(make_harness: MakeHarness) -> None:
    h = ready(make_harness)
    node = h.data.nodes["node-node3"]
    asyncio.run(h.writer.commit(node.evolve(h.clock.now(), offline=True)))
    h.run_sync(replace("replace_new_secondary", remote_node="node4"))
    assert mirror_disks(h)[0][0].nodes == ("node-node2", "node-node4")
    assert "node3" not in {node for _, node in sequence(h)}
    assert "WARNING: Can't remove the old copy of disk/0 on node node3: Node is marked" \
        " offline (hint: remove it manually)" in h.feedback
