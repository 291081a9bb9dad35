"""A DRBD disk between two live node daemons (DRBD simulator, real RPC over TLS).

What the master will send: the disk's ``NodeDisk`` for each node (children and its
side), created on the secondary then on the primary, then resynced, reconnected
in dual-primary mode, opened and closed on the secondary, and removed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from corral.layout import NodeLayout
from corral.objects import DiskTemplate
from corral.rpc import tls
from corral.rpc.client import NodeTarget, RpcClient
from corral.rpc.nodes import NodeRpc
from corral.rpc.payloads import DrbdLink, MirrorStatus, NodeDisk
from tests.integration.conftest import LiveCluster

UUID = "d7bd1111-0000-4000-8000-000000000001"
SIZE = 16
MINORS = {"node2": 7, "node3": 9}


def _disk(live: LiveCluster, node: str) -> NodeDisk:
    peer = "node3" if node == "node2" else "node2"
    address = {vnode.name: vnode.address for vnode in live.vc.nodes}
    children = tuple(
        NodeDisk(uuid=f"{UUID}-{part}", dev_type=DiskTemplate.PLAIN, size=size,
                 logical_id=("xenvg", f"livedrbd.disk0_{part}"))
        for part, size in (("data", SIZE), ("meta", 128)))
    return NodeDisk(
        uuid=UUID, dev_type=DiskTemplate.DRBD, size=SIZE, iv_name="disk/0",
        logical_id=("node2-uuid", "node3-uuid", 11042, MINORS["node2"], MINORS["node3"],
                    "live-secret"),
        children=tuple(child.uuid for child in children), child_disks=children,
        params={"resync-rate": 61440},
        dynamic_params=DrbdLink(local_ip=address[node], remote_ip=address[peer],
                                local_minor=MINORS[node], remote_minor=MINORS[peer]),
    )


@asynccontextmanager
async def _rpc(live: LiveCluster) -> AsyncIterator[tuple[NodeRpc, dict[str, NodeTarget]]]:
    rpc = NodeRpc(RpcClient(tls.client_ssl_context(NodeLayout(Path(live.vc.master.root)))))
    targets = {v.name: NodeTarget(v.name, v.address, v.port) for v in live.vc.nodes}
    try:
        yield rpc, targets
    finally:
        await rpc.close()


async def _wait_synced(rpc: NodeRpc, live: LiveCluster, nodes: list[NodeTarget]) -> None:
    deadline = time.monotonic() + 60
    while True:
        answers = {name: result.raise_for_failure() for name, result in (
            await rpc.drbd_wait_sync([nodes[0]], [_disk(live, nodes[0].name)])).items()}
        if all(progress.all_done for progress in answers.values()):
            return
        assert time.monotonic() < deadline, answers
        await asyncio.sleep(0.1)


def test_a_drbd_disk_between_two_live_nodes(live: LiveCluster) -> None:
    async def scenario() -> None:
        async with _rpc(live) as (rpc, at):
            pair = [at["node2"], at["node3"]]
            for name, primary in (("node3", False), ("node2", True)):
                created = await rpc.blockdev_create(at[name], _disk(live, name), SIZE, "inst1",
                                                    primary, "", False)
                created.raise_for_failure()
            try:
                await _exercise(rpc, live, at, pair)
            finally:
                for name in ("node2", "node3"):
                    (await rpc.blockdev_remove(at[name], _disk(live, name))).raise_for_failure()
            for name in ("node2", "node3"):
                found = await rpc.blockdev_find(at[name], _disk(live, name))
                assert found.raise_for_failure() is None

    asyncio.run(scenario())


async def _exercise(rpc: NodeRpc, live: LiveCluster, at: dict[str, NodeTarget],
                    pair: list[NodeTarget]) -> None:
    await _wait_synced(rpc, live, pair)
    [status] = (await rpc.blockdev_getmirrorstatus(
        at["node3"], [_disk(live, "node3")])).raise_for_failure()
    assert status == MirrorStatus(dev_path=status.dev_path, major=147, minor=MINORS["node3"],
                                  sync_percent=None, estimated_time=None, is_degraded=False,
                                  ldisk_status=1)
    for name in ("node2", "node3"):
        (await rpc.drbd_disconnect_net([at[name]], [_disk(live, name)]))[name].raise_for_failure()
    needs = await rpc.drbd_needs_activation(at["node3"], [_disk(live, "node3")])
    assert needs.raise_for_failure() == [UUID]
    attached = await asyncio.gather(*(rpc.drbd_attach_net([at[name]], [_disk(live, name)], True)
                                      for name in ("node2", "node3")))
    for answer in attached:
        for done in answer.values():
            done.raise_for_failure()
    (await rpc.blockdev_open(at["node3"], "inst1", [_disk(live, "node3")], False)
     ).raise_for_failure()
    multi = await rpc.blockdev_getmirrorstatus_multi(
        pair, {name: [_disk(live, name)] for name in ("node2", "node3")})
    for name, statuses in multi.items():
        [entry] = statuses.raise_for_failure()
        assert entry.ok, (name, entry)
        assert isinstance(entry.status, MirrorStatus)
        assert entry.status.is_degraded is False
    (await rpc.blockdev_close(at["node3"], "inst1", [_disk(live, "node3")])).raise_for_failure()
