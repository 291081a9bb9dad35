"""``/2/jobs``, ``/2/jobs/[job_id]`` and ``/2/jobs/[job_id]/wait``."""

from __future__ import annotations

from typing import Any

from corral.job_wire import JOB_NOTCHANGED
from corral.rapi.context import WAIT_STEP, RapiContext, uri_list
from corral.rapi.httperror import bad_request, not_found
from corral.rapi.request import RapiRequest, body_dict, body_param
from corral.rapi.routing import MAX_ID, Access, QueryDoc, Route

J_FIELDS_BULK = ["id", "ops", "status", "summary", "opstatus", "received_ts", "start_ts",
                 "end_ts"]
J_FIELDS = [*J_FIELDS_BULK, "oplog", "opresult"]
"""The fields of a job record (Ganeti 3.0's J_FIELDS)."""


def job_id(req: RapiRequest) -> int:
    """The path's job id; 404 for one too large to exist."""
    value = int(req.param("job_id"))
    if value > MAX_ID:
        raise not_found()
    return value


async def list_jobs(ctx: RapiContext, req: RapiRequest) -> Any:
    if req.bulk:
        rows = await ctx.call("QueryJobs", None, J_FIELDS_BULK)
        return [dict(zip(J_FIELDS_BULK, row, strict=True)) for row in rows if row is not None]
    ids = [row[0] for row in await ctx.call("QueryJobs", None, ["id"]) if row is not None]
    return uri_list(ids, "/2/jobs/%s", "id")


async def get_job(ctx: RapiContext, req: RapiRequest) -> Any:
    row = (await ctx.call("QueryJobs", [job_id(req)], J_FIELDS))[0]
    if row is None:
        raise not_found()
    return dict(zip(J_FIELDS, row, strict=True))


async def cancel_job(ctx: RapiContext, req: RapiRequest) -> Any:
    """Ganeti's answer: ``[success, message]``."""
    return list(await ctx.call("CancelJob", job_id(req)))


def _wait_args(req: RapiRequest) -> tuple[list[str], Any, Any]:
    body = body_dict(req)
    fields = body_param(body, "fields")
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise bad_request("The 'fields' parameter should be a list")
    info = body_param(body, "previous_job_info", None, None)
    if not (info is None or isinstance(info, list)):
        raise bad_request("The 'previous_job_info' parameter should be a list")
    serial = body_param(body, "previous_log_serial", None, None)
    if not (serial is None or (type(serial) is int and 0 <= serial <= MAX_ID)):
        raise bad_request("The 'previous_log_serial' parameter should be a number")
    return fields, info, serial


async def wait_job(ctx: RapiContext, req: RapiRequest) -> Any:
    """Waits up to 10 s for a change; null when nothing changed."""
    fields, info, serial = _wait_args(req)
    result = await ctx.call("WaitForJobChange", job_id(req), fields, info, serial, WAIT_STEP)
    if not result:
        raise not_found()
    if result == JOB_NOTCHANGED:
        return None
    job_info, log_entries = result
    return {"job_info": job_info, "log_entries": log_entries}


_WAIT_BODY = {"type": "object", "required": ["fields"], "properties": {
    "fields": {"type": "array", "items": {"type": "string"}},
    "previous_job_info": {"type": ["array", "null"]},
    "previous_log_serial": {"type": ["integer", "null"]}}}

ROUTES = [
    Route("GET", "/2/jobs", Access.ANY, "List jobs", handler=list_jobs,
          query=(QueryDoc("bulk", "flag", "job records instead of ids"),),
          response={"type": "array", "items": {"type": "object"}}),
    Route("GET", "/2/jobs/{job_id}", Access.ANY, "One job's record", handler=get_job,
          response={"type": "object"}),
    Route("DELETE", "/2/jobs/{job_id}", Access.WRITE, "Cancel a job that has not started",
          handler=cancel_job, response={"type": "array"}),
    Route("GET", "/2/jobs/{job_id}/wait", Access.WRITE,
          "Wait (up to 10 s) for a job to change", handler=wait_job, body=_WAIT_BODY,
          response={"type": ["object", "null"]}),
]
