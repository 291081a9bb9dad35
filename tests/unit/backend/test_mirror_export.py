"""The mirror export handlers refuse what they cannot serve (no daemon is started here)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from corral.backend.context import NodeContext
from corral.backend.mirror_export import (
    mirror_export_start,
    mirror_export_status,
    mirror_export_stop,
)
from corral.errors import BlockDeviceError
from corral.layout import NodeLayout
from corral.objects.instance import Disk, DiskTemplate

URI = "nbd+tls://127.0.0.1:11000/d0"


def _ctx(tmp_path: Path) -> NodeContext:
    layout = NodeLayout(tmp_path)
    layout.ensure_dirs()
    layout.ssconf_file("file_storage_dir").write_text("/srv/disks\n")
    (tmp_path / "srv" / "disks").mkdir(parents=True)
    return NodeContext(layout=layout, node_name="node2")


def _disk(template: DiskTemplate = DiskTemplate.MIRROR) -> Disk:
    return Disk(uuid="d0", dev_type=template, size=4,
                logical_id=("loop", "/srv/disks/i1/d0.mirror", URI))


def test_only_mirror_disks_are_exported(tmp_path: Path) -> None:
    with pytest.raises(BlockDeviceError, match="has template file, not mirror"):
        asyncio.run(mirror_export_start(_ctx(tmp_path), _disk(DiskTemplate.FILE),
                                        "127.0.0.1", 11000, "node1"))


def test_a_missing_local_half_is_named(tmp_path: Path) -> None:
    with pytest.raises(BlockDeviceError, match=r"local half /srv/disks/i1/d0\.mirror is missing"):
        asyncio.run(mirror_export_start(_ctx(tmp_path), _disk(), "127.0.0.1", 11000, "node1"))


def test_unknown_export_reports_stopped_and_stops_quietly(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    status = asyncio.run(mirror_export_status(ctx, _disk()))
    assert (status.name, status.running, status.uri) == ("d0", False, "")
    asyncio.run(mirror_export_stop(ctx, _disk()))
