"""The ``restricted_command`` call, with the semantics of Ganeti's ``RunRestrictedCmd``.

Only executables that root placed in the restricted commands directory can
run, one at a time (a file lock). Every refusal waits a fixed delay and gives
the same message, so a caller cannot probe which check failed; the precise
reason is only logged on the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from corral.backend.context import NodeContext
from corral.backend.handlers import handles
from corral.clock import Clock
from corral.errors import CommandError
from corral.hooks.env import HOOKS_PATH_ENV
from corral.layout import NodeLayout
from corral.process import CommandRunner

log = logging.getLogger(__name__)

COMMAND_NAME_RE = re.compile(r"[-_.a-zA-Z0-9]+")
FAIL_DELAY = 5.0
LOCK_TIMEOUT = 60.0
COMMAND_TIMEOUT = 3600.0
_LOCK_POLL = 0.05

class Refused(Exception):
    """A check failed; the message is for the node's log only."""


@dataclass(frozen=True, slots=True)
class RestrictedSettings:
    """Delays and limits in seconds, and the owner required of the directory and commands."""

    fail_delay: float = FAIL_DELAY
    lock_timeout: float = LOCK_TIMEOUT
    command_timeout: float = COMMAND_TIMEOUT
    owner_uid: int = 0


def check_name(name: str) -> None:
    """Raises: Refused: the name could leave the directory or has unusual characters."""
    if name in (".", "..") or COMMAND_NAME_RE.fullmatch(name) is None:
        raise Refused(f"invalid command name {name!r}")


def _check_owner_mode(path: Path, st: os.stat_result, owner_uid: int) -> None:
    if st.st_uid != owner_uid:
        raise Refused(f"{path} is owned by uid {st.st_uid}, not {owner_uid}")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise Refused(f"{path} is writable by group or others")


def _stat(path: Path) -> os.stat_result:
    try:
        return path.stat()
    except OSError as err:
        raise Refused(f"cannot stat {path}: {err.strerror}") from err


def verify_command(layout: NodeLayout, name: str, owner_uid: int = 0) -> Path:
    """The command's path after every check passed (blocking).

    Raises:
        Refused: which check failed, for the log.
    """
    check_name(name)
    directory = layout.restricted_commands_dir
    dir_st = _stat(directory)
    if not stat.S_ISDIR(dir_st.st_mode):
        raise Refused(f"{directory} is not a directory")
    _check_owner_mode(directory, dir_st, owner_uid)
    path = directory / name
    st = _stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise Refused(f"{path} is not a regular file")
    _check_owner_mode(path, st, owner_uid)
    if not st.st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH):
        raise Refused(f"{path} is not executable")
    return path


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.asynccontextmanager
async def exclusive_lock(path: Path, timeout: float) -> AsyncIterator[None]:
    """Hold ``flock(path)`` exclusively, polling without blocking the event loop.

    Raises:
        Refused: not acquired within ``timeout`` seconds.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not _try_lock(fd):
            if loop.time() >= deadline:
                raise Refused(f"lock {path} not acquired within {timeout:g}s")
            await asyncio.sleep(_LOCK_POLL)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


async def run_restricted_command(
    layout: NodeLayout,
    runner: CommandRunner,
    clock: Clock,
    name: str,
    settings: RestrictedSettings | None = None,
) -> str:
    """Run restricted command ``name`` and return its output (stdout then stderr).

    Raises:
        CommandError: ``Executing command '<name>' failed`` after ``fail_delay``
            seconds, whatever the reason; only a command that ran and failed adds
            its exit status and output.
    """
    settings = settings or RestrictedSettings()
    generic = f"Executing command '{name}' failed"
    try:
        async with exclusive_lock(layout.restricted_commands_lock, settings.lock_timeout):
            try:
                path = await asyncio.to_thread(verify_command, layout, name, settings.owner_uid)
            except Refused as err:
                log.error("Refusing restricted command %r: %s", name, err)
                await clock.sleep(settings.fail_delay)  # still holding the lock, as Ganeti does
                raise CommandError(generic) from None
            result = await runner.run(
                [str(path)],
                timeout=settings.command_timeout,
                env={"PATH": HOOKS_PATH_ENV},
                cwd="/",
                reset_env=True,
            )
    except Refused as err:
        log.error("Refusing restricted command %r: %s", name, err)
        await clock.sleep(settings.fail_delay)
        raise CommandError(generic) from None
    if result.failed:
        log.error("Restricted command %r failed: %s", name, result.fail_reason)
        await clock.sleep(settings.fail_delay)
        raise CommandError(f"{generic}: {result.fail_reason}; output: {result.output}")
    return result.output


@handles("restricted_command")
async def restricted_command(ctx: NodeContext, cmd: str) -> str:
    """Run one command of the node's restricted commands directory; see the module doc.

    Raises:
        CommandError: the command was refused or failed.
    """
    settings = ctx.services.restricted_settings or RestrictedSettings()
    return await run_restricted_command(ctx.layout, ctx.runner, ctx.clock, cmd, settings)
