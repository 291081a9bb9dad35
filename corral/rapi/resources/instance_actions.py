"""Actions on one instance: ``/2/instances/[instance_name]/<action>``.

Each answers the id of the job it submitted. Query arguments and body
parameters are Ganeti's; the body of most actions is the opcode's parameters.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from corral.rapi.context import RapiContext
from corral.rapi.httperror import bad_request
from corral.rapi.opinput import DRY_RUN, FORCE, FromFlag, FromPath, FromText, OpSpec, build_op
from corral.rapi.request import RapiRequest, body_param, check_type
from corral.rapi.resources.instances import INSTANCE, usb_commas
from corral.rapi.routing import Access, QueryDoc, Route

NO_REMEMBER = FromFlag("no_remember", "no_remember", doc="do not record the new state")
BASE = "/2/instances/{instance_name}"
LEGACY_QUERY_IGNORED = frozenset({"reason"})


def _legacy_query(req: RapiRequest) -> bool:
    """Whether the request uses query arguments other than ``reason``."""
    return any(name not in LEGACY_QUERY_IGNORED for name in req.query)


def _reinstall_body(req: RapiRequest) -> dict[str, Any]:
    if req.body:
        if _legacy_query(req):
            raise bad_request("Can't combine query and body parameters")
        return dict(check_type(req.body, dict, "Body contents"))
    if _legacy_query(req):  # the old interface: ?os=NAME&nostartup=1
        return {"os": req.text("os"), "start": not req.integer("nostartup")}
    return {}


async def reinstall(ctx: RapiContext, req: RapiRequest) -> Any:
    """One job: shutdown, reinstall and (unless ``start`` is false) startup."""
    body = _reinstall_body(req)
    name = req.param("instance_name")
    os_type = body_param(body, "os", None, None)
    start = body_param(body, "start", bool, True)
    osparams = body_param(body, "osparams", None, None)
    plain = dataclasses.replace(req, body=None)
    resource = "instances_name_reinstall"
    ops = [
        build_op(OpSpec("OP_INSTANCE_SHUTDOWN", static=(INSTANCE,)), plain, resource),
        {**build_op(OpSpec("OP_INSTANCE_REINSTALL", static=(INSTANCE,)), plain, resource),
         "os_type": os_type, "osparams": osparams},
    ]
    if start:
        ops.append({"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": name, "force": False,
                    "reason": ops[0]["reason"]})
    return await ctx.submit(ops)


def disk_indices(raw: Any) -> list[int]:
    """A list of disk indices, or Ganeti's older comma-separated string (``"0,2"``)."""
    if isinstance(raw, list) and all(type(i) is int for i in raw):
        return raw
    try:
        return [int(part) for part in str(raw).split(",")]
    except ValueError as err:
        raise bad_request(f"Invalid disk index passed: {err}") from None


def _replace_params(params: dict[str, Any]) -> dict[str, Any]:
    raw = params.pop("disks", None)
    if raw:
        params["disks"] = disk_indices(raw)
    return params


REPLACE_OP = OpSpec("OP_INSTANCE_REPLACE_DISKS", static=(INSTANCE,), transform=_replace_params)
_REPLACE_LEGACY = ("remote_node", "mode", "disks", "iallocator", "early_release")


async def replace_disks(ctx: RapiContext, req: RapiRequest) -> Any:
    """Body parameters, or the older query arguments (``?mode=...&disks=0,1``)."""
    if not req.body and _legacy_query(req):
        legacy = {key: req.text(key) for key in _REPLACE_LEGACY if req.text(key) is not None}
        req = dataclasses.replace(req, body=legacy)
    return await ctx.submit([build_op(REPLACE_OP, req, "instances_name_replace_disks")])


def _op(op_id: str, *static: Any, body: bool = True, **kwargs: Any) -> OpSpec:
    return OpSpec(op_id, static=(INSTANCE, *static), body=body, **kwargs)


_REINSTALL_BODY = {"type": "object", "properties": {
    "os": {"type": "string"}, "start": {"type": "boolean"}, "osparams": {"type": "object"}}}
_REPLACE_QUERY = tuple(QueryDoc(name, doc="legacy form of the body parameter")
                       for name in _REPLACE_LEGACY)

ROUTES = [
    Route("PUT", f"{BASE}/startup", Access.WRITE, "Start an instance",
          op=_op("OP_INSTANCE_STARTUP", FORCE, DRY_RUN, NO_REMEMBER, body=False)),
    Route("PUT", f"{BASE}/shutdown", Access.WRITE, "Shut an instance down",
          op=_op("OP_INSTANCE_SHUTDOWN", NO_REMEMBER, DRY_RUN)),
    Route("POST", f"{BASE}/reboot", Access.WRITE, "Reboot an instance",
          op=_op("OP_INSTANCE_REBOOT",
                 FromText("reboot_type", "type", "hard", doc="soft, hard (default) or full"),
                 FromFlag("ignore_secondaries", "ignore_secondaries",
                          doc="start even if secondary disks fail"), DRY_RUN)),
    Route("POST", f"{BASE}/reinstall", Access.WRITE, "Reinstall the OS (one job: shutdown,"
          " reinstall, startup)", handler=reinstall,
          opcodes=("OP_INSTANCE_SHUTDOWN", "OP_INSTANCE_REINSTALL", "OP_INSTANCE_STARTUP"),
          query=(QueryDoc("os", doc="legacy: OS name"),
                 QueryDoc("nostartup", "flag", "legacy: do not start")), body=_REINSTALL_BODY),
    Route("POST", f"{BASE}/replace-disks", Access.WRITE, "Replace an instance's disks",
          handler=replace_disks, opcodes=("OP_INSTANCE_REPLACE_DISKS",), query=_REPLACE_QUERY,
          body={"type": "object"}),
    Route("PUT", f"{BASE}/activate-disks", Access.WRITE, "Activate an instance's disks",
          op=_op("OP_INSTANCE_ACTIVATE_DISKS", FromFlag("ignore_size", "ignore_size",
                 doc="ignore the recorded disk sizes"), body=False)),
    Route("PUT", f"{BASE}/deactivate-disks", Access.WRITE, "Deactivate an instance's disks",
          op=_op("OP_INSTANCE_DEACTIVATE_DISKS", FORCE, body=False)),
    Route("POST", f"{BASE}/recreate-disks", Access.WRITE, "Recreate an instance's disks",
          op=_op("OP_INSTANCE_RECREATE_DISKS")),
    Route("POST", f"{BASE}/disk/{{disk_index}}/grow", Access.WRITE, "Grow one disk",
          op=_op("OP_INSTANCE_GROW_DISK", FromPath("disk", "disk_index", integer=True))),
    Route("PUT", f"{BASE}/prepare-export", Access.WRITE, "Prepare an instance export",
          op=_op("OP_BACKUP_PREPARE", FromText("mode", "mode", doc="local or remote"),
                 body=False)),
    Route("PUT", f"{BASE}/export", Access.WRITE, "Export an instance",
          op=_op("OP_BACKUP_EXPORT", renames={"destination": "target_node"})),
    Route("DELETE", f"{BASE}/export", Access.WRITE, "Remove an instance's stored export",
          op=_op("OP_BACKUP_REMOVE")),
    Route("PUT", f"{BASE}/migrate", Access.WRITE, "Migrate an instance",
          op=_op("OP_INSTANCE_MIGRATE")),
    Route("PUT", f"{BASE}/failover", Access.WRITE, "Fail an instance over",
          op=_op("OP_INSTANCE_FAILOVER")),
    Route("PUT", f"{BASE}/rename", Access.WRITE, "Rename an instance",
          op=_op("OP_INSTANCE_RENAME")),
    Route("PUT", f"{BASE}/modify", Access.WRITE, "Modify an instance",
          op=_op("OP_INSTANCE_SET_PARAMS", transform=usb_commas,
                 renames={"custom_beparams": "beparams", "custom_hvparams": "hvparams"})),
]
