"""A master candidate's replica of the job queue, in Ganeti's file layout.

Inside ``layout.queue_dir``: ``job-<id>``, ``archive/<id // 10000>/job-<id>``,
``serial`` and the ``drain`` flag file. Only those names are ever written.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path
from typing import Any

from corral import serde
from corral.backend.context import NodeContext
from corral.backend.files import decode_payload
from corral.backend.handlers import handles
from corral.errors import JobQueueError, ParameterError
from corral.layout import NodeLayout
from corral.rpc.payloads import QueueCopy

JOBS_PER_ARCHIVE_DIR = 10000
QUEUE_FILE_MODE = 0o600

_LIVE_RE = re.compile(r"job-([0-9]+)")
_ARCHIVED_RE = re.compile(r"archive/([0-9]+)/job-([0-9]+)")


def check_queue_name(name: str) -> str:
    """``name`` itself when it is a job file, an archived job file or ``serial``.

    Raises:
        ParameterError: any other name, including ones that would leave the queue directory.
    """
    if name == "serial" or _LIVE_RE.fullmatch(name):
        return name
    archived = _ARCHIVED_RE.fullmatch(name)
    if archived and int(archived.group(1)) == int(archived.group(2)) // JOBS_PER_ARCHIVE_DIR:
        return name
    raise ParameterError(f"Invalid job queue file name {name!r}")


def _write_files(queue_dir: Path, files: list[tuple[str, bytes]]) -> None:
    """Replace each file atomically (write, rename).

    Replicas are not fsync'ed file by file, as in Ganeti: the master's own queue
    is durable before anything is acknowledged, and a candidate's copy only has
    to be whole (never torn) when it takes over.
    """
    for name, data in files:
        path = queue_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        serde.atomic_write(path, data, QUEUE_FILE_MODE, fsync=False)


def _rename(queue_dir: Path, old: str, new: str) -> None:
    source, target = queue_dir / old, queue_dir / new
    if not source.exists():
        if target.exists():
            return  # already renamed by an earlier, repeated call
        raise JobQueueError(f"Cannot rename job queue file {old!r}: it does not exist")
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)


def purge_queue(layout: NodeLayout) -> None:
    """Delete job files, ``serial``, the drain flag and the archive; keep the directories."""
    queue_dir = layout.queue_dir
    if not queue_dir.is_dir():
        return
    for entry in queue_dir.iterdir():
        if entry.name == "serial" or entry.name == "drain" or _LIVE_RE.fullmatch(entry.name):
            entry.unlink(missing_ok=True)
    archive = layout.queue_archive_dir
    if archive.is_dir():
        for entry in archive.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink(missing_ok=True)


def set_drain_flag(layout: NodeLayout, flag: bool) -> None:
    """Create (``True``) or remove (``False``) the queue's drain flag file."""
    if flag:
        layout.queue_dir.mkdir(parents=True, exist_ok=True)
        serde.atomic_write(layout.queue_drain_file, b"", QUEUE_FILE_MODE)
    else:
        layout.queue_drain_file.unlink(missing_ok=True)


def _pair(item: Any, what: str) -> tuple[Any, Any]:
    if not isinstance(item, list | tuple) or len(item) != 2:
        raise ParameterError(f"Each {what} must be a pair, got {item!r}")
    return item[0], item[1]


@handles("jobqueue_update")
async def jobqueue_update(ctx: NodeContext, files: list[Any]) -> None:
    """Write ``[[name, content], ...]``; content is JSON text or ``["zlib+base64", data]``.

    Every name is checked before anything is written.

    Raises:
        ParameterError: a bad file name or undecodable content.
    """
    decoded: list[tuple[str, bytes]] = []
    for item in files:
        name, content = _pair(item, "file")
        data = decode_payload(content, plain_is_base64=False)
        decoded.append((check_queue_name(str(name)), data))
    await asyncio.to_thread(_write_files, ctx.layout.queue_dir, decoded)


@handles("jobqueue_rename")
async def jobqueue_rename(ctx: NodeContext, renames: list[Any]) -> None:
    """Rename ``[[old, new], ...]`` inside the queue (archiving); repeated calls are harmless.

    Raises:
        ParameterError: a bad file name.
        JobQueueError: neither the old nor the new file exists.
    """
    pairs = [_pair(item, "rename") for item in renames]
    checked = [(check_queue_name(str(old)), check_queue_name(str(new))) for old, new in pairs]
    for old, new in checked:
        await asyncio.to_thread(_rename, ctx.layout.queue_dir, old, new)


@handles("jobqueue_purge")
async def jobqueue_purge(ctx: NodeContext) -> None:
    """Delete the node's job queue replica, keeping the queue directory itself."""
    await asyncio.to_thread(purge_queue, ctx.layout)


@handles("jobqueue_set_drain_flag")
async def jobqueue_set_drain_flag(ctx: NodeContext, flag: bool) -> None:
    """Set or clear the drain flag."""
    await asyncio.to_thread(set_drain_flag, ctx.layout, flag)


def _queue_copy(layout: NodeLayout) -> QueueCopy:
    queue_dir = layout.queue_dir
    files: list[tuple[str, str]] = []
    if queue_dir.is_dir():
        paths = [p for p in queue_dir.iterdir() if _LIVE_RE.fullmatch(p.name)]
        archive = layout.queue_archive_dir
        if archive.is_dir():
            paths += [p for sub in archive.iterdir() if sub.is_dir() for p in sub.iterdir()
                      if _LIVE_RE.fullmatch(p.name)]
        for path in paths:
            try:
                files.append((str(path.relative_to(queue_dir)), path.read_text()))
            except (OSError, UnicodeDecodeError):
                continue  # renamed or half-written meanwhile: the next fetch sees it
    try:
        serial = int((queue_dir / "serial").read_text().strip() or 0)
    except (OSError, ValueError):
        serial = 0
    return QueueCopy(files=sorted(files), serial=serial)


@handles("jobqueue_fetch")
async def jobqueue_fetch(ctx: NodeContext) -> QueueCopy:
    """The job queue replica's job files (live and archived) and serial."""
    return await asyncio.to_thread(_queue_copy, ctx.layout)
