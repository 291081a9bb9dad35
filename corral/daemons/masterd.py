"""``corral-masterd``: the master daemon (configuration, job queue, locks, LUXI)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path

from corral.bootstrap.init import ensure_rapi_certificate
from corral.clock import SystemClock
from corral.cmdlib import (  # noqa: F401  (registers the logical units)
    cluster,
    cluster_modify,
    cluster_verify,
    generic_query,
    group,
    group_evacuate,
    instance_change_group,
    instance_create,
    instance_disks,
    instance_failover,
    instance_migrate,
    instance_move,
    instance_ops,
    instance_query,
    instance_reinstall,
    instance_remove,
    instance_replace_disks,
    instance_set_params,
    node,
    node_add,
    node_evacuate,
    node_migrate,
    node_storage,
    os,
    tags,
    test,
    verify_disks,
)
from corral.cmdlib.cluster import master_params
from corral.cmdlib.context import MasterContext
from corral.cmdlib.processor import Processor
from corral.config.replication import RpcReplicator
from corral.config.store import Change, ConfigStore
from corral.config.writer import ConfigWriter
from corral.daemon_control import CommandLine
from corral.daemons.common import (
    own_command_line,
    record_start,
    remove_pid_file,
    run_daemon,
    stop_event,
)
from corral.errors import ConfigurationError, RpcError
from corral.jobs.persist import JobSaver
from corral.jobs.queue import JobQueue
from corral.jobs.store import JobStore
from corral.layout import NodeLayout, default_root
from corral.locking.levels import Level
from corral.locking.manager import LockManager
from corral.luxi.server import LuxiServer
from corral.master.auto_mode import auto_failover_configured
from corral.master.luxi_methods import LuxiMethods
from corral.master.queue_replication import RpcQueueReplicator, job_files
from corral.master.queue_takeover import take_over_queue
from corral.master.term import check_term
from corral.master.voting import (
    DEFAULT_VOTE,
    VOTE_INTERVAL,
    VOTE_RETRIES,
    VotePolicy,
    own_node_name,
    vote_at_start,
)
from corral.objects.config_data import ConfigData, Kind
from corral.rapi.auth import Authenticator, UsersFile
from corral.rapi.server import RapiServer
from corral.rpc import tls
from corral.rpc.client import RpcClient
from corral.rpc.nodes import NodeRpc

log = logging.getLogger("corral.masterd")

_LOCK_LEVELS = {Kind.NODE: Level.NODE, Kind.INSTANCE: Level.INSTANCE}


def register_locks(locks: LockManager, data: ConfigData) -> None:
    """Create a lock for every node (and its resources), instance, group and network."""
    node_names = [n.name for n in data.nodes.values()]
    locks.add(Level.NODE, node_names)
    locks.add(Level.NODE_RES, node_names)
    locks.add(Level.INSTANCE, [i.name for i in data.instances.values()])
    locks.add(Level.NODEGROUP, list(data.nodegroups))
    locks.add(Level.NETWORK, list(data.networks))


def lock_updater(locks: LockManager, data: ConfigData) -> object:
    """A commit callback adding locks for objects that appeared."""

    def on_commit(changes: list[Change]) -> None:
        for kind, uuid, obj in changes:
            if obj is None:
                continue
            if kind is Kind.NODE:
                name = data.nodes[uuid].name
                locks.add(Level.NODE, [name])
                locks.add(Level.NODE_RES, [name])
            elif kind is Kind.INSTANCE:
                locks.add(Level.INSTANCE, [data.instances[uuid].name])
            elif kind is Kind.NODEGROUP:
                locks.add(Level.NODEGROUP, [uuid])

    return on_commit


async def build(layout: NodeLayout) -> tuple[MasterContext, JobQueue]:
    store = ConfigStore(layout.config_db)
    data = store.load()
    if data is None:
        raise ConfigurationError(f"No cluster configuration at {layout.config_db}")
    node_name = data.master_node.name
    store.name_node(node_name)
    clock = SystemClock()
    rpc = NodeRpc(RpcClient(tls.client_ssl_context(layout)))
    rpc.set_epoch(data.cluster.master_epoch)
    writer = ConfigWriter(store, data, clock, RpcReplicator(rpc, data.cluster.master_node))
    locks = LockManager()
    register_locks(locks, data)
    writer.on_commit.append(lock_updater(locks, writer.data))  # type: ignore[arg-type]
    ctx = MasterContext(layout=layout, config=writer, rpc=rpc, locks=locks, clock=clock)
    queue_replicator = RpcQueueReplicator(rpc, lambda: writer.data)
    saver = JobSaver(JobStore(layout.queue_db, node=node_name), queue_replicator)
    queue = JobQueue(
        saver, Processor(ctx), clock, max_running=lambda: writer.data.cluster.max_running_jobs
    )
    queue_replicator.snapshot = lambda: job_files(queue.jobs.values())
    queue.drained = layout.queue_drain_file.exists()
    ctx.queue = queue
    return ctx, queue


async def activate_master_ip(ctx: MasterContext) -> None:
    cfg = ctx.config.data
    if not cfg.cluster.master_ip:
        return
    result = await ctx.rpc.node_activate_master_ip(cfg.master_node,
        master_params(cfg),
        cfg.cluster.use_external_mip_script,
    )
    if not result.ok:
        log.warning("could not activate the master IP: %s", result.fail_msg)


@dataclass(frozen=True)
class RapiOptions:
    """How the master serves the remote API."""

    enabled: bool = True
    no_auth: bool = False
    """Serve without authentication: for tests only (logged loudly)."""
    cert: Path | None = None
    key: Path | None = None


def rapi_hosts(cfg: ConfigData) -> list[str]:
    """The master node's primary IP, and the cluster's master IP when it has one."""
    primary = cfg.master_node.primary_ip
    extra = cfg.cluster.master_ip
    return [primary, extra] if extra and extra != primary else [primary]


async def start_rapi(
    layout: NodeLayout, ctx: MasterContext, methods: LuxiMethods, opts: RapiOptions
) -> RapiServer | None:
    """The RAPI server on the cluster's ``rapi_port``; None (logged) when it cannot run."""
    cfg = ctx.config.data
    hosts = rapi_hosts(cfg)
    cert, key = opts.cert or layout.rapi_cert, opts.key or layout.rapi_key
    names = [cfg.cluster.cluster_name, cfg.master_node.name]
    if opts.cert is None and not ensure_rapi_certificate(layout, names, hosts):
        log.error("no RAPI certificate at %s and no cluster CA key to issue one", cert)
        return None
    try:
        ssl_context = tls.make_server_context(cert, key, None)
    except RpcError as err:
        log.error("RAPI disabled: %s", err)
        return None
    users = None if opts.no_auth else UsersFile(layout.rapi_users_file)
    server = RapiServer(methods.dispatch, Authenticator(users), ssl_context,
                        stream=methods.stream_rows)
    try:
        await server.start(hosts, cfg.cluster.rapi_port)
    except OSError as err:
        log.error("RAPI disabled: cannot listen on port %d: %s", cfg.cluster.rapi_port, err)
        return None
    return server


async def serve(
    layout: NodeLayout,
    command: CommandLine,
    rapi_opts: RapiOptions | None = None,
    vote: VotePolicy | None = DEFAULT_VOTE,
) -> None:
    """Run the master role; ``vote`` None skips the start-up vote (``--no-voting``).

    With automatic failover configured, the master lease decides instead of the vote
    (:mod:`corral.daemons.masterd_auto`).
    """
    rapi_opts = rapi_opts or RapiOptions()
    if auto_failover_configured(layout):
        from corral.daemons.masterd_auto import serve_auto

        await serve_auto(layout, command, rapi_opts)
        return
    ctx, queue = await build(layout)
    data = ctx.config.data
    try:
        await check_term(own_node_name(layout, data), data, ctx.rpc)
        if vote is not None:
            await vote_at_start(own_node_name(layout, data), data, ctx.rpc, vote)
        else:
            log.warning("Master voting skipped (--no-voting --yes-do-it)")
    except BaseException:
        await ctx.rpc.close()
        raise
    await run_master(layout, command, rapi_opts, ctx, queue, stop_event().wait())


async def run_master(
    layout: NodeLayout,
    command: CommandLine,
    rapi_opts: RapiOptions,
    ctx: MasterContext,
    queue: JobQueue,
    until: Awaitable[object],
) -> None:
    """Take the job queue over, serve LUXI and RAPI until ``until`` completes, then stop.

    Every candidate first gets a full copy of the queue
    (:meth:`RpcQueueReplicator.resync`): a candidate holds only what masters sent it while
    it was level, and the previous master never held its own queue as a replica.
    """
    store = queue.saver.store
    if await asyncio.to_thread(take_over_queue, layout, store):
        queue.saver.serial = max(queue.saver.serial, store.last_id())
    await queue.recover()
    if isinstance(queue.saver.replicator, RpcQueueReplicator):
        await queue.saver.replicator.resync()
    methods = LuxiMethods(ctx, queue)
    luxi = LuxiServer(layout.luxi_socket, methods.dispatch)
    await luxi.start()
    record_start(layout.pid_file("corral-masterd"), layout.command_line_file("corral-masterd"),
                 command)
    log.info("master daemon serving LUXI on %s", layout.luxi_socket)
    rapi: RapiServer | None = None
    try:
        await ctx.config.distribute_ssconf(force=True)
        await activate_master_ip(ctx)
        if rapi_opts.enabled:
            rapi = await start_rapi(layout, ctx, methods, rapi_opts)
        await until
    finally:
        if rapi is not None:
            await rapi.close()
        await luxi.close()
        await queue.shutdown()
        await ctx.rpc.close()
        remove_pid_file(layout.pid_file("corral-masterd"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="corral-masterd", description="Corral master daemon")
    parser.add_argument("--root", default=default_root(),
                        help="root prefix of this node's files (default $CORRAL_ROOT or /)")
    parser.add_argument("-f", "--foreground", action="store_true", help="log to stderr")
    parser.add_argument("-d", "--debug", action="store_true", help="debug logging")
    parser.add_argument("--no-rapi", action="store_true", help="do not serve the remote API")
    parser.add_argument("--rapi-no-auth", action="store_true",
                        help="serve the remote API WITHOUT authentication (tests only)")
    parser.add_argument("--rapi-cert", type=Path, help="RAPI certificate (PEM)")
    parser.add_argument("--rapi-key", type=Path, help="RAPI private key (PEM)")
    parser.add_argument("--no-voting", action="store_true",
                        help="start without asking the other nodes who is master (dangerous)")
    parser.add_argument("--yes-do-it", action="store_true", help="confirm --no-voting")
    parser.add_argument("--vote-interval", type=float, default=VOTE_INTERVAL,
                        help="seconds between master votes while undecided (default 10)")
    parser.add_argument("--vote-retries", type=int, default=VOTE_RETRIES,
                        help="votes asked again while undecided (default 6)")
    args = parser.parse_args(argv)
    if args.no_voting and not args.yes_do_it:
        print("corral-masterd: --no-voting skips the check that the other nodes agree this "
              "node is master; this is dangerous, confirm with --yes-do-it", file=sys.stderr)
        return 1
    vote = None if args.no_voting else VotePolicy(args.vote_retries, args.vote_interval)
    layout = NodeLayout(Path(args.root))
    log_file = None if args.foreground else layout.log_file("corral-masterd")
    rapi = RapiOptions(not args.no_rapi, args.rapi_no_auth, args.rapi_cert, args.rapi_key)
    command = own_command_line("corral.daemons.masterd", argv, args.root)
    return run_daemon("corral-masterd", serve(layout, command, rapi, vote), log_file, args.debug)


if __name__ == "__main__":
    sys.exit(main())
