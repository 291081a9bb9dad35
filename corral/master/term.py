"""A new master term: the epoch bump that fences every earlier master.

Master failover (manual or automatic) calls :func:`start_new_term` on the new
master once it holds the configuration: the nodes learn the new epoch first
(from then on they refuse master-only calls of every older term, see
:mod:`corral.backend.fencing`), then the configuration records it, replicated
to the candidates under the new epoch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from corral.config.writer import ConfigWriter
from corral.errors import OpExecError
from corral.rpc.nodes import NodeRpc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Term:
    """The outcome of :func:`start_new_term`."""

    epoch: int
    announced: tuple[str, ...]
    """Nodes that acknowledged the new epoch."""
    unreachable: dict[str, str]
    """Nodes that did not, with the reason (they learn it from the next call)."""


async def highest_epoch(writer: ConfigWriter, rpc: NodeRpc) -> int:
    """The highest epoch in the configuration or remembered by a reachable node."""
    answers = await rpc.master_epoch(writer.data.online_nodes())
    seen = [r.payload for r in answers.values() if r.ok and isinstance(r.payload, int)]
    return max([writer.data.cluster.master_epoch, *seen])


async def start_new_term(writer: ConfigWriter, rpc: NodeRpc) -> Term:
    """Bump the master epoch, announce it to every reachable node and commit it.

    The new epoch is one above the highest known (configuration or nodes), so a
    term started from a stale configuration still fences the masters before it.
    From then on ``rpc`` sends the new epoch with every call.

    Raises:
        OpExecError: a node remembers a still higher epoch (another master started
            a later term meanwhile), or the configuration commit failed.
    """
    epoch = await highest_epoch(writer, rpc) + 1
    answers = await rpc.master_epoch_announce(writer.data.online_nodes(), epoch)
    unreachable = {name: r.fail_msg or "" for name, r in answers.items() if not r.ok}
    for name, reason in unreachable.items():
        if reason.startswith("fenced:"):
            raise OpExecError(f"Cannot start master term {epoch}: node {name}: {reason}")
    rpc.set_epoch(epoch)
    cluster = writer.data.cluster
    await writer.commit(cluster.evolve(writer.clock.now(), master_epoch=epoch))
    announced = tuple(sorted(name for name, r in answers.items() if r.ok))
    log.info("master term %d started; announced to %s", epoch, ", ".join(announced) or "none")
    return Term(epoch, announced, unreachable)
