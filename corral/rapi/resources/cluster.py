"""Cluster-wide resources: ``/``, ``/2``, ``/version``, ``/2/info``, ``/2/features``,
``/2/os``, ``/2/redistribute-config`` and ``/2/modify``."""

from __future__ import annotations

from typing import Any

from corral.job_wire import JobStatus
from corral.rapi.context import RapiContext
from corral.rapi.httperror import HttpError
from corral.rapi.opinput import OpSpec
from corral.rapi.request import RapiRequest
from corral.rapi.routing import Access, Route

RAPI_VERSION = 2
FEATURES = ["instance-create-reqv1", "instance-reinstall-reqv1", "node-migrate-reqv1",
            "node-evac-res1"]
"""Optional features, as Ganeti 3.0 announces them."""
INFO_ALIASES = {"volume_group_name": "vg_name", "drbd_usermode_helper": "drbd_helper"}
"""Keys ``/2/info`` also answers under an older name (Ganeti's GET_ALIASES)."""
OS_DIAGNOSE_TIMEOUT = 300.0
"""Seconds ``/2/os`` waits for its OP_OS_DIAGNOSE job."""


async def legacy_root(ctx: RapiContext, req: RapiRequest) -> Any:
    return None


async def version(ctx: RapiContext, req: RapiRequest) -> Any:
    return RAPI_VERSION


async def features(ctx: RapiContext, req: RapiRequest) -> Any:
    return list(FEATURES)


async def info(ctx: RapiContext, req: RapiRequest) -> Any:
    result: dict[str, Any] = dict(await ctx.call("QueryClusterInfo"))
    for name, alias in INFO_ALIASES.items():
        if name in result:
            result[alias] = result[name]
    return result


def os_names(name: str, variants: list[str] | None) -> list[str]:
    """``name+variant`` for each variant, or just ``name`` (Ganeti's CalculateOSNames)."""
    return [f"{name}+{variant}" for variant in variants] if variants else [name]


async def operating_systems(ctx: RapiContext, req: RapiRequest) -> Any:
    """Runs OP_OS_DIAGNOSE as a job and waits for it, as Ganeti does."""
    op = {"OP_ID": "OP_OS_DIAGNOSE", "output_fields": ["name", "variants"], "names": []}
    job_id = await ctx.submit([op])
    status, results = await ctx.wait_job(job_id, OS_DIAGNOSE_TIMEOUT)
    data = results[0] if results else None
    if status != JobStatus.SUCCESS or not isinstance(data, list):
        raise HttpError(502, f"Can't get OS list (job {job_id}: {status})")
    return [entry for name, variants in data for entry in os_names(name, variants)]


_STRINGS = {"type": "array", "items": {"type": "string"}}

ROUTES = [
    Route("GET", "/", Access.PUBLIC, "Legacy root; answers null", handler=legacy_root,
          response={"type": "null"}),
    Route("GET", "/2", Access.PUBLIC, "Legacy version-2 root; answers null",
          handler=legacy_root, response={"type": "null"}),
    Route("GET", "/version", Access.PUBLIC, "The remote API version (2)", handler=version,
          response={"type": "integer", "enum": [RAPI_VERSION]}),
    Route("GET", "/2/info", Access.ANY, "Cluster information", handler=info,
          response={"type": "object"}),
    Route("GET", "/2/features", Access.ANY, "Optional features of this server",
          handler=features, response=_STRINGS),
    Route("GET", "/2/os", Access.ANY, "Valid OS names with their variants (runs a job)",
          handler=operating_systems, opcodes=("OP_OS_DIAGNOSE",), response=_STRINGS),
    Route("PUT", "/2/redistribute-config", Access.WRITE,
          "Redistribute the configuration to all nodes",
          op=OpSpec("OP_CLUSTER_REDIST_CONF")),
    Route("PUT", "/2/modify", Access.WRITE, "Modify cluster parameters",
          op=OpSpec("OP_CLUSTER_SET_PARAMS", forbidden=frozenset({"compression_tools"}))),
]
