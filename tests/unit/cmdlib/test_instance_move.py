"""Instance move through the processor: stop, create, copy, switch, start; refusals and
the rollback of every failure (the source copy is never touched before the switch)."""

from __future__ import annotations

from typing import Any

import pytest

from corral.cmdlib import instance_move
from corral.errors import ErrorCode, OpExecError
from corral.locking.levels import Level
from corral.objects import AdminState, Instance, Node
from corral.objects.instance import DiskTemplate
from corral.opcodes.mobility import OpInstanceMove
from corral.rpc.payloads import ImpExpStatus
from corral.rpc.results import NodeResult
from tests.support.config import ConfigBuilder, instance_cluster, instance_with_disks
from tests.support.lu_harness import LuHarness, MakeHarness, expect_failure

STEPS = ("instance_shutdown", "blockdev_create", "import_start", "export_start",
         "impexp_cleanup", "blockdev_remove", "file_storage_dir_remove", "blockdev_assemble",
         "instance_start")
MIB = 1024 * 1024


def cluster(template: DiskTemplate = DiskTemplate.FILE, sizes: tuple[int, ...] = (128,),
            **inst: Any) -> ConfigBuilder:
    b = instance_cluster(nodes=3)
    inst.setdefault("admin_state", AdminState.UP)
    instance_with_disks(b, "vm1", b.data.nodes["node-node2"], template=template, sizes=sizes,
                        **inst)
    return b


def state(h: LuHarness) -> Instance:
    return h.data.instances["inst-vm1"]


def steps(h: LuHarness) -> list[tuple[str, str]]:
    return [(c.name, c.node) for c in h.rpc.calls if c.name in STEPS]


def move(**kw: Any) -> OpInstanceMove:
    kw.setdefault("target_node", "node3")
    return OpInstanceMove(instance_name="vm1", **kw)


def finished_copies(h: LuHarness, size_mib: int = 128, error: str = "",
                    failing: str = "node3") -> None:
    """Every transfer reports a finished copy of ``size_mib``; with ``error`` the one on
    node ``failing`` failed with it."""
    def answer(node: Node, args: tuple[Any, ...]) -> Any:
        failed = bool(error) and node.name == failing
        done = 0 if failed else size_mib * MIB
        return [ImpExpStatus(name=args[0][0], mode="import", connected=True, done=True,
                             success=not failed, error=error if failed else "",
                             bytes_done=done, bytes_total=size_mib * MIB, rate=120.3)]
    h.rpc.script("impexp_status", fn=answer)


# --- the move -----------------------------------------------------------------------


def test_move_copies_switches_removes_the_source_and_starts(make_harness: MakeHarness) -> None:
    h = make_harness(cluster())
    finished_copies(h)
    h.run_sync(move(shutdown_timeout=30, compress="gzip"))
    assert steps(h) == [
        ("instance_shutdown", "node2"), ("blockdev_create", "node3"),
        ("import_start", "node3"), ("export_start", "node2"),
        ("impexp_cleanup", "node3"), ("impexp_cleanup", "node2"),
        ("blockdev_remove", "node2"), ("file_storage_dir_remove", "node2"),
        ("blockdev_assemble", "node3"), ("instance_start", "node3"),
    ]
    assert h.rpc.calls_of("instance_shutdown")[0].args[1] == 30.0
    opts, inst, label, dest = h.rpc.calls_of("import_start")[0].args
    assert (opts.compress, label, dest.kind, dest.disk.uuid) == ("gzip", "disk/0",
                                                                 "raw-disk", "disk-vm1-0")
    assert dest.disk.nodes == ("node-node3",)
    assert inst.primary_node_name == "node3"
    e_opts, host, port, e_inst, _, source = h.rpc.calls_of("export_start")[0].args
    assert (host, port) == (h.data.nodes["node-node3"].primary_ip, 40000)
    assert e_opts.magic == opts.magic
    assert len(opts.magic) >= 32
    assert e_inst.primary_node_name == "node2"
    assert source.disk.nodes == ("node-node2",)
    assert state(h).primary_node == "node-node3"
    assert h.data.disks["disk-vm1-0"].nodes == ("node-node3",)
    assert state(h).disks_active
    assert "* disk/0: 100.0 % (128/128 MiB, 120.3 MiB/s)" in h.feedback
    h.assert_persisted()


def test_the_exporter_connects_where_the_import_listens(make_harness: MakeHarness) -> None:
    b = cluster()
    b.data.put(b.data.nodes["node-node2"].evolve(0.0, secondary_ip="198.51.100.2"))
    h = make_harness(b)
    finished_copies(h)
    h.rpc.script("import_start", payload={"name": "import-1", "port": 4242,
                                          "address": "192.0.2.33"})
    h.run_sync(move())
    assert h.rpc.calls_of("export_start")[0].args[1:3] == ("192.0.2.33", 4242)
    h.rpc.script("import_start", payload={"name": "import-1", "port": 4243,
                                          "address": "0.0.0.0"})
    h.run_sync(move(target_node="node2"))
    assert h.rpc.calls_of("export_start")[1].args[1:3] == ("198.51.100.2", 4243)


def test_hooks_and_locks_cover_source_and_target(make_harness: MakeHarness) -> None:
    h = make_harness(cluster())
    lu = instance_move.LUInstanceMove(h.ctx, move(), h.feedback.append)
    lu.expand_names()
    plan = lu.declare_locks()
    for level in (Level.NODE, Level.NODE_RES):
        request = plan.get(level)
        assert request is not None
        assert request.names == frozenset({"node2", "node3"})
    finished_copies(h)
    h.run_sync(move(shutdown_timeout=30))
    pre = [c for c in h.rpc.calls_of("hooks_runner") if c.args[:2] == ("instance-move", "pre")]
    post = [c for c in h.rpc.calls_of("hooks_runner")
            if c.args[:2] == ("instance-move", "post")]
    assert sorted(c.node for c in pre) == sorted(c.node for c in post) == \
        ["node1", "node2", "node3"]
    env = pre[0].args[2]
    assert (env["GANETI_TARGET_NODE"], env["GANETI_SHUTDOWN_TIMEOUT"]) == ("node3", "30")
    assert env["GANETI_INSTANCE_PRIMARY"] == "node2"
    assert post[0].args[2]["GANETI_POST_INSTANCE_PRIMARY"] == "node3"


def test_a_stopped_instance_is_moved_but_not_started(make_harness: MakeHarness) -> None:
    h = make_harness(cluster(admin_state=AdminState.DOWN))
    finished_copies(h)
    h.run_sync(move())
    assert h.rpc.calls_of("node_info") == []
    assert h.rpc.calls_of("instance_start") == []
    assert "Not checking memory on the secondary node as instance will not be started" \
        in h.feedback
    assert state(h).primary_node == "node-node3"
    assert not state(h).disks_active


def test_every_disk_is_copied_in_order(make_harness: MakeHarness) -> None:
    h = make_harness(cluster(template=DiskTemplate.PLAIN, sizes=(128, 256)))
    finished_copies(h)
    h.run_sync(move())
    labels = [c.args[2] for c in h.rpc.calls_of("import_start")]
    assert labels == ["disk/0", "disk/1"]
    assert [c.args[0].uuid for c in h.rpc.calls_of("blockdev_remove")] == \
        ["disk-vm1-0", "disk-vm1-1"]
    assert all(c.node == "node2" for c in h.rpc.calls_of("blockdev_remove"))
    assert h.data.disks["disk-vm1-1"].nodes == ("node-node3",)


@pytest.mark.parametrize("template", [DiskTemplate.SHAREDFILE, DiskTemplate.DISKLESS])
def test_shared_storage_only_changes_the_primary(make_harness: MakeHarness,
                                                template: DiskTemplate) -> None:
    sizes = () if template is DiskTemplate.DISKLESS else (128,)
    h = make_harness(cluster(template=template, sizes=sizes))
    h.run_sync(move())
    assert steps(h) == [("instance_shutdown", "node2"), *(
        [("blockdev_assemble", "node3")] if sizes else []), ("instance_start", "node3")]
    assert state(h).primary_node == "node-node3"
    if sizes:
        assert h.data.disks["disk-vm1-0"].nodes == ("node-node3",)


# --- refusals --------------------------------------------------------------------------


def _drained(b: ConfigBuilder) -> None:
    b.data.put(b.data.nodes["node-node3"].evolve(0.0, drained=True))


def _offline(b: ConfigBuilder) -> None:
    b.data.put(b.data.nodes["node-node3"].evolve(0.0, offline=True))


def _not_vm_capable(b: ConfigBuilder) -> None:
    b.data.put(b.data.nodes["node-node3"].evolve(0.0, vm_capable=False))


def _offline_source(b: ConfigBuilder) -> None:
    b.data.put(b.data.nodes["node-node2"].evolve(0.0, offline=True))


REFUSALS = [
    ("same-node", None, {"target_node": "node2"}, ErrorCode.STATE,
     "Instance vm1 is already on the node node2"),
    ("unknown-node", None, {"target_node": "node9"}, ErrorCode.NOENT, "Node 'node9' not known"),
    ("drained", _drained, {}, ErrorCode.STATE, "Can't use drained node node3"),
    ("offline", _offline, {}, ErrorCode.STATE, "Can't use offline node: node3"),
    ("not-vm-capable", _not_vm_capable, {}, ErrorCode.STATE,
     "Can't use non-vm_capable node node3"),
    ("offline-source", _offline_source, {}, ErrorCode.STATE,
     "Cannot copy the disks of instance vm1 from its offline primary node: node2"),
    ("lzop", None, {"compress": "lzop"}, ErrorCode.INVAL,
     "Compression tool 'lzop' is not supported for disk copies; use one of none, gzip,"
     " gzip-fast, gzip-slow"),
]


@pytest.mark.parametrize(("case", "change", "fields", "code", "match"), REFUSALS,
                         ids=[r[0] for r in REFUSALS])
def test_refusals_leave_everything_as_it_was(
    make_harness: MakeHarness, case: str, change: Any, fields: dict[str, Any],
    code: ErrorCode, match: str,
) -> None:
    b = cluster()
    if change is not None:
        change(b)
    h = make_harness(b)
    expect_failure(h, move(**fields), code=code, match=match)
    assert steps(h) == []


def test_adopted_block_devices_are_refused(make_harness: MakeHarness) -> None:
    h = make_harness(cluster(template=DiskTemplate.BLOCKDEV))
    expect_failure(h, move(), code=ErrorCode.STATE,
                   match="Instance disk 0 has disk type blockdev and is not suitable for"
                         " copying")


def test_memory_is_checked_for_an_instance_that_is_up(make_harness: MakeHarness) -> None:
    h = make_harness(cluster(beparams={"minmem": 4096, "maxmem": 4096}))
    expect_failure(h, move(), code=ErrorCode.NORES,
                   match="Not enough memory on node node3 for failing over instance vm1:"
                         " needed 4096 MiB")


def test_the_target_group_policy_applies_unless_ignored(make_harness: MakeHarness) -> None:
    b = cluster()
    other = b.group("other", ipolicy={"disk-templates": ["plain"]})
    b.data.put(b.data.nodes["node-node3"].evolve(0.0, group=other.uuid))
    h = make_harness(b)
    expect_failure(h, move(), code=ErrorCode.INVAL, match="instance policy")
    finished_copies(h)
    h.run_sync(move(ignore_ipolicy=True))
    assert state(h).primary_node == "node-node3"


# --- failures and their rollback ------------------------------------------------------


def assert_untouched_and_restarted(h: LuHarness) -> None:
    """Configuration as before the move; the source disk kept; the instance running
    again on the source node."""
    assert state(h).primary_node == "node-node2"
    assert h.data.disks["disk-vm1-0"].nodes == ("node-node2",)
    assert [c.node for c in h.rpc.calls_of("blockdev_remove")] == ["node3"]
    assert steps(h)[-2:] == [("blockdev_assemble", "node2"), ("instance_start", "node2")]
    h.assert_persisted()


def test_a_failed_copy_removes_the_target_disk_and_restarts(make_harness: MakeHarness) -> None:
    h = make_harness(cluster())
    finished_copies(h, error="Checksum mismatch: the data written differ from the data sent")
    with pytest.raises(OpExecError, match="Errors during disk copy: Copy of disk/0 failed:"
                                          " import on node node3: Checksum mismatch"):
        h.run_sync(move())
    assert_untouched_and_restarted(h)
    assert sorted(c.node for c in h.rpc.calls_of("impexp_cleanup")) == ["node2", "node3"]
    assert "WARNING: Some disks failed to copy, aborting" in h.feedback


def test_a_failed_export_start_cleans_the_import_up(make_harness: MakeHarness) -> None:
    h = make_harness(cluster())
    h.rpc.script("export_start", fail="Cannot open source /x: No such file")
    with pytest.raises(OpExecError, match="Cannot start the export of disk/0 on node node2"):
        h.run_sync(move())
    assert [c.node for c in h.rpc.calls_of("impexp_cleanup")] == ["node3"]
    assert_untouched_and_restarted(h)


def test_a_failed_disk_creation_restarts_on_the_source(make_harness: MakeHarness) -> None:
    h = make_harness(cluster())
    h.rpc.script("blockdev_create", fail="Not enough free space")
    with pytest.raises(OpExecError, match="Can't create block device disk/0 on node node3"):
        h.run_sync(move())
    assert h.rpc.calls_of("import_start") == []
    assert_untouched_and_restarted(h)


def test_a_stopped_instance_is_not_restarted_after_a_failure(make_harness: MakeHarness) -> None:
    h = make_harness(cluster(admin_state=AdminState.DOWN))
    finished_copies(h, error="Aborted", failing="node2")
    with pytest.raises(OpExecError, match="export on node node2: Aborted"):
        h.run_sync(move())
    assert h.rpc.calls_of("instance_start") == []
    assert state(h).primary_node == "node-node2"


def test_a_failed_shutdown_stops_the_move_unless_consistency_is_ignored(
    make_harness: MakeHarness,
) -> None:
    h = make_harness(cluster())
    h.rpc.script("instance_shutdown", fail="hypervisor is stuck")
    with pytest.raises(OpExecError, match="Could not shutdown instance vm1 on node node2:"
                                          " hypervisor is stuck"):
        h.run_sync(move())
    assert steps(h) == [("instance_shutdown", "node2")]
    assert state(h).primary_node == "node-node2"
    finished_copies(h)
    h.run_sync(move(ignore_consistency=True))
    assert any("Proceeding anyway" in line for line in h.feedback)
    assert state(h).primary_node == "node-node3"


def test_an_unknown_transfer_fails_the_copy(make_harness: MakeHarness) -> None:
    h = make_harness(cluster())
    h.rpc.script("impexp_status", payload=[None])
    with pytest.raises(OpExecError, match="no longer knows the transfer"):
        h.run_sync(move())
    assert_untouched_and_restarted(h)


def test_a_failed_start_on_the_target_keeps_the_move(make_harness: MakeHarness) -> None:
    h = make_harness(cluster())
    finished_copies(h)
    h.rpc.script("instance_start", "node3", fn=lambda node, _args: NodeResult.failure(
        node.name, "instance_start", "no kernel"))
    with pytest.raises(OpExecError, match="Could not start instance vm1 on node node3:"
                                          " no kernel"):
        h.run_sync(move())
    assert state(h).primary_node == "node-node3"
    assert [c.node for c in h.rpc.calls_of("blockdev_remove")] == ["node2"]
