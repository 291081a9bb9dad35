"""``/2/instances``, ``/2/instances/[instance_name]`` and its reads (``info``, ``console``),
``/2/instances-multi-alloc``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from corral.job_wire import JobStatus
from corral.rapi.context import RapiContext
from corral.rapi.httperror import HttpError, bad_request
from corral.rapi.opinput import DRY_RUN, Fixed, FromFlag, FromPath, OpSpec, build_op
from corral.rapi.records import RecordStream
from corral.rapi.request import RapiRequest
from corral.rapi.routing import Access, QueryDoc, Route

COMMON_FIELDS = ["ctime", "mtime", "uuid", "serial_no", "tags"]
I_FIELDS = [
    "name", "admin_state", "os", "pnode", "snodes", "disk_template",
    "nic.ips", "nic.macs", "nic.modes", "nic.uuids", "nic.names", "nic.links",
    "nic.networks", "nic.networks.names", "nic.bridges", "network_port",
    "disk.sizes", "disk.spindles", "disk_usage", "disk.uuids", "disk.names",
    "beparams", "hvparams", "oper_state", "oper_ram", "oper_vcpus", "status",
    "custom_hvparams", "custom_beparams", "custom_nicparams", "custom_osparams",
    *COMMON_FIELDS,
]  # fmt: skip
"""The fields of an instance record (Ganeti's I_FIELDS, with its later ``custom_osparams``)."""
INSTANCE = FromPath("instance_name", "instance_name")
CONSOLE_TIMEOUT = 60.0
REQ_VERSION = "__version__"


_BEPARAMS = I_FIELDS.index("beparams")


def add_memory(beparams: Any) -> None:
    """Ganeti still answers ``beparams.memory`` (= ``maxmem``) for old clients."""
    if isinstance(beparams, dict) and "maxmem" in beparams:
        beparams["memory"] = beparams["maxmem"]


def with_memory(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with ``beparams.memory`` added."""
    add_memory(record.get("beparams"))
    return record


async def list_instances(ctx: RapiContext, req: RapiRequest) -> Any:
    if not req.bulk:
        return await ctx.index("instance", "/2/instances/%s", "id")
    records = await ctx.records("instance", I_FIELDS)
    add_memory_to(records.rows)
    more = None if records.more is None else _with_memory(records.more)
    return RecordStream(I_FIELDS, records.rows, more)


def add_memory_to(rows: list[list[Any]]) -> None:
    for row in rows:
        add_memory(row[_BEPARAMS])


async def _with_memory(blocks: AsyncIterator[list[list[Any]]]) -> AsyncIterator[list[list[Any]]]:
    async for block in blocks:
        add_memory_to(block)
        yield block


async def get_instance(ctx: RapiContext, req: RapiRequest) -> Any:
    return with_memory(await ctx.query_one("instance", req.param("instance_name"), I_FIELDS))


def usb_commas(params: dict[str, Any]) -> dict[str, Any]:
    """``hvparams.usb_devices`` may be space-separated; the opcode wants commas."""
    hvparams = params.get("hvparams")
    if isinstance(hvparams, dict) and isinstance(hvparams.get("usb_devices"), str):
        params["hvparams"] = {**hvparams, "usb_devices": hvparams["usb_devices"].replace(" ", ",")}
    return params


def create_params(params: dict[str, Any]) -> dict[str, Any]:
    """Accept only version 1 of the creation request (Ganeti dropped version 0)."""
    version = params.pop(REQ_VERSION, 0)
    if type(version) is int and version == 0:
        raise bad_request("Instance creation request version 0 is no longer supported")
    if type(version) is not int or version != 1:
        raise bad_request(f"Unsupported request data version {version}")
    return usb_commas(params)


CONSOLE_OP = OpSpec("OP_INSTANCE_CONSOLE", static=(INSTANCE,), body=False)


async def console(ctx: RapiContext, req: RapiRequest) -> Any:
    """How to reach the console of a running instance (503 when it is not running)."""
    state = await ctx.query_one("instance", req.param("instance_name"), ["oper_state"])
    if not state["oper_state"]:
        raise HttpError(503, "Instance console unavailable")
    job_id = await ctx.submit([build_op(CONSOLE_OP, req, "instances_name_console")])
    status, results = await ctx.wait_job(job_id, CONSOLE_TIMEOUT)
    if status != JobStatus.SUCCESS or not results or not isinstance(results[0], dict):
        raise HttpError(503, "Instance console unavailable")
    return results[0]


_RECORD = {"type": "object", "description": "instance record (Ganeti's I_FIELDS)"}
_LIST = {"type": "array", "items": {"type": "object"},
         "description": "[{id, uri}], or full records with bulk=1"}
_VERSION = {"properties": {REQ_VERSION: {"type": "integer", "enum": [1]}},
            "required": [REQ_VERSION]}
_BULK = QueryDoc("bulk", "flag", "full records instead of names")

ROUTES = [
    Route("GET", "/2/instances", Access.ANY, "List instances", handler=list_instances,
          query=(_BULK,), response=_LIST),
    Route("POST", "/2/instances", Access.WRITE, "Create an instance (request version 1)",
          body=_VERSION, op=OpSpec("OP_INSTANCE_CREATE", static=(DRY_RUN,), transform=create_params,
                    renames={"os": "os_type", "name": "instance_name"})),
    Route("POST", "/2/instances-multi-alloc", Access.WRITE, "Allocate several instances",
          op=OpSpec("OP_INSTANCE_MULTI_ALLOC", static=(DRY_RUN,))),
    Route("GET", "/2/instances/{instance_name}", Access.ANY, "One instance's record",
          handler=get_instance, response=_RECORD),
    Route("DELETE", "/2/instances/{instance_name}", Access.WRITE, "Remove an instance",
          op=OpSpec("OP_INSTANCE_REMOVE",
                    static=(INSTANCE, Fixed("ignore_failures", False), DRY_RUN))),
    Route("GET", "/2/instances/{instance_name}/info", Access.ANY,
          "Detailed instance information (runs a job; its result holds the data)",
          op=OpSpec("OP_INSTANCE_QUERY_DATA", body=False, static=(
              FromPath("instances", "instance_name", listed=True),
              FromFlag("static", "static", doc="only static configuration data")))),
    Route("GET", "/2/instances/{instance_name}/console", Access.READ,
          "How to reach the instance's console", handler=console,
          opcodes=("OP_INSTANCE_CONSOLE",), response={"type": "object"}),
]
