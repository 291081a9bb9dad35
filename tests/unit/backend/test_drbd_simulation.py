"""``corral-noded --simulate-drbd DIR``: two daemons' contexts share one DRBD simulator state."""

from __future__ import annotations

import asyncio
from pathlib import Path

from corral.backend import mirror_rpc
from corral.backend.blockdev import blockdev_create
from corral.backend.context import NodeContext
from corral.daemons import drbd_simulation, lvm_simulation
from corral.daemons.noded import parse_args
from corral.layout import NodeLayout
from corral.storage.drbd.parse import parse_proc
from tests.support.drbd import DrbdNodes, node_disk


def _ctx(tmp_path: Path, name: str) -> NodeContext:
    layout = NodeLayout(tmp_path / name)
    ctx = NodeContext(layout=layout, node_name=name)
    lvm_simulation.install(ctx, tmp_path / name / "lvm")
    drbd_simulation.install(ctx, tmp_path / "shared", tmp_path / name / "drbd-dev")
    return ctx


def test_the_option_is_parsed() -> None:
    assert parse_args(["--simulate-drbd", "/x"]).simulate_drbd == "/x"
    assert parse_args([]).simulate_drbd is None


def test_two_daemons_mirror_a_disk(tmp_path: Path) -> None:
    ctx = {name: _ctx(tmp_path, name) for name in ("node1", "node2")}
    nodes = DrbdNodes(tmp_path / "specs")

    async def scenario() -> None:
        for name, primary in (("node2", False), ("node1", True)):
            await blockdev_create(ctx[name], node_disk(nodes, 0, 8, name), 8, "inst1", primary,
                                  "", False)
        [status] = await mirror_rpc.blockdev_getmirrorstatus(ctx["node2"],
                                                             [node_disk(nodes, 0, 8, "node2")])
        assert status.dev_path == str(tmp_path / "node2" / "drbd-dev" / "drbd0")

    asyncio.run(scenario())
    reader = ctx["node1"].services.drbd_proc_reader
    assert reader is not None
    minor = parse_proc(reader()).minors[0]
    assert (minor.lrole, minor.rrole) == ("Primary", "Secondary")
    assert minor.is_in_resync or minor.is_connected
    assert (tmp_path / "shared" / drbd_simulation.STATE_FILE).exists()
