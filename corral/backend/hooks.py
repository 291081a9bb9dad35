"""The ``hooks_runner`` call: run one hooks directory of this node."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from corral.backend.context import NodeContext
from corral.backend.handlers import handles
from corral.errors import ParameterError
from corral.hooks.env import HookPhase, env_value
from corral.hooks.runner import HOOK_TIMEOUT, run_hooks_dir
from corral.rpc.payloads import HookScriptResult

HPATH_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")



def check_hpath(hpath: str, phase: str) -> HookPhase:
    """Validate a hooks path and phase from the wire.

    Raises:
        ParameterError: the hooks path could leave the hooks directory, or the phase is unknown.
    """
    if HPATH_RE.fullmatch(hpath) is None or ".." in hpath:
        raise ParameterError(f"Invalid hooks path {hpath!r}")
    try:
        return HookPhase(phase)
    except ValueError:
        raise ParameterError(f"Invalid hooks phase {phase!r}, expected 'pre' or 'post'") from None


@handles("hooks_runner")
async def hooks_runner(
    ctx: NodeContext, hpath: str, phase: str, env: dict[str, Any]
) -> list[HookScriptResult]:
    """Run ``<hooks dir>/<hpath>-<phase>.d`` with exactly ``env``.

    Returns ``[[script name, status (0 skip, 1 fail, 2 success), output], ...]``;
    a missing directory gives an empty list.

    Raises:
        ParameterError: bad hooks path or phase.
    """
    hook_phase = check_hpath(hpath, phase)
    timeout = ctx.services.hook_timeout or HOOK_TIMEOUT
    clean_env = {str(key): env_value(value) for key, value in env.items()}
    rows = await run_hooks_dir(
        ctx.layout.hooks_dir, hpath, hook_phase, clean_env, ctx.runner, timeout=timeout
    )
    return msgspec.convert(rows, list[HookScriptResult])
