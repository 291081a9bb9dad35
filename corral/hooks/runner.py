"""Run a hooks directory the way Ganeti's ``RunParts`` does.

Entries run one at a time in plain string order, with no arguments, the
environment replaced by the hook environment, and output captured. Entries
whose name is not ``[a-zA-Z0-9_-]+`` or that are not executable regular files
are reported as skipped.
"""

from __future__ import annotations

import asyncio
import enum
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral.hooks.env import hooks_subdir
from corral.process import CommandResult, CommandRunner

HOOK_TIMEOUT = 3600.0
"""Seconds one hook script may run (Ganeti's value)."""

HOOK_NAME_RE = re.compile(r"[a-zA-Z0-9_-]+")


class HookStatus(enum.IntEnum):
    """Per-script result codes on the wire (Ganeti's ``HKR_*``)."""

    SKIP = 0
    FAIL = 1
    SUCCESS = 2


@dataclass(frozen=True, slots=True)
class HookOutcome:
    """What one entry of a hooks directory did."""

    name: str
    status: HookStatus
    output: str


def _runnable(path: Path) -> bool:
    """An executable regular file (symlinks followed), as ``utils.IsExecutable``."""
    try:
        st = path.stat()
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and os.access(path, os.X_OK)


def scan_dir(directory: Path) -> list[tuple[str, bool]]:
    """Sorted entry names of ``directory``, each with whether it will be run.

    A missing directory (or a non-directory) has no entries.
    """
    try:
        names = sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [(name, _eligible(directory, name)) for name in names]


def _eligible(directory: Path, name: str) -> bool:
    return HOOK_NAME_RE.fullmatch(name) is not None and _runnable(directory / name)


def _outcome(name: str, result: CommandResult) -> HookOutcome:
    if not result.failed:
        return HookOutcome(name, HookStatus.SUCCESS, result.output)
    output = result.output
    if result.timed_out or result.exit_code < 0:
        output = f"{output}\n{result.fail_reason}" if output else result.fail_reason
    return HookOutcome(name, HookStatus.FAIL, output)


async def run_parts(
    directory: Path,
    env: Mapping[str, str],
    runner: CommandRunner,
    *,
    timeout: float = HOOK_TIMEOUT,
) -> list[HookOutcome]:
    """Run every eligible entry of ``directory`` in order; a missing directory gives ``[]``.

    Each script gets exactly ``env`` as its environment, ``/`` as working
    directory and at most ``timeout`` seconds. A failing script does not stop
    the following ones.
    """
    outcomes: list[HookOutcome] = []
    for name, runnable in await asyncio.to_thread(scan_dir, directory):
        if not runnable:
            outcomes.append(HookOutcome(name, HookStatus.SKIP, ""))
            continue
        result = await runner.run(
            [str(directory / name)], timeout=timeout, env=dict(env), cwd="/", reset_env=True
        )
        outcomes.append(_outcome(name, result))
    return outcomes


async def run_hooks_dir(
    hooks_dir: Path,
    hpath: str,
    phase: str,
    env: Mapping[str, str],
    runner: CommandRunner,
    *,
    timeout: float = HOOK_TIMEOUT,
) -> list[list[Any]]:
    """Run ``<hooks_dir>/<hpath>-<phase>.d`` and give Ganeti's wire results.

    Returns ``[[ "<hpath>-<phase>.d/<name>", status, output ], ...]``.

    Raises:
        ValueError: ``phase`` is neither ``pre`` nor ``post``.
    """
    subdir = hooks_subdir(hpath, phase)
    outcomes = await run_parts(hooks_dir / subdir, env, runner, timeout=timeout)
    return [[f"{subdir}/{o.name}", int(o.status), o.output] for o in outcomes]


def failed_scripts(results: list[list[Any]]) -> list[str]:
    """Names of the scripts that failed in a :func:`run_hooks_dir` result."""
    return [str(name) for name, status, _ in results if status == HookStatus.FAIL]
