"""A new master takes over the job queue a master candidate kept as replica files.

A candidate holds the queue as Ganeti's files in ``queue_dir`` (``job-<id>``,
``archive/<n>/job-<id>``, ``serial``), written by the master as each job changes; the master
itself keeps its queue in ``queue.db``. When the candidate becomes master, the files are newer
than anything its ``queue.db`` may hold from an earlier term: they are loaded into it (job by
job, archived ones flagged archived) and the live files removed, before the queue recovers
(queued jobs run again; the ones that were running are failed, their outcome being unknown).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from corral import serde
from corral.jobs.store import JobStore
from corral.layout import NodeLayout

log = logging.getLogger(__name__)

_JOB_FILE = re.compile(r"job-([0-9]+)")


def _job_files(directory: Path) -> dict[int, Path]:
    if not directory.is_dir():
        return {}
    found = {}
    for path in directory.iterdir():
        match = _JOB_FILE.fullmatch(path.name)
        if match and path.is_file():
            found[int(match.group(1))] = path
    return found


def _archived_files(layout: NodeLayout) -> dict[int, Path]:
    found: dict[int, Path] = {}
    archive = layout.queue_archive_dir
    if archive.is_dir():
        for sub in archive.iterdir():
            found.update(_job_files(sub))
    return found


def _serial(layout: NodeLayout) -> int:
    try:
        return int((layout.queue_dir / "serial").read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def _valid(job_id: int, path: Path) -> bytes | None:
    data = path.read_bytes()
    try:
        doc = serde.loads(data)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or doc.get("id") != job_id:
        log.warning("Ignoring replica job file %s: not a job document of job %d", path, job_id)
        return None
    return data


def take_over_queue(layout: NodeLayout, store: JobStore) -> int:
    """Load the replica job files into ``store``; the number of jobs taken over."""
    live, archived = _job_files(layout.queue_dir), _archived_files(layout)
    if not live and not archived:
        return 0
    docs = {i: d for i, p in {**archived, **live}.items() if (d := _valid(i, p)) is not None}
    serial = max([store.last_id(), _serial(layout), *docs])
    store.save(sorted(docs.items()), serial)
    store.archive(sorted(i for i in archived if i in docs and i not in live))
    for path in live.values():
        path.unlink(missing_ok=True)
    log.info("Took over %d jobs from the job queue replica (%d archived), serial %d",
             len(docs), len(archived), serial)
    return len(docs)
