"""The LUXI methods of the master daemon, with Ganeti's argument and result shapes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from corral.cmdlib.cluster import cluster_info, config_values
from corral.cmdlib.common.instances.drbd import node_drbd_rows
from corral.cmdlib.common.verification.replication import lagging_candidates
from corral.cmdlib.context import MasterContext
from corral.cmdlib.query_runner import run_legacy_query, run_query, stream_legacy_query
from corral.errors import ErrorCode, JobLost, JobQueueError, LuxiError, OpPrereqError
from corral.job_wire import JOB_FINALIZED, JOB_NOTCHANGED
from corral.jobs.queue import JobQueue
from corral.objects.config_data import Kind
from corral.query import query_fields
from corral.serde import atomic_write

MAX_WAIT = 60.0

_TAG_KINDS = {
    "cluster": Kind.CLUSTER,
    "node": Kind.NODE,
    "nodegroup": Kind.NODEGROUP,
    "instance": Kind.INSTANCE,
    "network": Kind.NETWORK,
}


class LuxiMethods:
    """Dispatches LUXI requests to the queue, the configuration and the query engine."""

    def __init__(self, ctx: MasterContext, queue: JobQueue) -> None:
        self.ctx = ctx
        self.queue = queue
        self._table: dict[str, Callable[..., Awaitable[Any]]] = {
            "SubmitJob": self.submit_job,
            "SubmitJobToDrainedQueue": self.submit_job_drained,
            "SubmitManyJobs": self.submit_many_jobs,
            "WaitForJobChange": self.wait_for_job_change,
            "CancelJob": self.cancel_job,
            "ArchiveJob": self.archive_job,
            "AutoArchiveJobs": self.auto_archive_jobs,
            "ChangeJobPriority": self.change_job_priority,
            "PickupJob": self.pickup_job,
            "Query": self.query,
            "QueryFields": self.query_fields,
            "QueryJobs": self.query_jobs,
            "QueryNodes": self.query_nodes,
            "QueryGroups": self.query_groups,
            "QueryInstances": self.query_instances,
            "QueryNetworks": self.query_networks,
            "QueryExports": self.query_exports,
            "QueryClusterInfo": self.query_cluster_info,
            "QueryConfigValues": self.query_config_values,
            "QueryTags": self.query_tags,
            "QueryNodeDrbd": self.query_node_drbd,
            "QueryFilters": self.query_filters,
            "ReplaceFilter": self.unsupported,
            "DeleteFilter": self.unsupported,
            "SetWatcherPause": self.set_watcher_pause,
            "SetDrainFlag": self.set_drain_flag,
        }

    async def dispatch(self, method: str, args: list[Any]) -> Any:
        handler = self._table.get(method)
        if handler is None:
            raise LuxiError(f"Unknown LUXI method {method!r}")
        try:
            return await handler(*args)
        except TypeError as err:
            raise LuxiError(f"Invalid arguments for {method}: {err}") from err

    def stream_rows(self, what: str, fields: list[str]) -> AsyncIterator[list[list[Any]]]:
        """Every item's plain values of ``fields`` in blocks (RAPI's bulk answers; not a
        LUXI method: a block stream cannot cross the socket)."""
        return stream_legacy_query(self.ctx, what, fields)

    # --- jobs --------------------------------------------------------
    def _refuse_when_fenced(self) -> None:
        reason = self.ctx.rpc.fenced()
        if reason is not None:
            raise JobQueueError(f"This master's term is over ({reason}); submit to the new master")

    async def submit_job(self, ops: list[dict[str, Any]]) -> int:
        self._refuse_when_fenced()
        return await self.queue.submit(ops)

    async def submit_job_drained(self, ops: list[dict[str, Any]]) -> int:
        self._refuse_when_fenced()
        return await self.queue.submit(ops, to_drained=True)

    async def submit_many_jobs(self, jobs: list[list[dict[str, Any]]]) -> list[list[Any]]:
        self._refuse_when_fenced()
        if not isinstance(jobs, list):
            raise LuxiError("SubmitManyJobs expects a list of jobs")
        return [list(r) for r in await self.queue.submit_many(jobs, whole_call=True)]

    async def wait_for_job_change(
        self,
        job_id: int,
        fields: list[str],
        prev_job_info: Any,
        prev_log_serial: int | None,
        timeout: float = 10.0,
    ) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(max(float(timeout), 0.0), MAX_WAIT)
        while True:
            job = await self.queue.get(int(job_id))
            if job is None:
                raise JobLost(f"Job {job_id} not found")
            event = self.queue.change_event(job.id)
            info = (await run_legacy_query(self.ctx, "job", [str(job.id)], fields))[0]
            logs = job.log_since(prev_log_serial)
            if info != prev_job_info or logs or job.status in JOB_FINALIZED:
                return [info, logs]
            remaining = deadline - loop.time()
            if remaining <= 0:
                return JOB_NOTCHANGED
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return JOB_NOTCHANGED

    async def cancel_job(self, job_id: int, kill: bool = False) -> list[Any]:
        return list(await self.queue.cancel(int(job_id), kill=bool(kill)))

    async def archive_job(self, job_id: int) -> bool:
        return bool(await self.queue.archive([int(job_id)]))

    async def auto_archive_jobs(self, age: float, timeout: float) -> list[int]:
        return list(await self.queue.auto_archive(float(age), float(timeout)))

    async def change_job_priority(self, job_id: int, priority: int) -> list[Any]:
        return list(await self.queue.change_priority(int(job_id), int(priority)))

    async def pickup_job(self, job_id: int) -> None:
        await self.queue.get_or_raise(int(job_id))

    # --- queries -------------------------------------------------------
    async def query(self, what: str, fields: list[str], qfilter: Any = None) -> dict[str, Any]:
        return await run_query(self.ctx, str(what), list(fields), qfilter)

    async def query_fields(self, what: str, fields: list[str] | None = None) -> dict[str, Any]:
        return query_fields(str(what), fields)

    async def query_jobs(self, job_ids: list[int] | None, fields: list[str]) -> list[Any]:
        """One row per requested id, in the order asked (None for an unknown job)."""
        if not job_ids:
            return await run_legacy_query(self.ctx, "job", None, fields)
        wanted = [int(i) for i in job_ids]
        names = [str(i) for i in wanted]
        rows = await run_legacy_query(self.ctx, "job", names, ["id", "status", *fields])
        # an unknown id still gets a row, but without a status
        by_id = {row[0]: row[2:] for row in rows if row[1] is not None}
        return [by_id.get(i) for i in wanted]

    async def query_nodes(
        self, names: list[str], fields: list[str], lock: bool = False
    ) -> list[Any]:
        return await run_legacy_query(self.ctx, "node", names, fields)

    async def query_groups(
        self, names: list[str], fields: list[str], lock: bool = False
    ) -> list[Any]:
        return await run_legacy_query(self.ctx, "group", names, fields)

    async def query_instances(
        self, names: list[str], fields: list[str], lock: bool = False
    ) -> list[Any]:
        return await run_legacy_query(self.ctx, "instance", names, fields)

    async def query_networks(
        self, names: list[str], fields: list[str], lock: bool = False
    ) -> list[Any]:
        return await run_legacy_query(self.ctx, "network", names, fields)

    async def query_exports(self, nodes: list[str], lock: bool = False) -> dict[str, Any]:
        return {}

    async def query_filters(self, uuids: list[str] | None, fields: list[str]) -> list[Any]:
        return []

    async def unsupported(self, *args: Any) -> Any:
        raise OpPrereqError("Job filters are not supported by Corral yet", ErrorCode.INVAL)

    async def query_cluster_info(self) -> dict[str, Any]:
        return cluster_info(self.ctx.config.data)

    async def query_config_values(self, fields: list[str]) -> list[Any]:
        extra = {
            "drain_flag": self.queue.drained,
            "watcher_pause": self._watcher_pause(),
            "lagging_candidates": lagging_candidates(self.ctx),
        }
        return config_values(self.ctx.config.data, list(fields), extra)

    async def query_node_drbd(self, node: str) -> list[list[Any]]:
        """Corral's form of confd's ``node_drbd`` query (``gnt-node list-drbd``)."""
        return node_drbd_rows(self.ctx.config.data, node)

    async def query_tags(self, kind: str, name: str | None) -> list[str]:
        table_kind = _TAG_KINDS.get(kind)
        if table_kind is None:
            raise OpPrereqError(f"Unknown tag kind {kind!r}", ErrorCode.INVAL)
        cfg = self.ctx.config.data
        obj = cfg.cluster if table_kind is Kind.CLUSTER else cfg.find(table_kind, name or "")
        if obj is None:
            raise OpPrereqError(f"{kind.capitalize()} '{name}' not found", ErrorCode.NOENT)
        return sorted(obj.tags)

    # --- flags ----------------------------------------------------------
    def _watcher_pause(self) -> float | None:
        path = self.ctx.layout.watcher_pause_file
        try:
            until = float(path.read_text().strip())
        except (OSError, ValueError):
            return None
        return until if until > self.ctx.clock.now() else None

    async def set_watcher_pause(self, until: float | None) -> float | None:
        path = self.ctx.layout.watcher_pause_file
        if until is None:
            path.unlink(missing_ok=True)
            return None
        atomic_write(path, f"{int(until)}\n".encode())
        return float(until)

    async def set_drain_flag(self, flag: bool) -> bool:
        path = self.ctx.layout.queue_drain_file
        if flag:
            atomic_write(path, b"")
        else:
            path.unlink(missing_ok=True)
        await self.queue.set_drain(bool(flag))
        return True
