"""``gnt-cluster master-failover`` in automatic failover mode: a directed hand-over.

The master lease decides who is master, so a manual failover moves the lease rather than the
configuration: run on candidate X, it records X under ``/corral/<cluster>/handover`` (bound
to a short lease of its own), makes sure X's master daemon runs (standby), and stops the
holder's master daemon, which resigns the lease on its way out. Every standby master daemon
reads the hand-over key before it campaigns: X campaigns at once, the others wait
:data:`OTHERS_WAIT` seconds more than their ranked delay, so X wins; the take-over is the
automatic one (catch-up, new term, queue, ssconf, master IP, RAPI, LUXI). Once X answers as
master, the key is removed and the old holder's master daemon is started again (standby).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from corral.errors import ErrorCode, OpPrereqError
from corral.master.candidacy import Candidacy
from corral.master.etcd_gateway import EtcdError, EtcdGateway
from corral.master.lease import MasterLease, master_key
from corral.objects.config_data import ConfigData
from corral.rpc.nodes import NodeRpc

log = logging.getLogger(__name__)

MASTERD = "corral-masterd"
HANDOVER_TTL = 60
"""Seconds the hand-over key outlives a failover command that died half-way."""
OTHERS_WAIT = 10.0
"""Extra seconds the candidates not named wait before campaigning."""


def handover_key(cluster: str) -> str:
    return master_key(cluster).removesuffix("master") + "handover"


async def handover_target(gateway: EtcdGateway, cluster: str) -> str | None:
    """The candidate a running manual failover names, if any."""
    _revision, kv = await gateway.get(handover_key(cluster))
    return None if kv is None else kv.value_bytes.decode(errors="replace")


def campaign_delay(gateway: EtcdGateway, cluster: str, me: str,
                   candidacy: Candidacy) -> Callable[[int], Awaitable[float]]:
    """The delay before a campaign: none for the hand-over's target, the ranked delay plus
    :data:`OTHERS_WAIT` for the others during a hand-over, the ranked delay otherwise."""

    async def delay(config_serial: int) -> float:
        ranked = await candidacy.takeover_delay(config_serial)
        target = await handover_target(gateway, cluster)
        if target is None:
            return ranked
        return 0.0 if target == me else ranked + OTHERS_WAIT

    return delay


@dataclass
class Handover:
    """What a hand-over needs from its caller (the CLI): local daemon control."""

    ensure_local: Callable[[], None]
    """Start this node's master daemon unless it runs (it campaigns in standby)."""
    wait_local: Callable[[], None]
    """Wait until this node's master daemon answers as master (raises on timeout)."""


async def hand_over(rpc: NodeRpc, data: ConfigData, me: str, gateway: EtcdGateway,
                    steps: Handover, feedback: Callable[[str], None]) -> list[str]:
    """Move the master lease to ``me``; returns warnings.

    Raises:
        OpPrereqError: ``me`` holds the lease already.
    """
    cluster = data.cluster.cluster_name
    holder = await MasterLease(gateway, cluster, me).observe()
    if holder is not None and holder.record.node == me:
        raise OpPrereqError(f"{me} already holds the master lease", ErrorCode.INVAL)
    await asyncio.to_thread(steps.ensure_local)
    grant = await gateway.grant(HANDOVER_TTL)
    await gateway.put(handover_key(cluster), me.encode(), grant.lease_id)
    warnings = []
    old = next((n for n in data.nodes.values()
                if holder is not None and n.name == holder.record.node), None)
    try:
        if old is not None:
            feedback(f"Stopping the master daemon on node {old.name}")
            stopped = (await rpc.node_ensure_daemon([old], MASTERD, False,
                                                    rpc_timeout=30.0))[old.name]
            if not stopped.ok:
                warnings.append(f"Could not stop the master daemon on {old.name} (its lease"
                                f" expires by itself): {stopped.fail_msg}")
        feedback(f"Waiting for {me} to take the master lease over")
        await asyncio.to_thread(steps.wait_local)
    finally:
        try:
            await gateway.revoke(grant.lease_id)
        except EtcdError as err:
            warnings.append(f"Could not remove the hand-over key (it expires): {err}")
    if old is not None:
        restarted = (await rpc.node_ensure_daemon([old], MASTERD, True,
                                                  rpc_timeout=30.0))[old.name]
        if not restarted.ok:
            warnings.append(f"Could not start the standby master daemon on {old.name}:"
                            f" {restarted.fail_msg}")
    return warnings
