"""Mirror (DRBD) RPC handlers on two node contexts sharing the DRBD simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from corral import serde
from corral.backend import mirror_rpc
from corral.backend.blockdev import blockdev_create, blockdev_find, blockdev_getdimensions
from corral.backend.context import NodeContext
from corral.backend.server import decode_args
from corral.errors import BlockDeviceError, RpcError
from corral.rpc.calls import CALLS
from corral.rpc.client import NodeTarget
from corral.rpc.methods.mirror_calls import MirrorCalls
from corral.rpc.payloads import (
    DiskDimensions,
    DrbdSyncProgress,
    MirrorStatusResult,
    NodeDisk,
    PauseResult,
)
from corral.rpc.results import NodeResult
from corral.storage.base import LDiskStatus
from corral.storage.drbd.parse import MinorStatus, parse_proc
from corral.storage.symlinks import instance_disk_link
from tests.support.drbd import DrbdNodes, node_context, node_disk

SIZE = 64


class Pair:
    def __init__(self, tmp_path: Path) -> None:
        self.nodes = DrbdNodes(tmp_path)
        self.ctx = {name: node_context(self.nodes, name) for name in ("node1", "node2")}

    def disk(self, node: str, index: int = 0) -> NodeDisk:
        return node_disk(self.nodes, index, SIZE, node)

    def status(self, node: str, minor: int = 0) -> MinorStatus:
        return parse_proc(self.nodes.nodes[node].drbd.proc_text()).minors[minor]

    async def create(self, index: int = 0) -> None:
        """As the master does: the secondary first, then the primary (forced primary)."""
        for node, primary in (("node2", False), ("node1", True)):
            wire = serde.dumps([self.disk(node, index), SIZE, "inst1", primary, "", False])
            kwargs = decode_args(CALLS["blockdev_create"], wire)
            await blockdev_create(self.ctx[node], **kwargs)


@pytest.fixture
def pair(tmp_path: Path) -> Pair:
    return Pair(tmp_path)


def test_the_wire_keeps_children_and_side(pair: Pair) -> None:
    wire = serde.loads(serde.dumps([pair.disk("node2")]))
    assert wire[0]["dynamic_params"] == {"local-ip": "192.0.2.2", "remote-ip": "192.0.2.1",
                                         "local-minor": 0, "remote-minor": 0}
    decoded = decode_args(CALLS["blockdev_getmirrorstatus"], serde.dumps([wire]))["disks"][0]
    assert decoded == pair.disk("node2")


def test_create_then_mirror_status_follows_the_resync(pair: Pair) -> None:
    async def scenario() -> None:
        await pair.create()
        assert (pair.status("node1").lrole, pair.status("node1").cstatus) == ("Primary",
                                                                              "SyncSource")
        pair.nodes.settle(16)            # a quarter of 64 MiB at 1024 KiB/s
        [status] = await mirror_rpc.blockdev_getmirrorstatus(pair.ctx["node2"],
                                                             [pair.disk("node2")])
        assert (status.major, status.minor, status.is_degraded) == (147, 0, True)
        assert status.sync_percent == pytest.approx(25.0, abs=0.2)
        assert (status.estimated_time, status.ldisk_status) == (48, LDiskStatus.SYNC)
        assert status.dev_path.endswith("/drbd0")
        progress = await mirror_rpc.drbd_wait_sync(pair.ctx["node2"], [pair.disk("node2")])
        assert progress.all_done is False
        assert progress.min_resync == pytest.approx(25.0, abs=0.2)
        pair.nodes.settle()
        done = await mirror_rpc.drbd_wait_sync(pair.ctx["node1"], [pair.disk("node1")])
        assert done == DrbdSyncProgress(True, 100.0)
        found = await blockdev_find(pair.ctx["node1"], pair.disk("node1"))
        assert found is not None
        assert (found.is_degraded, found.ldisk_status) == (False, LDiskStatus.OKAY)
        sizes = await blockdev_getdimensions(pair.ctx["node2"],
                                             [pair.disk("node2"), pair.disk("node2", 3)])
        assert sizes == [DiskDimensions(SIZE << 20, 1), None]

    asyncio.run(scenario())


def test_mirror_status_multi_reports_each_disk(pair: Pair) -> None:
    async def scenario() -> None:
        await pair.create()
        pair.nodes.settle()
        answers = await mirror_rpc.blockdev_getmirrorstatus_multi(
            pair.ctx["node1"], [pair.disk("node1"), pair.disk("node1", 5)])
        assert answers[0].ok
        assert isinstance(answers[0].status, type(answers[0].status))
        assert answers[1] == MirrorStatusResult(False, "Can't find device disk/5")
        with pytest.raises(BlockDeviceError, match="Can't find device disk/5"):
            await mirror_rpc.blockdev_getmirrorstatus(pair.ctx["node1"], [pair.disk("node1", 5)])

    asyncio.run(scenario())


def test_disconnect_then_attach_dual_primary_and_roles(pair: Pair) -> None:
    async def scenario() -> None:
        await pair.create()
        pair.nodes.settle()
        for node in ("node1", "node2"):
            await mirror_rpc.drbd_disconnect_net(pair.ctx[node], [pair.disk(node)])
            assert pair.status(node).is_standalone
        assert await mirror_rpc.drbd_needs_activation(
            pair.ctx["node2"], [pair.disk("node2")]) == [pair.disk("node2").uuid]
        await asyncio.gather(*(mirror_rpc.drbd_attach_net(pair.ctx[node], [pair.disk(node)], True)
                               for node in ("node1", "node2")))
        assert await mirror_rpc.drbd_needs_activation(pair.ctx["node2"], [pair.disk("node2")]) == []
        await mirror_rpc.blockdev_open(pair.ctx["node2"], "inst1", [pair.disk("node2")], False)
        assert (pair.status("node2").lrole, pair.status("node2").rrole) == ("Primary", "Primary")
        link = instance_disk_link(pair.ctx["node2"].layout, "inst1", 0)
        assert link.is_symlink()
        await mirror_rpc.blockdev_close(pair.ctx["node1"], "inst1", [pair.disk("node1")])
        assert pair.status("node2").rrole == "Secondary"
        await mirror_rpc.blockdev_close(pair.ctx["node2"], "inst1", [pair.disk("node2")])
        assert not link.is_symlink()

    asyncio.run(scenario())


def test_attach_net_refuses_a_connected_disk(pair: Pair) -> None:
    async def scenario() -> None:
        await pair.create()
        with pytest.raises(BlockDeviceError, match="not standalone"):
            await mirror_rpc.drbd_attach_net(pair.ctx["node1"], [pair.disk("node1")], False)

    asyncio.run(scenario())


def test_open_without_good_data_names_the_failure(pair: Pair) -> None:
    async def scenario() -> None:
        await pair.create()
        await mirror_rpc.drbd_disconnect_net(pair.ctx["node2"], [pair.disk("node2")])
        with pytest.raises(BlockDeviceError, match=r"Can't open devices: .*UpToDate"):
            await mirror_rpc.blockdev_open(pair.ctx["node2"], "inst1", [pair.disk("node2")],
                                           True)

    asyncio.run(scenario())


def test_pause_and_resume_sync(pair: Pair) -> None:
    async def scenario() -> None:
        await pair.create()
        paused = await mirror_rpc.blockdev_pause_resume_sync(
            pair.ctx["node1"], [pair.disk("node1"), pair.disk("node1", 4)], True)
        assert paused == [PauseResult(True, None), PauseResult(
            False, "Cannot change sync for device disk/4: device not found")]
        assert pair.status("node2").cstatus == "PausedSyncT"
        again = await mirror_rpc.blockdev_pause_resume_sync(
            pair.ctx["node1"], [pair.disk("node1")], True)
        assert again == [PauseResult(False, "Pause for device disk/0 failed")]
        await mirror_rpc.blockdev_pause_resume_sync(pair.ctx["node1"], [pair.disk("node1")],
                                                    False)
        assert pair.status("node2").cstatus == "SyncTarget"

    asyncio.run(scenario())


def test_remove_and_add_children(pair: Pair) -> None:
    async def scenario() -> None:
        await pair.create()
        pair.nodes.settle()
        disk = pair.disk("node2")
        await mirror_rpc.blockdev_removechildren(pair.ctx["node2"], disk, list(disk.child_disks))
        assert pair.status("node2").is_diskless
        await mirror_rpc.blockdev_addchildren(pair.ctx["node2"], disk, list(disk.child_disks))
        assert pair.status("node2").cstatus == "SyncTarget"
        pair.nodes.settle()
        assert pair.status("node2").is_disk_uptodate
        with pytest.raises(BlockDeviceError, match="has local storage"):
            await mirror_rpc.blockdev_addchildren(pair.ctx["node2"], disk,
                                                  list(disk.child_disks))

    asyncio.run(scenario())


def test_drbd_calls_refuse_other_templates(pair: Pair) -> None:
    plain = pair.disk("node1").child_disks[0]
    with pytest.raises(BlockDeviceError, match="not a drbd disk"):
        asyncio.run(mirror_rpc.drbd_disconnect_net(pair.ctx["node1"], [plain]))


class Recorder(MirrorCalls):
    def __init__(self) -> None:
        self.sent: list[tuple[str, list[str], tuple[Any, ...]]] = []

    async def send(self, name: str, nodes: Sequence[Any], args: tuple[Any, ...],
                   timeout: float | None) -> dict[str, NodeResult[Any]]:
        self.sent.append((name, [n.name for n in nodes], args))
        return {n.name: NodeResult(n.name, name, payload=[]) for n in nodes}


def test_multi_status_sends_each_node_its_own_disks(pair: Pair) -> None:
    rpc = Recorder()
    targets = [NodeTarget(name, "127.0.0.1", 1811) for name in ("node1", "node2")]
    disks = {name: [pair.disk(name)] for name in ("node1", "node2")}
    results = asyncio.run(rpc.blockdev_getmirrorstatus_multi(targets, disks))
    assert set(results) == {"node1", "node2"}
    assert sorted((name, args[0][0].dynamic_params.local_ip)  # type: ignore[union-attr]
                  for _, [name], args in rpc.sent) == [("node1", "192.0.2.1"),
                                                       ("node2", "192.0.2.2")]
    with pytest.raises(RpcError, match="no argument for node"):
        asyncio.run(rpc.blockdev_getmirrorstatus_multi(targets, {"node1": []}))


def test_context_uses_the_simulators(pair: Pair) -> None:
    ctx: NodeContext = pair.ctx["node1"]
    assert ctx.services.drbd_runner is pair.nodes.nodes["node1"].drbd
