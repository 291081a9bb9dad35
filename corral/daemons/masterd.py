"""``corral-masterd``: the master daemon (configuration, job queue, locks, LUXI)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from corral.clock import SystemClock
from corral.cmdlib import (  # noqa: F401  (registers the logical units)
    cluster,
    cluster_modify,
    cluster_verify,
    group,
    instance_create,
    instance_disks,
    instance_ops,
    instance_query,
    instance_reinstall,
    instance_remove,
    instance_set_params,
    node,
    node_add,
    os,
    query,
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
from corral.daemons.common import remove_pid_file, run_daemon, stop_event, write_pid_file
from corral.errors import ConfigurationError
from corral.jobs.persist import JobSaver
from corral.jobs.queue import JobQueue
from corral.jobs.store import JobStore
from corral.layout import NodeLayout
from corral.locking.levels import Level
from corral.locking.manager import LockManager
from corral.luxi.server import LuxiServer
from corral.master.luxi_methods import LuxiMethods
from corral.master.queue_replication import RpcQueueReplicator
from corral.objects.config_data import ConfigData, Kind
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
    clock = SystemClock()
    rpc = NodeRpc(RpcClient(tls.client_ssl_context(layout)))
    writer = ConfigWriter(store, data, clock, RpcReplicator(rpc, data.cluster.master_node))
    locks = LockManager()
    register_locks(locks, data)
    writer.on_commit.append(lock_updater(locks, writer.data))  # type: ignore[arg-type]
    ctx = MasterContext(layout=layout, config=writer, rpc=rpc, locks=locks, clock=clock)
    saver = JobSaver(JobStore(layout.queue_db), RpcQueueReplicator(rpc, lambda: writer.data))
    queue = JobQueue(
        saver, Processor(ctx), clock, max_running=lambda: writer.data.cluster.max_running_jobs
    )
    queue.drained = layout.queue_drain_file.exists()
    ctx.queue = queue
    return ctx, queue


async def activate_master_ip(ctx: MasterContext) -> None:
    cfg = ctx.config.data
    if not cfg.cluster.master_ip:
        return
    result = await ctx.rpc.call_node(
        "node_activate_master_ip",
        cfg.master_node,
        master_params(cfg),
        cfg.cluster.use_external_mip_script,
    )
    if not result.ok:
        log.warning("could not activate the master IP: %s", result.fail_msg)


async def serve(layout: NodeLayout) -> None:
    ctx, queue = await build(layout)
    await queue.recover()
    luxi = LuxiServer(layout.luxi_socket, LuxiMethods(ctx, queue).dispatch)
    stop = stop_event()
    await luxi.start()
    write_pid_file(layout.pid_file("corral-masterd"))
    log.info("master daemon serving LUXI on %s", layout.luxi_socket)
    try:
        await ctx.config.distribute_ssconf(force=True)
        await activate_master_ip(ctx)
        await stop.wait()
    finally:
        await luxi.close()
        await queue.shutdown()
        await ctx.rpc.close()
        remove_pid_file(layout.pid_file("corral-masterd"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="corral-masterd", description="Corral master daemon")
    parser.add_argument("--root", default="/", help="root prefix of this node's files")
    parser.add_argument("-f", "--foreground", action="store_true", help="log to stderr")
    parser.add_argument("-d", "--debug", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    layout = NodeLayout(Path(args.root))
    log_file = None if args.foreground else layout.log_file("corral-masterd")
    return run_daemon("corral-masterd", serve(layout), log_file, args.debug)


if __name__ == "__main__":
    sys.exit(main())
