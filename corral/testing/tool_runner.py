"""The part every command simulator shares: answer its own tools, pass the rest on."""

from __future__ import annotations

import abc
import os
from collections.abc import Mapping, Sequence

from corral.process import CommandResult, CommandRunner


class SimulatedTools(abc.ABC):
    """A :class:`~corral.process.CommandRunner` that answers the command lines of
    ``TOOLS`` itself (:meth:`execute`) and hands every other one to ``fallback``."""

    TOOLS: frozenset[str]
    fallback: CommandRunner | None

    @abc.abstractmethod
    def execute(self, argv: Sequence[str]) -> CommandResult:
        """Answer one command line of a simulated tool."""

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
        tool = os.path.basename(argv[0]) if argv else ""
        if tool not in self.TOOLS and self.fallback is not None:
            return await self.fallback.run(
                argv, timeout=timeout, env=env, cwd=cwd, stdin=stdin, reset_env=reset_env
            )
        return self.execute(argv)
