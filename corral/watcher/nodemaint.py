"""Node maintenance: instances still running on nodes marked offline are stopped.

Ganeti's ``NodeMaintenance`` runs on the offline node itself and learns the node's
role from confd. Corral has no confd, and an offline node's ssconf is no longer
updated (the master writes ssconf to online nodes only), so such a node cannot tell
that it was marked offline. The master's watcher therefore does the work: for each
node marked offline that still answers the node RPC (with the cluster certificate,
as the master daemon would), it lists the instances running there on the cluster's
enabled hypervisors and stops each one forcibly. As in Ganeti this only happens when
the cluster's ``maintain_node_health`` is set.

Disks: Ganeti also shuts down the DRBD minors in use. Corral has no DRBD yet, and its
other templates leave nothing to tear down once the instance is stopped (a chroot's
mounts go with it; file and LVM volumes stay as they are, as in Ganeti).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

from corral.layout import NodeLayout
from corral.objects.bundle import InstanceBundle
from corral.objects.instance import Instance
from corral.rpc import tls
from corral.rpc.client import NodeTarget, RpcClient
from corral.rpc.payloads import RunningInstance
from corral.rpc.results import NodeResult
from corral.watcher.actions import REASON_SOURCE

log = logging.getLogger(__name__)

FORCED_STOP = 0.0
"""``instance_shutdown`` timeout: no soft stop, the node forces the stop at once."""


class NodeRpc(Protocol):
    """The part of :class:`~corral.rpc.client.RpcClient` used here."""

    async def call_single(
        self, name: str, target: NodeTarget, *args: Any, timeout: float | None = None
    ) -> NodeResult[Any]: ...


def _bundle(name: str, hypervisor: str) -> InstanceBundle:
    """What ``instance_shutdown`` needs: the name and the hypervisor (nothing else is read)."""
    return InstanceBundle(instance=Instance(uuid=name, name=name, primary_node="",
                                            hypervisor=hypervisor))


async def stop_leftovers(
    rpc: NodeRpc, targets: Sequence[NodeTarget], hypervisors: list[str]
) -> list[str]:
    """Stop what runs on each target; ``node/instance`` of every instance stopped."""
    stopped = []
    for target in targets:
        listing = await rpc.call_single("all_instances_info", target, hypervisors, {})
        if not listing.ok:
            log.debug("Offline node %s cannot be reached (%s): nothing to do",
                      target.name, listing.fail_msg)
            continue
        running: dict[str, RunningInstance] = listing.payload or {}
        stopped += [
            f"{target.name}/{name}" for name in sorted(running)
            if await _stop(rpc, target, name, running[name].hypervisor)
        ]
    return stopped


async def _stop(rpc: NodeRpc, target: NodeTarget, name: str, hypervisor: str) -> bool:
    log.warning("Instance %s still runs on the offline node %s: stopping it", name, target.name)
    reason = [[REASON_SOURCE, "node maintenance of an offline node", time.time_ns()]]
    result = await rpc.call_single(
        "instance_shutdown", target, _bundle(name, hypervisor), FORCED_STOP, reason
    )
    if not result.ok:
        log.error("Cannot stop instance %s on the offline node %s: %s",
                  name, target.name, result.fail_msg)
    return result.ok


def maintain_offline_nodes(
    layout: NodeLayout, nodes: Sequence[tuple[str, str]], port: int, hypervisors: list[str],
    epoch: int | None = None,
) -> list[str]:
    """Run :func:`stop_leftovers` on ``(name, primary IP)`` nodes with the cluster certificate,
    as the master of term ``epoch`` (so that nodes refuse it once a later master exists)."""
    targets = [NodeTarget(name, address, port) for name, address in nodes]
    if not targets:
        return []

    async def run() -> list[str]:
        async with RpcClient(tls.client_ssl_context(layout)) as rpc:
            rpc.epoch = epoch
            return await stop_leftovers(rpc, targets, hypervisors)

    return asyncio.run(run())
