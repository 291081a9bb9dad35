"""Import/export RPC handlers: copy a disk from one node daemon to another over TLS.

The master starts the import on the target (``import_start``: the destination disk is
assembled and a listener waits, for the cluster's certificates only), then the export on
the source (``export_start``: it connects and streams the assembled source disk), polls
both with ``impexp_status``, and finally forgets them with ``impexp_cleanup``. The
transfers run as tasks of the node daemon, kept in ``ctx.services.transfers``.
"""

from __future__ import annotations

import re
import secrets
import ssl
import time

from corral.backend.context import NodeContext
from corral.backend.handlers import handles
from corral.backend.impexp_stream import ImportExportError, check_compression
from corral.backend.impexp_transfer import Transfer, start_export, start_import
from corral.backend.services import node_disk_driver
from corral.errors import CorralError
from corral.objects.bundle import InstanceBundle
from corral.rpc import tls
from corral.rpc.payloads import ImpExpHandle, ImpExpIo, ImpExpOptions, ImpExpStatus

FORGET_AFTER = 3600.0
"""Seconds after its end a transfer nobody cleaned up is forgotten."""


def _name(mode: str, instance: InstanceBundle, component: str) -> str:
    label = re.sub(r"[^A-Za-z0-9.-]+", "", f"{instance.name}-{component}")
    return f"{mode}-{label}-{secrets.token_hex(4)}"


async def _device(ctx: NodeContext, io: ImpExpIo, component: str) -> str:
    """The path of the assembled disk of ``io``."""
    driver, ref = node_disk_driver(ctx, io.disk)
    info = await driver.assemble(ref)
    if not info.path:
        raise ImportExportError(
            f"Disk {component} ({io.disk.dev_type}) has no local device to copy")
    return info.path


def _context(ctx: NodeContext, server: bool) -> ssl.SSLContext:
    """The node RPC's TLS trust: the node certificate, peers certified by the cluster CA."""
    build = tls.server_ssl_context if server else tls.client_ssl_context
    try:
        return build(ctx.layout)
    except CorralError as err:
        raise ImportExportError(f"Cannot use the node certificate: {err}") from None


def _registered(ctx: NodeContext, transfer: Transfer) -> Transfer:
    """Keep ``transfer``; forget those a master never cleaned up (it failed meanwhile)."""
    known = ctx.services.transfers
    now = time.monotonic()
    for name, old in list(known.items()):
        if old.ended is not None and now - old.ended > FORGET_AFTER:
            del known[name]
    known[transfer.name] = transfer
    return transfer


@handles("import_start")
async def import_start(
    ctx: NodeContext, opts: ImpExpOptions, instance: InstanceBundle, component: str,
    dest: ImpExpIo,
) -> ImpExpHandle:
    check_compression(opts.compress)
    path = await _device(ctx, dest, component)
    context = _context(ctx, server=True)
    transfer = await start_import(_name("import", instance, component), ctx.address,
                                  context, path, opts)
    _registered(ctx, transfer)
    assert transfer.listen_port is not None
    return ImpExpHandle(name=transfer.name, port=transfer.listen_port, address=ctx.address)


@handles("export_start")
async def export_start(
    ctx: NodeContext, opts: ImpExpOptions, host: str, port: int, instance: InstanceBundle,
    component: str, source: ImpExpIo,
) -> str:
    check_compression(opts.compress)
    path = await _device(ctx, source, component)
    context = _context(ctx, server=False)
    transfer = start_export(_name("export", instance, component), host, port,
                            context, path, opts)
    return _registered(ctx, transfer).name


@handles("impexp_status")
async def impexp_status(ctx: NodeContext, names: list[str]) -> list[ImpExpStatus | None]:
    known = ctx.services.transfers
    return [known[name].status() if name in known else None for name in names]


@handles("impexp_abort")
async def impexp_abort(ctx: NodeContext, name: str) -> None:
    transfer = ctx.services.transfers.get(name)
    if transfer is None:
        raise ImportExportError(f"No import or export named {name!r} on this node")
    await transfer.abort()


@handles("impexp_cleanup")
async def impexp_cleanup(ctx: NodeContext, name: str) -> None:
    transfer = ctx.services.transfers.pop(name, None)
    if transfer is not None:
        await transfer.abort()
