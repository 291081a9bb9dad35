"""One way to run external programs: an injectable async command runner."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a finished command left behind."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def failed(self) -> bool:
        return self.exit_code != 0 or self.timed_out

    @property
    def fail_reason(self) -> str:
        if self.timed_out:
            return f"{self.argv[0]} timed out"
        if self.exit_code < 0:
            return f"{self.argv[0]} killed by signal {-self.exit_code}"
        return f"{self.argv[0]} exited with status {self.exit_code}"

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class CommandRunner(Protocol):
    """Runs an argument vector and returns its result; never raises on failure exit codes."""

    async def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stdin: bytes | None = None,
        reset_env: bool = False,
    ) -> CommandResult:
        """Run ``argv``. ``timeout`` in seconds; on expiry the process group is killed."""


COMMAND_UMASK = 0o022
"""Commands (OS scripts, hypervisors, storage tools) create files with ordinary modes even
though the daemons themselves run with umask 077: an OS script builds a guest's file system."""


class SubprocessRunner:
    """Runs commands as real subprocesses, each in its own process group."""

    async def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stdin: bytes | None = None,
        reset_env: bool = False,
    ) -> CommandResult:
        full_env = dict(env or {}) if reset_env else {**os.environ, **(env or {})}
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
                umask=COMMAND_UMASK,
            )
        except OSError as err:
            return CommandResult(tuple(argv), 127, "", f"cannot execute {argv[0]}: {err}")
        timed_out = False
        try:
            out, err_out = await asyncio.wait_for(proc.communicate(stdin), timeout)
        except TimeoutError:
            timed_out = True
            _kill_group(proc.pid)
            out, err_out = await proc.communicate()
        code = proc.returncode if proc.returncode is not None else -1
        return CommandResult(
            tuple(argv),
            code,
            out.decode(errors="replace"),
            err_out.decode(errors="replace"),
            timed_out,
        )


def _kill_group(pid: int) -> None:
    """Kill the process group a runner started (its own session, so only its children)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
