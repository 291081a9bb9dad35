"""The environment a hook script sees: Ganeti's ``GANETI_*`` variables, version 2."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HOOKS_VERSION = 2
HOOKS_PATH_ENV = "/sbin:/bin:/usr/sbin:/usr/bin"
PRE_PREFIX = "GANETI_"
POST_PREFIX = "GANETI_POST_"


class HookPhase(enum.StrEnum):
    """When a hook runs relative to the operation."""

    PRE = "pre"
    POST = "post"


def hooks_subdir(hpath: str, phase: str) -> str:
    """The directory name of one hooks path and phase, e.g. ``instance-start-pre.d``."""
    return f"{hpath}-{HookPhase(phase).value}.d"


def env_value(value: Any) -> str:
    """A hook environment value: ``None`` becomes empty, everything else ``str()``."""
    return "" if value is None else str(value)


def _prefixed(prefix: str, lu_env: Mapping[str, Any]) -> dict[str, str]:
    return {f"{prefix}{key}": env_value(value) for key, value in lu_env.items()}


def build_env(
    *,
    hpath: str,
    phase: str,
    op_id: str,
    object_type: str | None,
    cluster_name: str | None,
    master_name: str | None,
    data_dir: Path | str,
    lu_env_pre: Mapping[str, Any],
    lu_env_post: Mapping[str, Any] | None,
) -> dict[str, str]:
    """The complete environment of a hook run (the process gets nothing else).

    Each key ``K`` of ``lu_env_pre`` is exported as ``GANETI_K``; in the post phase
    each key of ``lu_env_post`` is also exported as ``GANETI_POST_K``. The object
    type, cluster and master are left out when ``None``.

    Raises:
        ValueError: ``phase`` is neither ``pre`` nor ``post``.
    """
    hook_phase = HookPhase(phase)
    env = _prefixed(PRE_PREFIX, lu_env_pre)
    if hook_phase is HookPhase.POST and lu_env_post is not None:
        env.update(_prefixed(POST_PREFIX, lu_env_post))
    # The common variables win over an LU key that happens to collide with them.
    env.update({
        "PATH": HOOKS_PATH_ENV,
        "GANETI_HOOKS_VERSION": str(HOOKS_VERSION),
        "GANETI_OP_CODE": op_id,
        "GANETI_DATA_DIR": str(data_dir),
        "GANETI_HOOKS_PHASE": hook_phase.value,
        "GANETI_HOOKS_PATH": hpath,
    })
    optional = {
        "GANETI_OBJECT_TYPE": object_type,
        "GANETI_CLUSTER": cluster_name,
        "GANETI_MASTER": master_name,
    }
    env.update({key: value for key, value in optional.items() if value is not None})
    return env
