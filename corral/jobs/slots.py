"""Execution slots handed out by priority (lower first), then by job id."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable


class SlotPool:
    """At most ``limit()`` holders at once; waiters served by (priority, job id)."""

    def __init__(self, limit: Callable[[], int]) -> None:
        self._limit = limit
        self._held = 0
        self._heap: list[tuple[int, int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    @property
    def held(self) -> int:
        return self._held

    async def acquire(self, priority: int, job_id: int) -> None:
        if self._held < self._limit() and not self._heap:
            self._held += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (priority, job_id, next(self._seq), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()
            raise

    def release(self) -> None:
        self._held -= 1
        self._wake()

    def reprioritize(self, job_id: int, priority: int) -> None:
        """Move a waiting job to a new priority."""
        for index, (_, jid, seq, fut) in enumerate(self._heap):
            if jid == job_id:
                self._heap[index] = (priority, jid, seq, fut)
                heapq.heapify(self._heap)
                return

    def _wake(self) -> None:
        while self._heap and self._held < self._limit():
            _, _, _, future = heapq.heappop(self._heap)
            if future.done():
                continue
            self._held += 1
            future.set_result(None)
