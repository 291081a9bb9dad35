"""``/2/nodes`` and ``/2/nodes/[node_name]`` with its role, storage and actions."""

from __future__ import annotations

import dataclasses
from typing import Any

from corral.rapi.context import RapiContext
from corral.rapi.httperror import bad_request, not_found
from corral.rapi.opinput import DRY_RUN, FORCE, FromFlag, FromPath, OpSpec, build_op
from corral.rapi.request import RapiRequest, check_type
from corral.rapi.resources.instances import COMMON_FIELDS
from corral.rapi.routing import Access, QueryDoc, Route

N_FIELDS = [
    "name", "offline", "master_candidate", "drained", "dtotal", "dfree", "sptotal", "spfree",
    "mtotal", "mnode", "mfree", "pinst_cnt", "sinst_cnt", "ctotal", "cnos", "cnodes",
    "csockets", "pip", "sip", "role", "pinst_list", "sinst_list", "master_capable",
    "vm_capable", "ndparams", "group.uuid", *COMMON_FIELDS,
]  # fmt: skip
"""The fields of a node record (Ganeti 3.0's N_FIELDS)."""
NODE = FromPath("node_name", "node_name")
BASE = "/2/nodes/{node_name}"

ROLE_NAMES = {"M": "master", "C": "master-candidate", "R": "regular", "D": "drained",
              "O": "offline"}
"""Node roles as RAPI names them."""
ROLE_FLAGS: dict[str, dict[str, bool | None]] = {
    "regular": {"master_candidate": False, "offline": False, "drained": False},
    "master-candidate": {"master_candidate": True, "offline": None, "drained": None},
    "drained": {"master_candidate": None, "offline": None, "drained": True},
    "offline": {"master_candidate": None, "offline": True, "drained": None},
}
"""OP_NODE_SET_PARAMS flags for each role a client may set."""


async def list_nodes(ctx: RapiContext, req: RapiRequest) -> Any:
    return await ctx.listing("node", N_FIELDS, req.bulk, "/2/nodes/%s", "id")


async def get_node(ctx: RapiContext, req: RapiRequest) -> Any:
    record = await ctx.query_one("node", req.param("node_name"), N_FIELDS)
    record["secondary_ip"] = record["sip"]
    return record


async def get_role(ctx: RapiContext, req: RapiRequest) -> Any:
    record = await ctx.query_one("node", req.param("node_name"), ["role"])
    role = ROLE_NAMES.get(record["role"])
    if role is None:
        raise not_found()
    return role


def _role_flags(req: RapiRequest) -> dict[str, Any]:
    role = check_type(req.body, str, "Body contents")
    flags = ROLE_FLAGS.get(role)
    if flags is None:
        raise bad_request(f"Can't set '{role}' role")
    return flags


ROLE_OP = OpSpec("OP_NODE_SET_PARAMS", body=False, static=(
    NODE, FORCE, FromFlag("auto_promote", "auto-promote",
                          doc="promote other nodes to master candidates if needed")))


async def set_role(ctx: RapiContext, req: RapiRequest) -> Any:
    """The body is the role's name as a JSON string (``"drained"``)."""
    flags = _role_flags(req)
    op = build_op(ROLE_OP, req, "nodes_name_role")
    return await ctx.submit([{**op, **flags}])


MIGRATE_OP = OpSpec("OP_NODE_MIGRATE", static=(NODE, DRY_RUN))


async def migrate(ctx: RapiContext, req: RapiRequest) -> Any:
    """Body parameters, or the older ``?live=0|1`` / ``?mode=`` arguments.

    ``?dry-run=1`` is honoured in both forms (Ganeti's client sends it with a body; Ganeti's
    server then drops the body and the dry-run flag alike).
    """
    if req.text("live") is not None and req.text("mode") is not None:
        raise bad_request("Only one of 'live' and 'mode' should be passed")
    if req.text("live") is not None:
        body: Any = {"mode": "live" if req.flag("live", True) else "non-live"}
        req = dataclasses.replace(req, body=body)
    elif req.text("mode") is not None:
        req = dataclasses.replace(req, body={"mode": req.text("mode")})
    return await ctx.submit([build_op(MIGRATE_OP, req, "nodes_name_migrate")])


def _required(req: RapiRequest, name: str) -> str:
    value = req.text(name)
    if not value:
        raise bad_request(f"Missing the required '{name}' parameter")
    return value


async def query_storage(ctx: RapiContext, req: RapiRequest) -> Any:
    fields = _required(req, "output_fields").split(",")
    op = build_op(OpSpec("OP_NODE_QUERY_STORAGE", body=False), req, "nodes_name_storage")
    op.update(nodes=[req.param("node_name")], storage_type=req.text("storage_type"),
              output_fields=fields)
    return await ctx.submit([op])


async def modify_storage(ctx: RapiContext, req: RapiRequest) -> Any:
    name = _required(req, "name")
    changes = {}
    if req.text("allocatable") is not None:
        changes["allocatable"] = req.flag("allocatable", True)
    op = build_op(OpSpec("OP_NODE_MODIFY_STORAGE", static=(NODE,), body=False), req,
                  "nodes_name_storage_modify")
    op.update(storage_type=req.text("storage_type"), name=name, changes=changes)
    return await ctx.submit([op])


async def repair_storage(ctx: RapiContext, req: RapiRequest) -> Any:
    name = _required(req, "name")
    op = build_op(OpSpec("OP_REPAIR_NODE_STORAGE", static=(NODE,), body=False), req,
                  "nodes_name_storage_repair")
    op.update(storage_type=req.text("storage_type"), name=name)
    return await ctx.submit([op])


_STORAGE = QueryDoc("storage_type", doc="storage type (lvm-vg, file, ...)")
_UNIT = QueryDoc("name", doc="storage unit name (required)")
_ROLE_BODY = {"type": "string", "enum": sorted(ROLE_FLAGS)}

ROUTES = [
    Route("GET", "/2/nodes", Access.ANY, "List nodes", handler=list_nodes,
          query=(QueryDoc("bulk", "flag", "full records instead of names"),),
          response={"type": "array", "items": {"type": "object"}}),
    Route("GET", BASE, Access.ANY, "One node's record", handler=get_node,
          response={"type": "object"}),
    Route("POST", f"{BASE}/powercycle", Access.WRITE, "Power-cycle a node",
          op=OpSpec("OP_NODE_POWERCYCLE", static=(NODE, FORCE))),
    Route("GET", f"{BASE}/role", Access.ANY, "A node's role", handler=get_role,
          response={"type": "string", "enum": sorted(ROLE_NAMES.values())}),
    Route("PUT", f"{BASE}/role", Access.WRITE, "Set a node's role", handler=set_role,
          opcodes=("OP_NODE_SET_PARAMS",), body=_ROLE_BODY, query=(
              QueryDoc("force", "flag", "force the operation"),
              QueryDoc("auto-promote", "flag", "promote other nodes if needed"))),
    Route("POST", f"{BASE}/evacuate", Access.WRITE, "Evacuate a node's instances",
          op=OpSpec("OP_NODE_EVACUATE", static=(NODE, DRY_RUN))),
    Route("POST", f"{BASE}/migrate", Access.WRITE, "Migrate a node's primary instances",
          handler=migrate, opcodes=("OP_NODE_MIGRATE",), body={"type": "object"},
          query=(QueryDoc("live", "flag", "legacy: live migration"),
                 QueryDoc("mode", doc="legacy: migration mode"),
                 QueryDoc("dry-run", "flag", "only check the operation's prerequisites"))),
    Route("POST", f"{BASE}/modify", Access.WRITE, "Modify a node",
          op=OpSpec("OP_NODE_SET_PARAMS", static=(NODE,))),
    Route("GET", f"{BASE}/storage", Access.WRITE, "Storage units of a node (runs a job)",
          handler=query_storage, opcodes=("OP_NODE_QUERY_STORAGE",), query=(
              _STORAGE, QueryDoc("output_fields", doc="comma-separated fields (required)"))),
    Route("PUT", f"{BASE}/storage/modify", Access.WRITE, "Modify a storage unit",
          handler=modify_storage, opcodes=("OP_NODE_MODIFY_STORAGE",),
          query=(_STORAGE, _UNIT, QueryDoc("allocatable", "flag", "allocatable or not"))),
    Route("PUT", f"{BASE}/storage/repair", Access.WRITE, "Repair a storage unit",
          handler=repair_storage, opcodes=("OP_REPAIR_NODE_STORAGE",), query=(_STORAGE, _UNIT)),
]
