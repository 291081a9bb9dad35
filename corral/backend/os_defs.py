"""OS definition RPC handlers: diagnose, validate, install (create) and rename scripts."""

from __future__ import annotations

import asyncio
from typing import Any

from corral.backend.bundle_views import assemble_disks, os_disks, os_instance, os_nics
from corral.backend.context import NodeContext
from corral.backend.handlers import handles
from corral.objects.bundle import InstanceBundle
from corral.osdef import OsNotFoundError
from corral.osdef.discovery import OsInfo, OsScript, diagnose, find_os, split_os_name
from corral.osdef.env import os_environment, with_reinstall, with_rename
from corral.osdef.run import run_os_script
from corral.osdef.validation import validate_os
from corral.rpc.payloads import OsDiagnosis

CREATE_TIMEOUT = 86400.0
RENAME_TIMEOUT = 3600.0


def os_diagnosis(info: OsInfo) -> OsDiagnosis:
    return OsDiagnosis(
        name=info.name,
        path=str(info.path),
        valid=info.valid,
        error=info.error,
        variants=list(info.variants),
        parameters=list(info.parameters),
        api_versions=list(info.api_versions),
        trusted=info.trusted,
    )


@handles("os_diagnose")
async def os_diagnose(ctx: NodeContext) -> list[OsDiagnosis]:
    found = await asyncio.to_thread(diagnose, ctx.layout.os_search_path)
    return [os_diagnosis(info) for info in found]


@handles("os_validate")
async def os_validate(
    ctx: NodeContext,
    required: bool,
    name: str,
    checks: list[str],
    params: dict[str, Any],
    force_variant: bool,
) -> bool:
    os_name, variant = split_os_name(name)
    try:
        info = await asyncio.to_thread(find_os, ctx.layout.os_search_path, os_name)
    except OsNotFoundError:
        if required:
            raise
        return False
    await validate_os(info, variant, params, ctx.runner, force_variant=force_variant)
    return True


async def _script_env(
    ctx: NodeContext, bundle: InstanceBundle, debug: int
) -> tuple[OsInfo, dict[str, str]]:
    os_name, variant = split_os_name(bundle.instance.os)
    info = await asyncio.to_thread(find_os, ctx.layout.os_search_path, os_name)
    devices = await assemble_disks(ctx, bundle)
    env = os_environment(
        info,
        variant=variant,
        osparams=bundle.osparams,
        instance=os_instance(bundle),
        disks=os_disks(bundle, devices),
        nics=os_nics(bundle),
        hypervisor=bundle.instance.hypervisor,
        hvparams=bundle.hvparams,
        beparams=bundle.beparams,
        debug=debug,
    )
    return info, env


@handles("instance_os_add")
async def instance_os_add(
    ctx: NodeContext, instance: InstanceBundle, reinstall: bool, debug: int
) -> None:
    info, env = await _script_env(ctx, instance, debug)
    if reinstall:
        env = with_reinstall(env)
    ctx.layout.os_log_dir.mkdir(parents=True, exist_ok=True)
    await run_os_script(
        info, OsScript.CREATE, env, ctx.runner, ctx.layout.os_log_dir, timeout=CREATE_TIMEOUT
    )


@handles("instance_run_rename")
async def instance_run_rename(
    ctx: NodeContext, instance: InstanceBundle, old_name: str, debug: int
) -> None:
    info, env = await _script_env(ctx, instance, debug)
    ctx.layout.os_log_dir.mkdir(parents=True, exist_ok=True)
    await run_os_script(
        info,
        OsScript.RENAME,
        with_rename(env, old_name),
        ctx.runner,
        ctx.layout.os_log_dir,
        timeout=RENAME_TIMEOUT,
    )
