"""Running an allocator: Corral's own in-process, or an external one as Ganeti does.

An external allocator is an executable found by name in the search path (Ganeti's
iallocator directories; ``CORRAL_IALLOCATOR_PATH`` — colon-separated — goes first). It gets
the request in a temporary file named as its first argument, then the cluster's
``default_iallocator_params`` as ``--key=value`` options (``--key`` alone for a value of
``None``, as ``--ignore-soft-errors``); exit 0 with the JSON answer on
stdout is success, anything else a failure showing its output.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from corral.iallocator import builtin
from corral.iallocator import protocol as proto

BUILTIN = "corral"
"""Name of Corral's own allocator (also installed as an external one)."""
SEARCH_PATH = (
    "/usr/lib/ganeti/iallocators",
    "/usr/local/lib/ganeti/iallocators",
    "/usr/lib/ganeti/3.0/usr/lib/ganeti/iallocators",
)
"""Ganeti's iallocator directories, Debian's versioned one last."""
DEFAULT_SHORTCUT = "."
"""``-I .``: the cluster's default allocator."""


class AllocatorError(Exception):
    """The allocator could not be found or run, or answered outside the protocol."""


def search_path() -> list[str]:
    extra = [p for p in os.environ.get("CORRAL_IALLOCATOR_PATH", "").split(":") if p]
    return [*extra, *SEARCH_PATH]


def find(name: str) -> Path | None:
    """The executable of allocator ``name`` (a bare name, looked up in the search path)."""
    if "/" in name:
        return None
    for directory in search_path():
        path = Path(directory) / name
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


IGNORE_SOFT_ERRORS = "ignore-soft-errors"
"""The option (a bare flag) a node evacuation passes when soft errors are to be ignored."""


def _options(params: Mapping[str, Any]) -> list[str]:
    """``--key=value`` per parameter, ``--key`` for a parameter whose value is ``None``."""
    return [f"--{key}" if value is None else f"--{key}={value}"
            for key, value in sorted(params.items())]


async def run_external(path: Path, document: Mapping[str, Any],
                       params: Mapping[str, Any] | None = None,
                       timeout: float = 300.0) -> Any:
    """Run ``path`` on ``document``; returns its decoded JSON answer.

    Raises:
        AllocatorError: it failed, timed out or printed something that is not JSON.
    """
    with tempfile.NamedTemporaryFile("w", prefix="ganeti-iallocator.", suffix=".json",
                                     delete=True) as handle:
        json.dump(document, handle)
        handle.flush()
        proc = await asyncio.create_subprocess_exec(
            str(path), handle.name, *_options(params or {}),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise AllocatorError(f"Instance allocator {path.name} timed out") from None
    if proc.returncode != 0:
        text = (out + err).decode(errors="replace").strip()
        raise AllocatorError(f"Instance allocator call failed: {path.name} exited with"
                             f" code {proc.returncode}: {text}")
    try:
        return json.loads(out)
    except ValueError as exc:
        raise AllocatorError(f"Instance allocator {path.name} gave an invalid answer:"
                             f" {exc}") from None


async def run(name: str, document: Mapping[str, Any],
              params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The checked answer of allocator ``name`` (``corral``: the built-in one, in process).

    Raises:
        AllocatorError: unknown allocator, failed run, or an answer outside the protocol.
    """
    request = document.get("request") or {}
    if name == BUILTIN and find(name) is None:
        soft = IGNORE_SOFT_ERRORS in (params or {})
        answer: Any = await asyncio.to_thread(builtin.allocate, document, soft)
    else:
        path = find(name)
        if path is None:
            raise AllocatorError(f"Can't find allocator '{name}' (looked in"
                                 f" {', '.join(search_path())})")
        answer = await run_external(path, proto.for_ganeti(document), params)
    try:
        return proto.check_answer(str(request.get("type")), answer,
                                  request.get("required_nodes"))
    except proto.ProtocolError as err:
        raise AllocatorError(str(err)) from None
