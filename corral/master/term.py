"""A new master term: the epoch bump that fences every earlier master.

Master failover (manual or automatic) calls :func:`start_new_term` on the new
master once it holds the configuration: the nodes learn the new epoch first
(from then on they refuse master-only calls of every older term, see
:mod:`corral.backend.fencing`), then the configuration records it, replicated
to the candidates under the new epoch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from corral.config.writer import ConfigWriter
from corral.errors import OpExecError
from corral.master.voting import NotMasterError
from corral.objects.config_data import ConfigData
from corral.objects.node import Node
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
    return await highest_known(rpc, writer.data.online_nodes(), writer.data.cluster.master_epoch)


async def highest_known(rpc: NodeRpc, nodes: Sequence[Node], configured: int) -> int:
    """The highest of ``configured`` and the epochs the reachable ``nodes`` remember."""
    answers = await rpc.master_epoch(nodes)
    seen = [r.payload for r in answers.values() if r.ok and isinstance(r.payload, int)]
    return max([configured, *seen])


async def announce_term(rpc: NodeRpc, nodes: Sequence[Node], configured: int) -> Term:
    """Announce a new epoch, one above every known one, to ``nodes``; from then on
    ``rpc`` sends it with every call. The caller records it in the configuration.

    Raises:
        OpExecError: a node remembers a still higher epoch (another master started
            a later term meanwhile).
    """
    epoch = await highest_known(rpc, nodes, configured) + 1
    answers = await rpc.master_epoch_announce(nodes, epoch)
    unreachable = {name: r.fail_msg or "" for name, r in answers.items() if not r.ok}
    for name, reason in unreachable.items():
        if reason.startswith("fenced:"):
            raise OpExecError(f"Cannot start master term {epoch}: node {name}: {reason}")
    rpc.set_epoch(epoch)
    announced = tuple(sorted(name for name, r in answers.items() if r.ok))
    log.info("master term %d started; announced to %s", epoch, ", ".join(announced) or "none")
    return Term(epoch, announced, unreachable)


async def start_new_term(writer: ConfigWriter, rpc: NodeRpc) -> Term:
    """Bump the master epoch, announce it to every reachable node and commit it.

    The new epoch is one above the highest known (configuration or nodes), so a
    term started from a stale configuration still fences the masters before it.
    From then on ``rpc`` sends the new epoch with every call.

    Raises:
        OpExecError: a node remembers a still higher epoch (another master started
            a later term meanwhile), or the configuration commit failed.
    """
    cluster = writer.data.cluster
    term = await announce_term(rpc, writer.data.online_nodes(), cluster.master_epoch)
    await writer.commit(cluster.evolve(writer.clock.now(), master_epoch=term.epoch))
    return term


async def check_term(me: str, data: ConfigData, rpc: NodeRpc) -> None:
    """At every master daemon start, with or without the vote: the configuration must
    name this node master, and no reachable node may remember a later term.

    Raises:
        NotMasterError: either is not so.
    """
    if data.master_node.name != me:
        raise NotMasterError(f"This node ({me}) is not the master; the configuration names "
                             f"{data.master_node.name}. Exiting.")
    await refuse_if_fenced(rpc, data.online_nodes(), data.cluster.master_epoch)


async def refuse_if_fenced(rpc: NodeRpc, nodes: Sequence[Node], configured: int) -> None:
    """The vote cannot see it, the epoch can: a master daemon whose configuration carries
    an older epoch than a reachable node remembers belongs to an ended term (this node was
    master before a failover it did not witness). The later epoch is passed on to the
    nodes that had not seen it (this node's own daemon among them), so that they refuse
    this term's calls too.

    Raises:
        NotMasterError: a node remembers a later epoch.
    """
    answers = await rpc.master_epoch(nodes)
    seen = {name: r.payload for name, r in answers.items()
            if r.ok and isinstance(r.payload, int)}
    latest = max(seen.values(), default=0)
    if latest <= configured:
        return
    behind = [n for n in nodes if n.name in seen and seen[n.name] < latest]
    if behind:
        await rpc.master_epoch_announce(behind, latest)
    witness = min(name for name, epoch in seen.items() if epoch == latest)
    raise NotMasterError(
        f"Not master: this node's configuration is of master term {configured}, but node"
        f" {witness} has seen term {latest} (a failover happened meanwhile). Exiting; run"
        " 'gnt-cluster master-failover' on this node to make it master again.")
