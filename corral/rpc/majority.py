"""Majority acknowledgement of replicated writes, and background catch-up of lagging nodes.

A change is acknowledged once the master and enough candidates to form, with it, a
majority of the candidate pool hold it. The others get ``bound`` seconds more; those
that have not answered by then are *lagging*: nothing synchronous contacts them again,
a background loop (with backoff) sends them what they missed until they are level.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from corral.rpc.results import NodeResult

log = logging.getLogger(__name__)

ACK_BOUND = 1.5
"""Seconds a candidate may take to answer a replicated write before it is lagging."""


def acks_needed(pool: int) -> int:
    """Candidate acknowledgements (besides the master's) that make a majority of ``pool``.

    ``pool`` counts every master candidate, the master included: 1 → 0, 2 → 1, 3 → 1, 5 → 2.
    """
    return max(0, pool // 2)


@dataclass
class Outcome:
    """What the candidates of one replicated write did within the bound."""

    acked: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    """Candidates that answered with a failure, or did not answer in time: the reason."""
    pending: dict[str, asyncio.Task[NodeResult[Any]]] = field(default_factory=dict)
    """Calls still running after the bound (not cancelled: a late answer is harmless)."""


async def gather_majority(
    calls: Mapping[str, Awaitable[NodeResult[Any]]], needed: int, bound: float
) -> Outcome:
    """Run one call per candidate; return when all answered, when ``bound`` seconds
    passed, or as soon as ``needed`` acknowledgements can no longer be reached."""
    tasks = {name: asyncio.ensure_future(call) for name, call in calls.items()}
    outcome = Outcome()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    waiting = set(tasks.values())
    while waiting and len(outcome.failed) <= len(tasks) - needed:
        done, waiting = await asyncio.wait(
            waiting, timeout=max(0.0, deadline - loop.time()),
            return_when=asyncio.FIRST_COMPLETED,
        )
        if not done:
            break
        _record(outcome, tasks, done)
    for name, task in tasks.items():
        if not task.done():
            outcome.pending[name] = task
            outcome.failed[name] = f"no answer after {bound:g} s"
    return outcome


def _record(
    outcome: Outcome, tasks: dict[str, asyncio.Task[NodeResult[Any]]], done: set[Any]
) -> None:
    for name, task in tasks.items():
        if task not in done:
            continue
        error = task.exception()
        if error is not None:
            outcome.failed[name] = str(error)
        elif (result := task.result()).ok:
            outcome.acked.append(name)
        else:
            outcome.failed[name] = result.fail_msg or "failed"


def require_majority(
    what: str,
    outcome: Outcome,
    needed: int,
    pool: int,
    lagging: Iterable[str],
    error: Callable[[str], Exception],
) -> None:
    """Raise ``error`` naming the unreachable candidates when too few acknowledged."""
    if len(outcome.acked) >= needed:
        return
    reasons = dict.fromkeys(sorted(lagging), "lagging, not answering")
    reasons.update(outcome.failed)
    unreachable = "; ".join(f"{name}: {reasons[name]}" for name in sorted(reasons))
    raise error(
        f"{what} not acknowledged: {len(outcome.acked) + 1} of {pool} master candidates"
        f" (the master included) hold it, a majority needs {needed + 1};"
        f" unreachable: {unreachable}"
    )


@runtime_checkable
class LagSource(Protocol):
    """A replicator that can tell which candidates are behind, and by how much."""

    def lagging(self) -> dict[str, str]:
        """``{candidate name: what it misses}``, e.g. ``"configuration serial 41 of 57"``."""
        ...


@dataclass(frozen=True)
class CatchUpBackoff:
    """Pauses between catch-up attempts of one lagging node: ``first`` s, doubling to ``limit``."""

    first: float = 0.5
    limit: float = 10.0

    def delay(self, failures: int) -> float:
        return min(self.limit, self.first * 2.0 ** min(failures - 1, 32))


DEFAULT_BACKOFF = CatchUpBackoff()


class CatchUp:
    """One background loop per lagging node; ``attempt(name)`` sends what it misses.

    ``attempt`` returns whether the node answered; the loop stops once ``still_lagging``
    says the node is level, retries at once if it answered but more arrived meanwhile,
    and waits with backoff if it did not answer.
    """

    def __init__(
        self,
        attempt: Callable[[str], Awaitable[bool]],
        still_lagging: Callable[[str], bool],
        backoff: CatchUpBackoff = DEFAULT_BACKOFF,
    ) -> None:
        self._attempt = attempt
        self._still_lagging = still_lagging
        self._backoff = backoff
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, pending: asyncio.Task[Any] | None = None) -> None:
        """Catch ``name`` up in the background (once ``pending``, its hung call, ended)."""
        task = self._tasks.get(name)
        if task is None or task.done():
            self._tasks[name] = asyncio.create_task(self._loop(name, pending))

    def running(self, name: str) -> bool:
        task = self._tasks.get(name)
        return task is not None and not task.done()

    async def settle(self) -> None:
        """Wait until every catch-up loop has ended (tests, shutdown)."""
        while tasks := [t for t in self._tasks.values() if not t.done()]:
            await asyncio.wait(tasks)

    async def _loop(self, name: str, pending: asyncio.Task[Any] | None) -> None:
        if pending is not None:
            await asyncio.wait([pending])
        failures = 0
        while self._still_lagging(name):
            try:
                answered = await self._attempt(name)
            except Exception:
                log.exception("catch-up of %s failed", name)
                answered = False
            if answered:
                failures = 0
                continue
            failures += 1
            await asyncio.sleep(self._backoff.delay(failures))
        log.info("candidate %s caught up", name)
