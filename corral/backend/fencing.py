"""Fencing by master epoch on the node: the highest epoch seen, kept across restarts.

The master sends its term's epoch with every call (header
:data:`corral.rpc.access.EPOCH_HEADER`). Any call carrying a higher epoch than the
node remembers raises it; a ``MASTER`` call carrying a lower one is refused with
"fenced: master epoch N is older than M". Calls without the header (tools run
beside the master: ``gnt-cluster init``, joining, ``gnt-cluster command``) are not
checked.
"""

from __future__ import annotations

from corral.backend.context import NodeContext
from corral.backend.epoch_store import EPOCH_FILE, EpochStore
from corral.backend.handlers import handles
from corral.errors import CorralError, ParameterError
from corral.rpc.access import EPOCH_HEADER, Access, fenced_message
from corral.rpc.calls import RpcCall


class Fenced(CorralError):
    """A call from a master whose term has ended."""


def epoch_store(ctx: NodeContext) -> EpochStore:
    """The node's epoch store (created on first use)."""
    store = ctx.services.master_epoch
    if store is None:
        store = ctx.services.master_epoch = EpochStore(ctx.layout.data_dir / EPOCH_FILE)
    return store


def parse_epoch(header: str) -> int:
    """The epoch in a header value. Raises ParameterError unless it is a decimal >= 1."""
    value = header.strip()
    if not value.isdigit() or int(value) < 1:
        raise ParameterError(f"{EPOCH_HEADER} must be a positive integer, got {header[:40]!r}")
    return int(value)


def admit(ctx: NodeContext, call: RpcCall, header: str | None) -> str | None:
    """None when ``call`` may run with the sender's epoch header; else why it may not.

    Raises:
        ParameterError: the header is not an epoch.
    """
    if header is None or call.access is Access.JOIN:
        return None
    sent = parse_epoch(header)
    store = epoch_store(ctx)
    store.raise_to(sent)
    if call.access is Access.MASTER and sent < store.value:
        return fenced_message(sent, store.value)
    return None


@handles("master_epoch")
async def master_epoch(ctx: NodeContext) -> int:
    return epoch_store(ctx).value


@handles("master_epoch_announce")
async def master_epoch_announce(ctx: NodeContext, epoch: int) -> int:
    store = epoch_store(ctx)
    if epoch < 1:
        raise ParameterError(f"A master epoch must be at least 1, got {epoch}")
    if epoch < store.value:
        raise Fenced(fenced_message(epoch, store.value))
    store.raise_to(epoch)
    return store.value
