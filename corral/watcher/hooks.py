"""The watcher hooks: every executable in ``<hooks dir>/watcher/``, run-parts style.

As in Ganeti the scripts get no special variables: they run with the watcher's own
environment, no arguments, one at a time in name order; names must match
``[a-zA-Z0-9_-]+``. Failures are only logged.
"""

from __future__ import annotations

import asyncio
import logging
import os

from corral.hooks.runner import HookOutcome, HookStatus, run_parts
from corral.layout import NodeLayout
from corral.process import CommandRunner, SubprocessRunner

log = logging.getLogger(__name__)

WATCHER_HOOKS = "watcher"
"""Subdirectory of the hooks directory (Ganeti's ``HOOKS_NAME_WATCHER``)."""


def run_watcher_hooks(
    layout: NodeLayout, runner: CommandRunner | None = None
) -> list[HookOutcome]:
    """Run the watcher hooks directory; a missing directory runs nothing."""
    directory = layout.hooks_dir / WATCHER_HOOKS
    if not directory.is_dir():
        return []
    outcomes = asyncio.run(run_parts(directory, dict(os.environ), runner or SubprocessRunner()))
    for outcome in outcomes:
        _report(outcome)
    return outcomes


def _report(outcome: HookOutcome) -> None:
    if outcome.status is HookStatus.SKIP:
        log.debug("Watcher hook %s: skipped", outcome.name)
    elif outcome.status is HookStatus.FAIL:
        log.warning("Watcher hook %s: failed (output: %s)", outcome.name, outcome.output.strip())
    else:
        log.debug("Watcher hook %s: success (output: %s)", outcome.name, outcome.output.strip())
