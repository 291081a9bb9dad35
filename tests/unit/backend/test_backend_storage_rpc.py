"""storage_list and node_volumes against a tmp node root and the LVM simulator."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from corral.backend.context import NodeContext, NodeServices
from corral.backend.handlers import HANDLERS
from corral.backend.storage_rpc import node_volumes, storage_list
from corral.errors import BlockDeviceError, OpExecError
from corral.layout import NodeLayout
from corral.testing.lvm import LvmSimulator
from tests.support.fake_rpc import wire

FIELDS = ["name", "size", "used", "free", "allocatable"]
PV_FIELDS = ["name", "vg", "size", "used", "free", "allocatable"]


def _ctx(tmp_path: Path, sim: LvmSimulator | None = None) -> NodeContext:
    services = NodeServices()
    if sim is not None:
        services = NodeServices(lvm_runner=sim, storage_dev_dir=sim.dev_dir)
    return NodeContext(layout=NodeLayout(tmp_path / "root"), node_name="node1", services=services)


@pytest.fixture
def sim(tmp_path: Path) -> LvmSimulator:
    sim = LvmSimulator(tmp_path / "dev", vg="xenvg", pvs=[("/dev/sdb", 1024), ("/dev/sdc", 512)])
    sim.add_vg("data", [("/dev/sdd", 256)])
    assert not sim.execute(["lvcreate", "--yes", "-L", "100m", "-n", "disk0", "xenvg"]).failed
    assert not sim.execute(["lvcreate", "--yes", "-L", "8m", "-n", "other", "data"]).failed
    return sim


def _list(ctx: NodeContext, kind: str, fields: list[str], su_args: list[Any] | None = None,
          name: str | None = None) -> Any:
    return asyncio.run(storage_list(ctx, kind, su_args or [], name, fields))


def test_handlers_are_registered() -> None:
    assert HANDLERS["storage_list"] is storage_list
    assert HANDLERS["node_volumes"] is node_volumes


def test_file_units_report_statvfs_of_each_directory(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    for sub in ("srv/file", "srv/shared"):
        (tmp_path / "root" / sub).mkdir(parents=True)
    rows = _list(ctx, "file", FIELDS, [["/srv/shared", "/srv/file", ""]])
    st = os.statvfs(tmp_path / "root" / "srv" / "file")
    size, free = st.f_blocks * st.f_frsize >> 20, st.f_bavail * st.f_frsize >> 20
    assert [row[0] for row in rows] == ["/srv/file", "/srv/shared"]
    _name, r_size, used, r_free, alloc = rows[0]
    assert (r_size, alloc) == (size, True)
    assert abs(r_free - free) < 64
    assert used == r_size - r_free


def test_file_name_filter_and_field_order(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    (tmp_path / "root" / "srv" / "file").mkdir(parents=True)
    rows = _list(ctx, "file", ["allocatable", "name"], [["/srv/file", "/srv/other"]], "/srv/file")
    assert rows == [[True, "/srv/file"]]


def test_missing_file_directory_fails(tmp_path: Path) -> None:
    with pytest.raises(BlockDeviceError, match="Cannot stat file storage"):
        _list(_ctx(tmp_path), "file", FIELDS, [["/srv/missing"]])


def test_volume_groups(tmp_path: Path, sim: LvmSimulator) -> None:
    rows = _list(_ctx(tmp_path, sim), "lvm-vg", FIELDS)
    assert rows == [["data", 252, 8, 244, True], ["xenvg", 1528, 100, 1428, True]]


def test_one_volume_group_by_name(tmp_path: Path, sim: LvmSimulator) -> None:
    assert _list(_ctx(tmp_path, sim), "lvm-vg", ["free"], name="xenvg") == [[1428]]


def test_physical_volumes(tmp_path: Path, sim: LvmSimulator) -> None:
    rows = _list(_ctx(tmp_path, sim), "lvm-pv", PV_FIELDS)
    assert rows == [["/dev/sdb", "xenvg", 1020, 100, 920, True],
                    ["/dev/sdc", "xenvg", 508, 0, 508, True],
                    ["/dev/sdd", "data", 252, 8, 244, True]]
    assert _list(_ctx(tmp_path, sim), "lvm-pv", ["vg"], name="/dev/sdd") == [["data"]]


def test_missing_volume_group_fails(tmp_path: Path, sim: LvmSimulator) -> None:
    with pytest.raises(BlockDeviceError, match="nosuch"):
        _list(_ctx(tmp_path, sim), "lvm-vg", FIELDS, name="nosuch")


def test_unknown_type_and_fields(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    with pytest.raises(OpExecError, match="Unknown storage type 'rbd'"):
        _list(ctx, "rbd", FIELDS)
    with pytest.raises(OpExecError, match="lvm-vg: vg, bogus"):
        _list(ctx, "lvm-vg", ["name", "vg", "bogus"])
    with pytest.raises(OpExecError, match="Invalid arguments for file storage"):
        _list(ctx, "file", FIELDS, ["/srv/file"])


def test_node_volumes_lists_every_lv(tmp_path: Path, sim: LvmSimulator) -> None:
    assert sim.execute(["lvcreate", "--yes", "-L", "40m", "-i", "2", "-n", "striped",
                        "xenvg"]).failed is False
    vols = wire(asyncio.run(node_volumes(_ctx(tmp_path, sim))))
    assert vols == [
        {"name": "other", "vg": "data", "size": 8, "dev": "/dev/sdd"},
        {"name": "disk0", "vg": "xenvg", "size": 100, "dev": "/dev/sdb"},
        {"name": "striped", "vg": "xenvg", "size": 40, "dev": "/dev/sdb"},
    ]


def test_node_volumes_without_lvm_fails(tmp_path: Path) -> None:
    sim = LvmSimulator(tmp_path / "dev", vg=None)
    ctx = _ctx(tmp_path, sim)
    assert wire(asyncio.run(node_volumes(ctx))) == []
    broken = NodeContext(layout=NodeLayout(tmp_path / "root"), node_name="node1",
                         services=NodeServices(lvm_runner=_Failing()))
    with pytest.raises(BlockDeviceError, match="Cannot list logical volumes"):
        wire(asyncio.run(node_volumes(broken)))


class _Failing:
    """A runner where no LVM tool exists."""

    async def run(self, argv: Any, **kw: Any) -> Any:
        from corral.process import CommandResult

        return CommandResult(tuple(argv), 127, "", f"{argv[0]}: not found\n")
