"""Hooks: Ganeti's run-parts hook directories and their ``GANETI_*`` environment."""

from corral.hooks.env import HOOKS_PATH_ENV, HOOKS_VERSION, HookPhase, build_env, hooks_subdir
from corral.hooks.runner import HookOutcome, HookStatus, run_hooks_dir, run_parts

__all__ = [
    "HOOKS_PATH_ENV",
    "HOOKS_VERSION",
    "HookOutcome",
    "HookPhase",
    "HookStatus",
    "build_env",
    "hooks_subdir",
    "run_hooks_dir",
    "run_parts",
]
