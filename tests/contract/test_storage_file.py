"""The storage kit against the file and sharedfile drivers (raw and qcow2)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from corral.layout import NodeLayout
from corral.objects import DiskTemplate
from corral.process import SubprocessRunner
from corral.storage.base import DiskCreateSpec, DiskFormat
from corral.storage.file import FileStorage, SharedFileStorage
from tests.contract.storage_kit import check_storage

FILE_DIR = "/srv/corral/file-storage"
SHARED_DIR = "/srv/corral/shared-file-storage"


def _needs_qemu_img(fmt: DiskFormat) -> None:
    if fmt is DiskFormat.QCOW2 and shutil.which("qemu-img") is None:
        pytest.skip("qcow2 needs qemu-img (Debian package qemu-utils)")


@pytest.mark.parametrize("fmt", list(DiskFormat), ids=lambda f: f.value)
@pytest.mark.parametrize(
    ("cls", "storage_dir"),
    [(FileStorage, FILE_DIR), (SharedFileStorage, SHARED_DIR)],
    ids=["file", "sharedfile"],
)
def test_file_drivers_pass_the_kit(
    tmp_path: Path, cls: type[FileStorage], storage_dir: str, fmt: DiskFormat
) -> None:
    _needs_qemu_img(fmt)
    layout = NodeLayout(tmp_path / "node")
    (layout.root / storage_dir.lstrip("/")).mkdir(parents=True)

    def make_spec(index: int, size_mib: int) -> DiskCreateSpec:
        return DiskCreateSpec(uuid=f"disk-uuid-{index}", instance="inst1.example.com",
                              index=index, size_mib=size_mib, template=cls.template, fmt=fmt)

    asyncio.run(check_storage(lambda: cls(layout, storage_dir, SubprocessRunner()), make_spec,
                              unit=storage_dir))
    leftovers = list((layout.root / storage_dir.lstrip("/")).rglob("*"))
    assert leftovers == [], leftovers


def test_template_flags() -> None:
    assert FileStorage.template is DiskTemplate.FILE
    assert FileStorage.growable
    assert SharedFileStorage.template is DiskTemplate.SHAREDFILE
