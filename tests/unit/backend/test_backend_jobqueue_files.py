"""The job queue replica of a master candidate."""

from __future__ import annotations

import asyncio
import base64
import zlib
from pathlib import Path

import pytest

from corral.backend.context import NodeContext
from corral.backend.jobqueue_files import (
    check_queue_name,
    jobqueue_purge,
    jobqueue_rename,
    jobqueue_set_drain_flag,
    jobqueue_update,
)
from corral.errors import JobQueueError, ParameterError
from corral.layout import NodeLayout


def _ctx(tmp_path: Path) -> NodeContext:
    layout = NodeLayout(tmp_path)
    layout.ensure_dirs()
    return NodeContext(layout=layout, node_name="node1")


@pytest.mark.parametrize("name", ["job-1", "job-123456", "serial", "archive/0/job-9999",
                                  "archive/12/job-123456"])
def test_good_names(name: str) -> None:
    assert check_queue_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["job-", "job-1/../../x", "../job-1", "/job-1", "job-1.tmp", "archive/1/job-5",
     "archive/x/job-1", "archive/0/../job-1", "queue.db", "drain", "version", "job-1\n",
     "job-\u0661"],
    ids=["no-id", "traversal", "parent", "absolute", "suffix", "wrong-archive-dir",
         "bad-archive-dir", "archive-traversal", "db", "drain", "version", "newline", "unicode"],
)
def test_bad_names(name: str) -> None:
    with pytest.raises(ParameterError, match="Invalid job queue file name"):
        check_queue_name(name)


def test_update_plain_and_compressed_content(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    packed = ["zlib+base64", base64.b64encode(zlib.compress(b'{"id": 2}')).decode()]
    asyncio.run(jobqueue_update(ctx, [["job-1", '{"id": 1}'], ["job-2", packed],
                                      ["serial", "2"], ["archive/0/job-0", "{}"]]))
    queue = ctx.layout.queue_dir
    assert (queue / "job-1").read_text() == '{"id": 1}'
    assert (queue / "job-2").read_text() == '{"id": 2}'
    assert (queue / "serial").read_text() == "2"
    assert (queue / "archive" / "0" / "job-0").read_text() == "{}"
    assert (queue / "job-1").stat().st_mode & 0o077 == 0


def test_update_checks_every_name_before_writing(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    with pytest.raises(ParameterError):
        asyncio.run(jobqueue_update(ctx, [["job-1", "{}"], ["../../etc/passwd", "x"]]))
    assert not (ctx.layout.queue_dir / "job-1").exists()


def test_rename_archives_and_is_repeatable(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    asyncio.run(jobqueue_update(ctx, [["job-10001", "{}"]]))
    renames = [["job-10001", "archive/1/job-10001"]]
    asyncio.run(jobqueue_rename(ctx, renames))
    asyncio.run(jobqueue_rename(ctx, renames))
    assert (ctx.layout.queue_dir / "archive" / "1" / "job-10001").read_text() == "{}"
    assert not (ctx.layout.queue_dir / "job-10001").exists()
    with pytest.raises(JobQueueError, match="does not exist"):
        asyncio.run(jobqueue_rename(ctx, [["job-5", "archive/0/job-5"]]))
    with pytest.raises(ParameterError):
        asyncio.run(jobqueue_rename(ctx, [["job-5", "../job-5"]]))


def test_drain_flag(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    asyncio.run(jobqueue_set_drain_flag(ctx, True))
    assert ctx.layout.queue_drain_file.exists()
    asyncio.run(jobqueue_set_drain_flag(ctx, False))
    asyncio.run(jobqueue_set_drain_flag(ctx, False))
    assert not ctx.layout.queue_drain_file.exists()


def test_purge_keeps_directories_and_foreign_files(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    asyncio.run(jobqueue_update(ctx, [["job-1", "{}"], ["serial", "1"],
                                      ["archive/0/job-0", "{}"]]))
    asyncio.run(jobqueue_set_drain_flag(ctx, True))
    ctx.layout.queue_db.write_text("db")
    asyncio.run(jobqueue_purge(ctx))
    assert sorted(p.name for p in ctx.layout.queue_dir.iterdir()) == ["archive", "queue.db"]
    assert list(ctx.layout.queue_archive_dir.iterdir()) == []
