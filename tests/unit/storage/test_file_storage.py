"""File driver specifics: paths and their confinement, sparseness, qcow2, failures."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from corral.errors import BlockDeviceError, ErrorCode
from corral.layout import NodeLayout
from corral.objects import DiskTemplate
from corral.process import CommandResult, SubprocessRunner
from corral.storage.base import MIB, DeviceCommandError, DiskCreateSpec, DiskFormat, DiskRef
from corral.storage.file import FileStorage, qemu_img_virtual_size

DIR = "/srv/corral/file-storage"


@pytest.fixture
def layout(tmp_path: Path) -> NodeLayout:
    layout = NodeLayout(tmp_path / "node")
    (layout.root / DIR.lstrip("/")).mkdir(parents=True)
    return layout


def _driver(layout: NodeLayout, runner: Any = None) -> FileStorage:
    return FileStorage(layout, DIR, runner or SubprocessRunner())


def _spec(size_mib: int = 64, **changes: Any) -> DiskCreateSpec:
    fields: dict[str, Any] = {"uuid": "u-1", "instance": "inst1", "index": 0,
                              "size_mib": size_mib, "template": DiskTemplate.FILE}
    return DiskCreateSpec(**{**fields, **changes})


def test_default_path_is_per_instance_under_the_node_root(layout: NodeLayout) -> None:
    info = asyncio.run(_driver(layout).create(_spec()))
    cluster_path = f"{DIR}/inst1/u-1.file.disk0"
    assert info.logical_id == ("loop", cluster_path)
    assert info.path == str(layout.root / cluster_path.lstrip("/"))
    assert os.stat(info.path).st_mode & 0o777 == 0o600


def test_raw_is_sparse_unless_asked(layout: NodeLayout) -> None:
    driver = _driver(layout)
    sparse = asyncio.run(driver.create(_spec()))
    full = asyncio.run(driver.create(_spec(index=1, sparse=False)))
    assert os.stat(sparse.path).st_size == 64 * MIB
    assert os.stat(sparse.path).st_blocks * 512 < MIB
    assert os.stat(full.path).st_blocks * 512 >= 64 * MIB


def test_qcow2_is_small_and_grows(layout: NodeLayout) -> None:
    if shutil.which("qemu-img") is None:
        pytest.skip("needs qemu-img (Debian package qemu-utils)")
    driver = _driver(layout)
    info = asyncio.run(driver.create(_spec(1024, fmt=DiskFormat.QCOW2)))
    with open(info.path, "rb") as handle:
        assert handle.read(4) == b"QFI\xfb"
    assert os.stat(info.path).st_size < MIB
    ref = _spec(fmt=DiskFormat.QCOW2).ref(info.logical_id)
    asyncio.run(driver.grow(ref, 512, False))
    assert asyncio.run(driver.get_size(ref)) == 1536


@pytest.mark.parametrize(
    "path",
    [f"{DIR}/../escape", "/etc/passwd", DIR, f"{DIR}//inst1/x", "relative/path"],
    ids=["dotdot", "outside", "the-dir-itself", "not-normal", "relative"],
)
def test_paths_outside_the_storage_dir_are_refused(layout: NodeLayout, path: str) -> None:
    with pytest.raises(BlockDeviceError, match="path"):
        asyncio.run(_driver(layout).create(_spec(logical_id=("loop", path))))


def test_symlinked_instance_dir_cannot_escape(layout: NodeLayout, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (layout.root / DIR.lstrip("/") / "evil").symlink_to(outside)
    with pytest.raises(BlockDeviceError, match="not under the allowed directory"):
        asyncio.run(_driver(layout).create(_spec(logical_id=("loop", f"{DIR}/evil/disk0"))))
    assert list(outside.iterdir()) == []


def test_unknown_file_driver_refused(layout: NodeLayout) -> None:
    with pytest.raises(BlockDeviceError, match="Invalid file logical id"):
        asyncio.run(_driver(layout).create(_spec(logical_id=("nbd", f"{DIR}/i/d"))))


def test_existing_file_is_not_touched(layout: NodeLayout) -> None:
    driver = _driver(layout)
    info = asyncio.run(driver.create(_spec()))
    Path(info.path).write_bytes(b"precious")
    with pytest.raises(DeviceCommandError) as caught:
        asyncio.run(driver.create(_spec()))
    assert caught.value.code is ErrorCode.EXISTS
    assert Path(info.path).read_bytes() == b"precious"


class FailingRunner:
    async def run(self, argv: Sequence[str], **_kwargs: Any) -> CommandResult:
        return CommandResult(tuple(argv), 1, "", "qemu-img: Could not create: boom\n")


def test_failed_qcow2_leaves_nothing(layout: NodeLayout) -> None:
    driver = _driver(layout, FailingRunner())
    with pytest.raises(DeviceCommandError) as caught:
        asyncio.run(driver.create(_spec(fmt=DiskFormat.QCOW2)))
    assert caught.value.exit_code == 1
    assert caught.value.command[0] == "qemu-img"
    assert "boom" in str(caught.value)
    assert list((layout.root / DIR.lstrip("/")).iterdir()) == []


def test_missing_file(layout: NodeLayout) -> None:
    driver = _driver(layout)
    ref = DiskRef(uuid="u", template=DiskTemplate.FILE, logical_id=("loop", f"{DIR}/i/d"))
    assert asyncio.run(driver.find(ref)) is None
    with pytest.raises(BlockDeviceError, match="missing"):
        asyncio.run(driver.assemble(ref))
    with pytest.raises(BlockDeviceError, match="missing"):
        asyncio.run(driver.grow(ref, 1, False))
    asyncio.run(driver.remove(ref))


def test_wrong_template_and_negative_grow(layout: NodeLayout) -> None:
    driver = _driver(layout)
    info = asyncio.run(driver.create(_spec()))
    plain = DiskRef(uuid="u", template=DiskTemplate.PLAIN, logical_id=info.logical_id)
    with pytest.raises(BlockDeviceError, match="template"):
        asyncio.run(driver.find(plain))
    with pytest.raises(BlockDeviceError, match="shrink"):
        asyncio.run(driver.grow(_spec().ref(info.logical_id), -1, False))


def test_storage_info_of_a_missing_dir(layout: NodeLayout) -> None:
    with pytest.raises(BlockDeviceError, match="Cannot stat"):
        asyncio.run(_driver(layout).storage_info("/nowhere"))


def test_relative_storage_dir_refused(layout: NodeLayout) -> None:
    with pytest.raises(BlockDeviceError, match="not absolute"):
        FileStorage(layout, "srv/x", SubprocessRunner())


def test_qemu_img_info_parsing() -> None:
    assert qemu_img_virtual_size('{"virtual-size": 1073741824, "format": "qcow2"}') == 1024
    with pytest.raises(BlockDeviceError):
        qemu_img_virtual_size("not json")
