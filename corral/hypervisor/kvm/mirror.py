"""The primary's side of ``mirror`` disks: every guest write goes to both copies.

A mirror disk is opened like a file disk (``diskN-file`` → ``diskN``); once QEMU
runs (vCPUs still stopped), the driver connects the secondary's NBD-over-TLS
export as node ``diskN-peer`` and starts an *active* mirror job
(``blockdev-mirror``, ``copy-mode: write-blocking``) from ``diskN`` to it. The
job never completes: it stays READY, and every guest write is written to the
local file and to the export before the guest sees it acknowledged. A flush is
a flush of the local file; the export writes through (``writethrough=on``).

Why a mirror job and not a ``quorum`` node: measured on this host (2 shared cores,
TCG guest, secondary export on loopback with TLS, device write cache off so every
write is flushed; busybox ``dd oflag=direct``: 200 writes of 4 KiB, then 16 MiB in
1 MiB blocks; ``tests/guest/test_kvm_mirror.py::test_write_figures``)::

    local file only .................... 829-997 writes/s   166-229 MiB/s
    quorum (local + NBD, threshold 1) .. 511 writes/s       119 MiB/s
    write-blocking mirror job to NBD ... 494-680 writes/s    55-112 MiB/s

(ranges over four runs; the quorum figure is one run of a throw-away variant of the
same test with a ``quorum`` node built by hand).

Both acknowledge a write only once both copies have it, and cost the same for
small synchronous writes (quorum writes both children in parallel, the mirror
job writes the local file, then the export, so large writes are slower). What
decided it is failure handling: ``quorum`` with ``vote-threshold=2`` fails guest
writes when the secondary dies; with ``vote-threshold=1`` (``read-pattern=fifo``)
the guest runs on (a write after the export died took 0.06 s) but quorum keeps no
record of what the secondary missed, so getting back in sync means a full copy.
The mirror job with ``on-target-error: stop`` instead pauses (degraded: status
``paused``/``standby``, io-status ``failed``, a ``BLOCK_JOB_ERROR`` event) while
guest writes still succeed on the local copy, and it keeps marking every region
the secondary missed in its own dirty bitmap. Once the export is back, the NBD
client reconnects and resuming the job copies only those regions (incremental
resync); a secondary that lost its copy gets a whole-disk copy instead.

Start-up copies the whole disk (``sync: full``): after a crash the two copies
may differ in the writes that were in flight, and raw files keep no record of
them. The export should be running before the instance starts; a secondary that
cannot be reached leaves the disk degraded (the guest starts anyway, which is
what a failover to the surviving node needs) and the status says so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from corral.errors import BlockDeviceError, HypervisorError
from corral.hypervisor.base import DiskSpec, InstanceSpec, MirrorDiskStatus, MirrorSync
from corral.hypervisor.kvm.qmp import QmpSession
from corral.objects.instance import DiskTemplate
from corral.storage.mirror.export import parse_export_uri

TLS_OBJECT = "mirror-tls"
PAUSED_STATES = frozenset({"paused", "standby"})
_log = logging.getLogger(__name__)


def mirror_disks(spec: InstanceSpec) -> list[tuple[int, DiskSpec]]:
    """The instance's mirror disks with their indices.

    Raises:
        HypervisorError: a mirror disk has no export URI.
    """
    found = [(i, d) for i, d in enumerate(spec.disks) if d.dev_type == DiskTemplate.MIRROR]
    for index, disk in found:
        if not disk.uri:
            raise HypervisorError(f"instance {spec.name}: mirror disk {index} has no "
                                  "secondary export URI")
    return found


def with_uris(spec: InstanceSpec, given: InstanceSpec) -> InstanceSpec:
    """``spec`` with the export URIs of ``given``'s mirror disks (the roles swapped: the
    master names the new secondary's export when it finalizes a migration)."""
    if len(given.disks) != len(spec.disks):
        return spec
    disks = tuple(dataclasses.replace(mine, uri=theirs.uri or mine.uri)
                  if mine.dev_type == DiskTemplate.MIRROR else mine
                  for mine, theirs in zip(spec.disks, given.disks, strict=True))
    return dataclasses.replace(spec, disks=disks)


def job_id(index: int) -> str:
    return f"mirror-disk{index}"


def peer_node(index: int) -> str:
    return f"disk{index}-peer"


@dataclass(frozen=True, slots=True)
class JobView:
    """The fields of one ``query-block-jobs`` entry a mirror's status needs."""

    status: str
    ready: bool
    offset: int
    length: int
    io_failed: bool
    error: str

    @classmethod
    def from_reply(cls, reply: dict[str, Any]) -> JobView:
        return cls(status=str(reply.get("status", "")), ready=bool(reply.get("ready")),
                   offset=int(reply.get("offset", 0)), length=int(reply.get("len", 0)),
                   io_failed=reply.get("io-status", "ok") != "ok",
                   error=str(reply.get("error", "")))


async def add_tls_object(qmp: QmpSession, creds_dir: str) -> None:
    """The client's TLS credentials object (the node's cert, the cluster CA)."""
    objects = await qmp.execute("qom-list", {"path": "/objects"})
    if any(entry.get("name") == TLS_OBJECT for entry in objects):
        return
    await qmp.execute("object-add", {"qom-type": "tls-creds-x509", "id": TLS_OBJECT,
                                     "dir": creds_dir, "endpoint": "client"})


async def attach(qmp: QmpSession, index: int, uri: str, *, full: bool) -> None:
    """Connect disk ``index``'s secondary and start its write-blocking mirror job.

    Raises:
        HypervisorError: bad URI, the export refused or is unreachable, or QEMU refused.
    """
    try:
        host, port, export = parse_export_uri(uri)
    except BlockDeviceError as err:
        raise HypervisorError(str(err)) from err
    await qmp.execute("blockdev-add", {
        "driver": "nbd", "node-name": peer_node(index), "export": export,
        "server": {"type": "inet", "host": host, "port": str(port)},
        "tls-creds": TLS_OBJECT, "reconnect-delay": 0})
    try:
        await qmp.execute("blockdev-mirror", {
            "job-id": job_id(index), "device": f"disk{index}", "target": peer_node(index),
            "sync": "full" if full else "none", "copy-mode": "write-blocking",
            "on-source-error": "stop", "on-target-error": "stop", "auto-dismiss": False})
    except HypervisorError:
        await qmp.execute("blockdev-del", {"node-name": peer_node(index)})
        raise


async def attach_all(qmp: QmpSession, spec: InstanceSpec, creds_dir: str, *,
                     full: bool = True) -> dict[int, str]:
    """Attach every mirror disk of ``spec`` (see :func:`attach`); the ones that could not
    be attached stay degraded (no job: :func:`statuses` says so, a resync attaches them
    with a whole-disk copy). Returns why, by disk index (empty: all attached)."""
    disks = mirror_disks(spec)
    if not disks:
        return {}
    await add_tls_object(qmp, creds_dir)
    failed = {}
    for index, disk in disks:
        try:
            await attach(qmp, index, disk.uri, full=full)
        except HypervisorError as err:
            failed[index] = str(err)
            _log.warning("instance %s: mirror disk %d runs degraded: %s", spec.name, index, err)
    return failed


def sync_of(index: int, job: JobView | None) -> MirrorDiskStatus:
    """The status of disk ``index`` from its mirror job (None: no job)."""
    if job is None:
        return MirrorDiskStatus(index=index, state=MirrorSync.DEGRADED,
                                error="no mirror job (secondary not attached)")
    if job.status in PAUSED_STATES or job.io_failed or job.status == "concluded":
        return MirrorDiskStatus(index=index, state=MirrorSync.DEGRADED, done=job.offset,
                                total=job.length, error=job.error or "secondary unreachable")
    if job.ready and job.offset == job.length:
        return MirrorDiskStatus(index=index, state=MirrorSync.IN_SYNC, done=job.offset,
                                total=job.length)
    return MirrorDiskStatus(index=index, state=MirrorSync.RESYNCING, done=job.offset,
                            total=job.length)


async def statuses(qmp: QmpSession, spec: InstanceSpec) -> list[MirrorDiskStatus]:
    """One status per mirror disk of the running instance."""
    jobs = {str(j["device"]): JobView.from_reply(j)
            for j in await qmp.execute("query-block-jobs")}
    return [sync_of(index, jobs.get(job_id(index))) for index, _ in mirror_disks(spec)]


async def resync(qmp: QmpSession, spec: InstanceSpec, indices: Sequence[int], *,
                 full: bool) -> None:
    """Bring the given mirror disks back in sync with their (running) exports.

    Incremental (``full`` False): resume the paused job, which copies what its
    bitmap marks once the NBD client has reconnected. Full: drop the job and the
    export's node and attach again with a whole-disk copy.

    Raises:
        HypervisorError: an index is not a mirror disk, or QEMU refused.
    """
    disks = dict(mirror_disks(spec))
    jobs = {str(j["device"]): JobView.from_reply(j)
            for j in await qmp.execute("query-block-jobs")}
    for index in indices:
        if index not in disks:
            raise HypervisorError(f"instance {spec.name}: disk {index} is not a mirror disk")
        job = jobs.get(job_id(index))
        if job is not None and not full and job.status in PAUSED_STATES:
            await qmp.execute("block-job-resume", {"device": job_id(index)})
        elif job is None or full or job.status == "concluded":
            await detach(qmp, index, job)
            await attach(qmp, index, disks[index].uri, full=True)


async def detach(qmp: QmpSession, index: int, job: JobView | None) -> None:
    """End disk ``index``'s mirror job (without pivot) and drop the export's node."""
    if job is not None:
        if job.status != "concluded":
            await qmp.execute("block-job-cancel", {"device": job_id(index), "force": True})
            await _wait_concluded(qmp, job_id(index))
        await qmp.execute("job-dismiss", {"id": job_id(index)})
    nodes = await qmp.execute("query-named-block-nodes", {"flat": True})
    if any(node.get("node-name") == peer_node(index) for node in nodes):
        await qmp.execute("blockdev-del", {"node-name": peer_node(index)})


async def _wait_concluded(qmp: QmpSession, job: str) -> None:
    for _ in range(1000):
        jobs = {str(j["id"]): j for j in await qmp.execute("query-jobs")}
        if job not in jobs or jobs[job].get("status") in ("concluded", "null"):
            return
        if jobs[job].get("status") == "pending":
            await qmp.execute("job-finalize", {"id": job})
        await asyncio.sleep(0.01)
    raise HypervisorError(f"mirror job {job} did not end")
