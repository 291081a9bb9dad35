"""Copying disks between two nodes with the import/export calls (Ganeti's
TransferInstanceData), for ``move`` now and for backups later.

One disk at a time: the target listens (``import_start``), the source connects and
streams (``export_start``) with a fresh magic token, and the master polls both,
writing a progress line to the job log at least every second. The importer checks the
SHA-256 of everything it wrote against the exporter's, so a copy succeeds only when the
importer says so. Both ends are always cleaned up, which stops one still running.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import time
from dataclasses import dataclass
from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.instances.node_disks import node_disk
from corral.errors import OpExecError
from corral.objects.bundle import InstanceBundle
from corral.objects.instance import Disk
from corral.objects.node import Node
from corral.rpc.payloads import ImpExpHandle, ImpExpIo, ImpExpOptions, ImpExpStatus

POLL_INTERVAL = 0.25
"""Seconds between two status polls of a running copy."""
PROGRESS_INTERVAL = 1.0
"""Seconds between two progress lines in the job log."""
UNREACHABLE_LIMIT = 60.0
"""Seconds a node may fail to answer status polls before its copy is given up."""
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One end of a copy: the node, the instance as that node sees it, and the disk."""

    node: Node
    bundle: InstanceBundle
    disk: Disk


@dataclass(frozen=True, slots=True)
class _Running:
    node: Node
    name: str


def _io(lu: LogicalUnit[Any], end: Endpoint) -> ImpExpIo:
    return ImpExpIo(kind="raw-disk", disk=node_disk(lu.cfg, end.disk, end.node.uuid))


def progress_line(label: str, status: ImpExpStatus) -> str:
    """``* disk/0: 45.0 % (58/128 MiB, 120.3 MiB/s)``."""
    total = status.bytes_total
    percent = 100.0 * status.bytes_done / total if total else 0.0
    return (f"* {label}: {percent:.1f} % ({status.bytes_done // MIB}/{total // MIB} MiB,"
            f" {status.rate:.1f} MiB/s)")


def import_address(node: Node, handle: ImpExpHandle) -> str:
    """Where the exporter connects: the import's own address, or the node's secondary
    (data) address when the import listens on all of them."""
    try:
        unspecified = ipaddress.ip_address(handle.address).is_unspecified
    except ValueError:
        unspecified = not handle.address
    return node.effective_secondary_ip if unspecified else handle.address


async def copy_disk(
    lu: LogicalUnit[Any], label: str, source: Endpoint, target: Endpoint, compress: str
) -> None:
    """Copy ``source``'s disk onto ``target``'s (which must exist), verified end to end.

    Raises:
        OpExecError: naming the disk, the node and the reason.
    """
    rpc = lu.ctx.rpc
    opts = ImpExpOptions(compress=compress, magic=secrets.token_hex(16))
    started = await rpc.import_start(target.node, opts, target.bundle, label,
                                     _io(lu, target))
    if not started.ok or started.payload is None:
        raise OpExecError(f"Cannot start the import of {label} on node {target.node.name}:"
                          f" {started.fail_msg}")
    importer = _Running(target.node, started.payload.name)
    exporter: _Running | None = None
    try:
        host = import_address(target.node, started.payload)
        sent = await rpc.export_start(source.node, opts, host, started.payload.port,
                                      source.bundle, label,
                                      _io(lu, source))
        if not sent.ok or sent.payload is None:
            raise OpExecError(f"Cannot start the export of {label} on node"
                              f" {source.node.name}: {sent.fail_msg}")
        exporter = _Running(source.node, sent.payload)
        await _follow(lu, label, importer, exporter)
    finally:
        for running in (importer, exporter):
            if running is not None:
                await _cleanup(lu, running)


async def _follow(lu: LogicalUnit[Any], label: str, importer: _Running,
                  exporter: _Running) -> None:
    """Poll both ends until both succeeded; raise on a failure (the caller's cleanup
    stops the other end)."""
    last_line = last_answer = time.monotonic()
    while True:
        imported, exported = await _status(lu, importer), await _status(lu, exporter)
        now = time.monotonic()
        if imported is None or exported is None:
            if now - last_answer > UNREACHABLE_LIMIT:
                raise OpExecError(f"Lost contact with the nodes copying {label}")
        else:
            last_answer = now
            failure = _failure(label, importer, imported, exporter, exported)
            if failure:
                raise OpExecError(failure)
            shown = imported if imported.bytes_total else exported
            if imported.done and exported.done:
                lu.log_info(progress_line(label, shown))
                return
            if now - last_line >= PROGRESS_INTERVAL:
                lu.log_info(progress_line(label, shown))
                last_line = now
        await asyncio.sleep(POLL_INTERVAL)


def _failure(label: str, importer: _Running, imported: ImpExpStatus, exporter: _Running,
             exported: ImpExpStatus) -> str:
    """Why the copy failed ("" while it has not): the importer's reason first."""
    reasons = [f"{what} on node {end.node.name}: {status.error or 'failed'}"
               for what, end, status in (("import", importer, imported),
                                         ("export", exporter, exported))
               if status.done and not status.success]
    return f"Copy of {label} failed: {'; '.join(reasons)}" if reasons else ""


async def _status(lu: LogicalUnit[Any], running: _Running) -> ImpExpStatus | None:
    """The transfer's status; None when the node did not answer.

    Raises:
        OpExecError: the node answered but no longer knows the transfer.
    """
    result = await lu.ctx.rpc.impexp_status(running.node, [running.name])
    if not result.ok or not result.payload:
        return None
    found = result.payload[0]
    if found is None:
        raise OpExecError(f"Node {running.node.name} no longer knows the transfer"
                          f" {running.name} (was its node daemon restarted?)")
    return found


async def _cleanup(lu: LogicalUnit[Any], running: _Running) -> None:
    result = await lu.ctx.rpc.impexp_cleanup(running.node, running.name)
    if not result.ok:
        lu.log_warning(f"Could not clean up {running.name} on node {running.node.name}:"
                       f" {result.fail_msg}")
