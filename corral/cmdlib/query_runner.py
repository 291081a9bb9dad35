"""Gathering what a query needs (configuration, live node data, jobs, locks) and running it."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from corral import serde
from corral.cmdlib.common.instances.bundle import build_bundle
from corral.cmdlib.context import MasterContext
from corral.errors import ErrorCode, OpPrereqError
from corral.objects.config_data import ConfigData, Kind
from corral.objects.instance import Instance
from corral.objects.node import Node
from corral.query import (
    QueryContext,
    filter_errors_as_prereq,
    names_filter,
    needs_live_data,
    query_prereq,
    query_value_blocks,
    query_values,
)
from corral.query.filter import filter_size, requested_names
from corral.rpc.payloads import ConsolePayload, RunningInstance

LIVE_TIMEOUT = 10.0
MAX_QUERY_NAMES = 250_000
"""Names (job ids) one legacy query (QueryJobs, QueryInstances, ...) may ask for."""
INLINE_WORK = 2_000
"""Items plus filter nodes up to which a query is evaluated on the event loop itself;
bigger ones run in a query thread over a snapshot, so the loop keeps serving."""
STREAM_ROWS = 1_000
"""Rows per block of a streamed query (about 1.2 MB of instance records)."""
QUERY_THREADS = 2
"""Threads evaluating big queries (the GIL gives no parallelism; two keep one slow
query from queueing every other big one, and leave the default pool to SQLite)."""

T = TypeVar("T")
_executor: ThreadPoolExecutor | None = None


def storage_units(cfg: ConfigData) -> list[list[Any]]:
    """The storage units node_info reports on, from the cluster's enabled templates."""
    units: list[list[Any]] = []
    c = cfg.cluster
    if c.file_storage_dir and "file" in c.enabled_disk_templates:
        units.append(["file", c.file_storage_dir, {}])
    if c.shared_file_storage_dir and "sharedfile" in c.enabled_disk_templates:
        units.append(["file", c.shared_file_storage_dir, {}])
    if c.volume_group_name and "plain" in c.enabled_disk_templates:
        units.append(["lvm-vg", c.volume_group_name, {}])
    return units


async def live_node_data(
    ctx: MasterContext, nodes: list[Node]
) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """node_info from every online node; returns (uuid → payload, uuids that failed)."""
    cfg = ctx.config.data
    hv_specs = [[hv, cfg.cluster.hvparams.get(hv, {})] for hv in cfg.cluster.enabled_hypervisors]
    online = [n for n in nodes if not n.offline]
    results = await ctx.rpc.node_info(
        online, storage_units(cfg), hv_specs, rpc_timeout=LIVE_TIMEOUT
    )
    by_name = {n.name: n.uuid for n in nodes}
    live: dict[str, dict[str, Any]] = {}
    failed = {n.uuid for n in nodes if n.offline}
    for name, result in results.items():
        if result.payload is not None:
            live[by_name[name]] = serde.to_builtins(result.payload)
        else:
            failed.add(by_name[name])
    return live, failed


async def live_instance_data(
    ctx: MasterContext, nodes: list[Node]
) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """``all_instances_info`` from every online node.

    Returns (instance UUID → runtime data, UUIDs of nodes offline or not answering).
    An instance found away from its primary node carries ``"node"`` (that node's
    UUID); when it runs on its primary too, the primary's answer wins. Instances
    the configuration does not know are ignored.
    """
    cfg = ctx.config.data
    online = [n for n in nodes if not n.offline]
    results = await ctx.rpc.all_instances_info(
        online, list(cfg.cluster.enabled_hypervisors), dict(cfg.cluster.hvparams),
        rpc_timeout=LIVE_TIMEOUT,
    )
    by_name = {n.name: n.uuid for n in nodes}
    failed = {n.uuid for n in nodes if n.offline}
    live: dict[str, dict[str, Any]] = {}
    for name, result in results.items():
        node_uuid = by_name[name]
        if result.payload is None:
            failed.add(node_uuid)
            continue
        for inst_name, info in result.payload.items():
            _record_live(cfg, live, node_uuid, inst_name, info)
    return live, failed


def _record_live(
    cfg: ConfigData,
    live: dict[str, dict[str, Any]],
    node_uuid: str,
    name: str,
    info: RunningInstance,
) -> None:
    uuid = cfg.uuid_by_name(Kind.INSTANCE, name)
    inst = cfg.instances.get(uuid) if uuid else None
    if inst is None:
        return
    if inst.primary_node == node_uuid:
        live[inst.uuid] = serde.to_builtins(info)
    else:
        live.setdefault(inst.uuid, {**serde.to_builtins(info), "node": node_uuid})


CONSOLE_FIELD = "console"
CONSOLE_KEYS = ("instance", "kind", "message", "host", "port", "user", "command", "display")
"""Ganeti's InstanceConsole slots: its clients build the object from exactly these keys."""
SOCKET_CONSOLE = "socket"
SSH_CONSOLE = "ssh"


def ganeti_console(console: ConsolePayload, node: Node) -> dict[str, Any]:
    """A node's console answer in Ganeti's InstanceConsole shape, as Ganeti's drivers build
    it: a serial socket becomes an ``ssh`` console running its command on the node (Ganeti's
    KVM), an ``ssh`` console names the node (its host name, as Ganeti's), VNC listens on its
    bind address (the node's primary IP when that is a wildcard), a message carries nothing
    else; keys without a value are left out (Ganeti's ``ToDict``)."""
    data = serde.to_builtins(console)
    kind = data.get("kind")
    if kind == SOCKET_CONSOLE:
        data["kind"] = kind = SSH_CONSOLE
    if kind == SSH_CONSOLE:
        data["host"] = node.name
    elif kind in ("vnc", "spice"):
        data.pop("user", None)  # a viewer connects to the server, not a user to the node
        if data.get("host") in ("", "0.0.0.0", "::"):
            data["host"] = node.primary_ip
    elif kind == "msg":
        data = {"instance": data.get("instance"), "kind": kind, "message": data.get("message")}
    return {key: data[key] for key in CONSOLE_KEYS if data.get(key) not in (None, "", [])}


async def live_consoles(
    ctx: MasterContext, live: dict[str, dict[str, Any]], failed: set[str],
    names: list[Any] | None,
) -> dict[str, dict[str, Any]]:
    """Console descriptions of the running instances among ``names`` (all when None)."""
    cfg = ctx.config.data
    found = [cfg.uuid_by_name(Kind.INSTANCE, str(name)) for name in names or []]
    if names is None or None in found:  # all, or a short name the query will expand
        candidates: list[Instance] = list(cfg.instances.values())
    else:
        candidates = [cfg.instances[uuid] for uuid in found if uuid in cfg.instances]
    running = [
        inst for inst in candidates
        if inst.primary_node not in failed and inst.primary_node in cfg.nodes
        and (data := live.get(inst.uuid)) and "node" not in data
        and data.get("state") != "shutdown"
    ]

    async def one(inst: Instance) -> tuple[str, dict[str, Any] | None]:
        node = cfg.nodes[inst.primary_node]
        result = await ctx.rpc.instance_console_info(
            node, build_bundle(cfg, inst), rpc_timeout=LIVE_TIMEOUT)
        payload = result.payload
        return inst.uuid, None if payload is None else ganeti_console(payload, node)

    answers = await asyncio.gather(*(one(inst) for inst in running))
    return {uuid: console for uuid, console in answers if console is not None}


async def build_context(
    ctx: MasterContext,
    what: str,
    fields: list[str],
    qfilter: Any,
    jobs: list[dict[str, Any]] | None = None,
) -> QueryContext:
    cfg = ctx.config.data
    live: dict[str, dict[str, Any]] = {}
    failed: set[str] = set()
    instance_live: dict[str, dict[str, Any]] = {}
    if what == "node" and needs_live_data(what, fields, qfilter):
        live, failed = await live_node_data(ctx, list(cfg.nodes.values()))
    elif what == "instance" and needs_live_data(what, fields, qfilter):
        instance_live, failed = await live_instance_data(ctx, list(cfg.nodes.values()))
    consoles: dict[str, dict[str, Any]] = {}
    if what == "instance" and CONSOLE_FIELD in fields:
        names = requested_names(qfilter, "name")
        consoles = await live_consoles(ctx, instance_live, failed, names)
    lock_info: list[dict[str, Any]] = []
    if what == "lock":
        lock_info = [_lock_dict(info) for info in ctx.locks.info()]
    return QueryContext(
        config=cfg,
        live_nodes=live,
        offline_or_failed=failed,
        jobs=jobs or [],
        now=ctx.clock.now(),
        lock_info=lock_info,
        instance_live=instance_live,
        instance_consoles=consoles,
    )


def _lock_dict(info: Any) -> dict[str, Any]:
    return {
        "name": info.name,
        "mode": info.mode,
        "owners": list(info.owners),
        "pending": [[mode, list(owners)] for mode, owners in info.pending],
    }


async def jobs_for_query(ctx: MasterContext, ids: list[int] | None) -> list[dict[str, Any]]:
    queue = ctx.queue
    if queue is None:
        return []
    if ids is None:
        return [job.query_dict() for job in queue.jobs.values()]
    return [job.query_dict() for job in await queue.get_many(ids)]


async def run_query(
    ctx: MasterContext, what: str, fields: list[str], qfilter: Any
) -> dict[str, Any]:
    """Ganeti's query2 answer: ``{"fields": [...], "data": [...]}``."""
    jobs = await jobs_for_query(ctx, None) if what == "job" else None
    with filter_errors_as_prereq():
        qctx = await build_context(ctx, what, fields, qfilter, jobs)
    return await evaluate(what, qfilter, qctx, lambda c: query_prereq(what, fields, qfilter, c))


async def run_legacy_query(
    ctx: MasterContext, what: str, names: list[str] | None, fields: list[str]
) -> list[list[Any]]:
    """The old positional answer of QueryNodes/QueryGroups/QueryJobs (plain values).

    Raises:
        OpPrereqError: (INVAL) more than :data:`MAX_QUERY_NAMES` names; as the query.
    """
    if names and len(names) > MAX_QUERY_NAMES:
        raise OpPrereqError(
            f"Too many names in one query: {len(names)} (at most {MAX_QUERY_NAMES})",
            ErrorCode.INVAL,
        )
    jobs = None
    if what == "job":
        jobs = await jobs_for_query(ctx, [int(n) for n in names] if names else None)
    qfilter = names_filter(what, names or None)
    with filter_errors_as_prereq():
        qctx = await build_context(ctx, what, fields, qfilter, jobs)

    def values(qc: QueryContext) -> list[list[Any]]:
        with filter_errors_as_prereq():
            return query_values(what, fields, qfilter, qc)

    return await evaluate(what, qfilter, qctx, values)


async def stream_legacy_query(
    ctx: MasterContext, what: str, fields: list[str]
) -> AsyncIterator[list[list[Any]]]:
    """Every item's plain values of ``fields`` (as :func:`run_legacy_query` without
    names), in blocks: a big query is built in a query thread and each block is handed
    over as soon as it is ready, so the caller sends it while the next is built.

    Raises:
        OpPrereqError: as :func:`run_legacy_query`, from the first block.
    """
    qfilter = names_filter(what, None)
    jobs = await jobs_for_query(ctx, None) if what == "job" else None
    with filter_errors_as_prereq():
        qctx = await build_context(ctx, what, fields, qfilter, jobs)

    def blocks(qc: QueryContext) -> Iterator[list[list[Any]]]:
        with filter_errors_as_prereq():
            yield from query_value_blocks(what, fields, qfilter, qc, STREAM_ROWS)

    if query_work(what, qfilter, qctx) <= INLINE_WORK:
        for block in blocks(qctx):
            yield block
        return
    snapshot = dataclasses.replace(qctx, config=config_snapshot(qctx.config))
    async for block in from_thread(lambda: blocks(snapshot)):
        yield block


async def from_thread(make: Callable[[], Iterator[T]]) -> AsyncGenerator[T, None]:
    """The items of ``make()``, iterated in a query thread and received on the loop as
    each is ready; an exception of the iterator is raised here. Closing this early
    stops the thread at its next item."""
    loop = asyncio.get_running_loop()
    handover: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in make():
                if stop.is_set():
                    return
                loop.call_soon_threadsafe(handover.put_nowait, (True, item))
            outcome: tuple[bool, Any] = (False, None)
        except Exception as err:  # handed to the loop, raised there
            outcome = (False, err)
        if not stop.is_set():
            loop.call_soon_threadsafe(handover.put_nowait, outcome)

    worker = loop.run_in_executor(_query_executor(), produce)
    try:
        while True:
            more, item = await handover.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        await asyncio.shield(worker)


async def evaluate(
    what: str, qfilter: Any, qctx: QueryContext, run: Callable[[QueryContext], T]
) -> T:
    """``run(qctx)``: on the loop when the query is small, else in a query thread over a
    snapshot of the configuration (commits may change it meanwhile; everything else in
    ``qctx`` was built for this query alone)."""
    if query_work(what, qfilter, qctx) <= INLINE_WORK:
        return run(qctx)
    snapshot = dataclasses.replace(qctx, config=config_snapshot(qctx.config))
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_query_executor(), run, snapshot)


def query_work(what: str, qfilter: Any, qctx: QueryContext) -> int:
    """Items the query considers plus its filter's nodes (counted up to INLINE_WORK + 1)."""
    cfg = qctx.config
    items = {
        "job": len(qctx.jobs), "lock": len(qctx.lock_info), "node": len(cfg.nodes),
        "instance": len(cfg.instances), "group": len(cfg.nodegroups),
        "network": len(cfg.networks),
    }.get(what, 1)
    return items + filter_size(qfilter, INLINE_WORK + 1)


def config_snapshot(cfg: ConfigData) -> ConfigData:
    """A copy of the object maps (the objects are frozen and shared): a query thread
    reads it while commits change the live configuration."""
    return ConfigData(
        cluster=cfg.cluster, nodegroups=dict(cfg.nodegroups), nodes=dict(cfg.nodes),
        instances=dict(cfg.instances), disks=dict(cfg.disks), networks=dict(cfg.networks),
        serial_no=cfg.serial_no, ctime=cfg.ctime, mtime=cfg.mtime, version=cfg.version,
    )


def _query_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(QUERY_THREADS, thread_name_prefix="corral-query")
    return _executor
