"""Checking a variant and OS parameters against an OS, and running its ``verify`` script.

The order is Ganeti's ``os_validate``: the variant (unless forced), then for API >= 20 that
every parameter is declared in ``parameters.list``, then ``verify parameters`` with the core
environment only (``OS_*``, ``OSP_*``, ``DEBUG_LEVEL``, ``PATH``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from corral.osdef import OsParamsError
from corral.osdef.discovery import API_V20, OsInfo, OsScript
from corral.osdef.env import os_core_environment
from corral.process import CommandRunner

VERIFY_TIMEOUT = 300.0
"""Seconds ``verify`` may run."""

VERIFY_CHECKS = ("parameters",)
"""The checks passed to ``verify`` as arguments (the only one the OS API defines)."""


async def validate_os(
    os: OsInfo,
    variant: str | None,
    osparams: Mapping[str, Any],
    runner: CommandRunner,
    *,
    force_variant: bool = False,
    timeout: float = VERIFY_TIMEOUT,
) -> None:
    """Accept ``variant`` and ``osparams`` for ``os`` or raise.

    Raises:
        OsParamsError: unsupported variant, undeclared parameter, or ``verify`` failed
            (its output is in the message).
    """
    if not force_variant:
        check_variant(os, variant)
    if os.api_version < API_V20:
        return
    check_parameters(os, osparams)
    env = os_core_environment(os, variant, osparams)
    result = await runner.run(
        [str(os.script_path(OsScript.VERIFY)), *VERIFY_CHECKS],
        timeout=timeout,
        env=env,
        cwd=str(os.path),
        reset_env=True,
    )
    if result.failed:
        reason = "timed out" if result.timed_out else f"exit code {result.exit_code}"
        output = result.output.strip()
        raise OsParamsError(f"OS '{os.name}' validation script failed ({reason}), output: {output}")


def check_variant(os: OsInfo, variant: str | None) -> None:
    """An OS with variants needs one of them; an OS without any takes none.

    Raises:
        OsParamsError: with the reason.
    """
    if not os.variants:
        if variant:
            raise OsParamsError(f"OS '{os.name}' doesn't support variants ('{variant}' passed)")
        return
    if not variant:
        raise OsParamsError(f"OS name must include a variant (one of: {_join(os.variants)})")
    if variant not in os.variants:
        raise OsParamsError(
            f"OS '{os.name}' does not support variant '{variant}' (one of: {_join(os.variants)})"
        )


def check_parameters(os: OsInfo, osparams: Iterable[str]) -> None:
    """Every parameter name must be declared in ``parameters.list``.

    Raises:
        OsParamsError: naming the undeclared parameters.
    """
    unknown = sorted(set(osparams).difference(os.parameter_names))
    if unknown:
        raise OsParamsError(
            f"The following parameters are not supported by the OS {os.name}: {_join(unknown)}"
        )


def _join(items: Iterable[str]) -> str:
    return ", ".join(items)
