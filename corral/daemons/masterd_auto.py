"""``corral-masterd`` with automatic master failover: the holder of the etcd lease is master.

The daemon runs on every master candidate. In *standby* it serves nothing: it advertises its
configuration serial (:class:`~corral.master.candidacy.Candidacy`) and campaigns for the
master lease whenever the key is vacant, after its ranked delay (the best-informed candidate
goes first). The winner takes over with the steps of ``gnt-cluster master-failover``:

1. it catches up (:mod:`corral.master.catch_up`): the newest configuration among the
   reachable candidates, and the job files it lacks;
2. it names itself master in its replica, starts a new term (:func:`start_new_term`: the
   nodes learn the new epoch, so the old master is fenced everywhere);
3. it deactivates the master IP on the old master when that node answers, takes the job
   queue over (queued jobs run, running ones fail as "outcome unknown"), pushes ssconf,
   activates the master IP, serves RAPI and LUXI (:func:`corral.daemons.masterd.run_master`).

It keeps the lease alive meanwhile. When :meth:`MasterLease.hold` reports the lease lost
(etcd's quorum unreachable until ``TTL - margin``, or the lease gone), the daemon exits at
that instant with :data:`EXIT_LEASE_LOST`, before any other candidate can win: a lost master
never acts. SIGTERM stops it cleanly and resigns the lease, so a candidate takes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable

from corral.cmdlib.cluster import master_params
from corral.config.store import ConfigStore
from corral.daemon_control import CommandLine
from corral.daemons.common import record_start, remove_pid_file, stop_event
from corral.daemons.masterd import RapiOptions, build, run_master
from corral.errors import ConfigurationError
from corral.layout import NodeLayout
from corral.master.candidacy import Candidacy
from corral.master.catch_up import catch_up
from corral.master.etcd_gateway import EtcdError, EtcdGateway
from corral.master.failover import load_replica, set_master
from corral.master.handover import campaign_delay
from corral.master.lease import RETRY_PAUSE, LeaseLost, LossReason, MasterLease
from corral.master.term import start_new_term
from corral.master.voting import own_node_name
from corral.objects.config_data import ConfigData
from corral.rpc import tls
from corral.rpc.client import RpcClient
from corral.rpc.nodes import NodeRpc

log = logging.getLogger("corral.masterd")

EXIT_LEASE_LOST = 12
"""Exit code of a master daemon that lost its lease (it stopped acting at once)."""
ADVERTISE_INTERVAL = 1.0
"""Seconds between two refreshes of this candidate's advertised configuration serial."""


def replica_record(layout: NodeLayout) -> tuple[int, int]:
    """(master epoch, configuration serial) of this node's replica."""
    data = load_replica(layout)
    return data.cluster.master_epoch, data.serial_no


def _replica_serial(layout: NodeLayout) -> int:
    store = ConfigStore(layout.config_db)
    try:
        return store.serial_no()
    finally:
        store.close()


async def _advertise(layout: NodeLayout, candidacy: Candidacy) -> None:
    while True:
        try:
            await candidacy.advertise(await asyncio.to_thread(_replica_serial, layout))
        except (EtcdError, OSError) as err:
            log.debug("cannot advertise this candidate's serial: %s", err)
        await asyncio.sleep(ADVERTISE_INTERVAL)


async def _campaign(layout: NodeLayout, lease: MasterLease,
                    delay: Callable[[int], Awaitable[float]]) -> None:
    """Campaign until won; an etcd answer that makes no sense (a key gone between two
    reads, a malformed entry) is logged and the campaign starts again."""
    while True:
        try:
            await lease.campaign_until_won(lambda: replica_record(layout), delay)
            return
        except EtcdError as err:
            log.warning("campaign for the master lease interrupted: %s", err)
            await asyncio.sleep(RETRY_PAUSE)


async def standby(layout: NodeLayout, lease: MasterLease, candidacy: Candidacy,
                  stop: asyncio.Event, cluster: str) -> bool:
    """Advertise and campaign until the lease is won (True) or the daemon is stopped."""
    log.info("standby: campaigning for the master lease %s", lease.key)
    advertiser = asyncio.create_task(_advertise(layout, candidacy))
    delay = campaign_delay(lease.gateway, cluster, lease.node, candidacy)
    campaign = asyncio.create_task(_campaign(layout, lease, delay))
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({campaign, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (advertiser, stopped, campaign):
            if not task.done():
                task.cancel()
        await asyncio.gather(advertiser, stopped, campaign, return_exceptions=True)
        with contextlib.suppress(EtcdError):
            await candidacy.withdraw()
    if not campaign.cancelled() and campaign.exception() is None and lease.valid():
        if not stop.is_set():
            return True
        await lease.resign()
    elif not campaign.cancelled() and (error := campaign.exception()) is not None:
        raise error
    return False


def _on_hold_end(layout: NodeLayout, task: asyncio.Task[LeaseLost]) -> None:
    """The lease ended: unless resigned, stop acting at this very instant (exit)."""
    if task.cancelled():
        return
    lost = task.result() if task.exception() is None else None
    if lost is not None and lost.reason is LossReason.RESIGNED:
        return
    reason = f"{lost.reason}: {lost.detail}" if lost else f"keep-alive failed: {task.exception()}"
    log.critical("master lease lost (%s); stepping down at once", reason)
    remove_pid_file(layout.pid_file("corral-masterd"))
    logging.shutdown()
    sys.stderr.flush()
    os._exit(EXIT_LEASE_LOST)


async def prepare_term(layout: NodeLayout, me: str) -> ConfigData:
    """Catch up with the other candidates and name this node master in its replica;
    returns the configuration before this node was named (its master is the old one)."""
    data = load_replica(layout)
    rpc = NodeRpc(RpcClient(tls.client_ssl_context(layout), connect_timeout=2.0))
    rpc.set_epoch(data.cluster.master_epoch)
    try:
        caught = await catch_up(layout, rpc, data, me)
    finally:
        await rpc.close()
    log.info("caught up: configuration serial %d%s, %d job files copied", caught.serial,
             f" (from {caught.source})" if caught.source else "", caught.jobs_copied)
    data = load_replica(layout)
    if not any(n.name == me and n.master_candidate for n in data.nodes.values()):
        raise ConfigurationError(f"{me} is not a master candidate in the newest configuration"
                                 f" (serial {data.serial_no}); not taking over")
    if data.master_node.name != me:
        set_master(layout, data, me, data.cluster.master_epoch)
    return data


async def _deactivate_old_master_ip(ctx_rpc: NodeRpc, old: ConfigData, me: str) -> None:
    if not old.cluster.master_ip or old.master_node.name == me:
        return
    result = await ctx_rpc.node_deactivate_master_ip(
        old.master_node, master_params(old), old.cluster.use_external_mip_script,
        rpc_timeout=5.0)
    if not result.ok:
        log.warning("could not deactivate the master IP on the old master %s: %s",
                    old.master_node.name, result.fail_msg)


async def master_term(layout: NodeLayout, command: CommandLine, rapi_opts: RapiOptions,
                      lease: MasterLease, stop: asyncio.Event, me: str) -> None:
    """Hold the lease, take over, serve until stopped (then resign) or the lease is lost."""
    log.info("won the master lease %s; taking over", lease.key)
    hold = asyncio.create_task(lease.hold())
    hold.add_done_callback(lambda task: _on_hold_end(layout, task))
    try:
        old = await prepare_term(layout, me)
        ctx, queue = await build(layout)
        term = await start_new_term(ctx.config, ctx.rpc)
    except BaseException:
        log.error("take-over failed; resigning the master lease")
        with contextlib.suppress(EtcdError):
            await lease.resign()
        raise
    log.info("master by lease: term %d (announced to %s)", term.epoch,
             ", ".join(term.announced) or "no node")
    await _deactivate_old_master_ip(ctx.rpc, old, me)
    await run_master(layout, command, rapi_opts, ctx, queue, stop.wait())
    await lease.resign()
    await asyncio.gather(hold, return_exceptions=True)


async def serve_auto(layout: NodeLayout, command: CommandLine, rapi_opts: RapiOptions) -> None:
    """The master daemon of a candidate in automatic failover mode (module docstring)."""
    data = load_replica(layout)
    cluster = data.cluster
    if not cluster.etcd_endpoints:
        raise ConfigurationError("automatic failover is enabled but no etcd endpoint is set")
    me = own_node_name(layout, data)
    gateway = EtcdGateway(list(cluster.etcd_endpoints))
    lease = MasterLease(gateway, cluster.cluster_name, me, ttl=cluster.master_lease_ttl)
    candidacy = Candidacy(gateway, cluster.cluster_name, me)
    stop = stop_event()
    pid_file = layout.pid_file("corral-masterd")
    record_start(pid_file, layout.command_line_file("corral-masterd"), command)
    try:
        if await standby(layout, lease, candidacy, stop, cluster.cluster_name):
            await master_term(layout, command, rapi_opts, lease, stop, me)
    finally:
        await gateway.close()
        remove_pid_file(pid_file)
