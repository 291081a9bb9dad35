"""The master's configuration writer: in-memory objects, durable and replicated commits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from corral.clock import Clock
from corral.config.ssconf import compute_ssconf
from corral.config.store import Change, ConfigStore
from corral.objects.base import ConfigObject
from corral.objects.config_data import ConfigData, Kind, kind_of
from corral.objects.instance import Instance

log = logging.getLogger(__name__)

_SSCONF_KINDS = frozenset({Kind.CLUSTER, Kind.NODE, Kind.NODEGROUP, Kind.NETWORK})

SSCONF_DELAY = 0.1
"""Seconds a background ssconf push waits, so that the commits of a burst share one push."""


class Replicator(Protocol):
    """Where committed changes go after the local write (the master candidates)."""

    async def replicate(
        self, serial_no: int, base_serial: int, changes: list[Change], data: ConfigData
    ) -> None:
        """Apply ``changes`` on every online candidate; the replicator handles failures."""

    async def push_ssconf(self, values: dict[str, str], data: ConfigData) -> None:
        """Write ssconf files on every online node."""


@dataclass(frozen=True)
class _Pending:
    """A commit waiting for its write: its changes, and its serial number once written."""

    changes: list[Change]
    done: asyncio.Future[int]


def _fail(batch: list[_Pending], error: BaseException | None) -> None:
    """End the open waits of ``batch`` with ``error`` (cancel them when it is None)."""
    for pending in batch:
        if pending.done.done():
            continue
        if error is None:
            pending.done.cancel()
        else:
            pending.done.set_exception(error)


class ConfigWriter:
    """Holds the configuration in memory and commits changes atomically.

    Objects are immutable: a change builds new objects (``obj.evolve(...)``) and
    passes them to :meth:`commit`, which writes them durably, replicates them to
    the master candidates, and only then makes them visible in :attr:`data`.
    """

    def __init__(
        self,
        store: ConfigStore,
        data: ConfigData,
        clock: Clock,
        replicator: Replicator | None = None,
        ssconf_delay: float = SSCONF_DELAY,
    ) -> None:
        self.store = store
        self.ssconf_delay = ssconf_delay
        self.data = data
        self.clock = clock
        self.replicator = replicator
        self._lock = asyncio.Lock()
        self._last_ssconf: dict[str, str] | None = None
        self._ssconf_dirty = False
        self._ssconf_task: asyncio.Task[None] | None = None
        self._ssconf_flush = asyncio.Event()
        self.on_commit: list[Callable[[list[Change]], Awaitable[None] | None]] = []
        self._pending: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None

    async def commit(
        self,
        *objects: ConfigObject,
        removed: Iterable[tuple[Kind, str]] = (),
    ) -> int:
        """Persist and replicate new or changed objects and removals; returns the serial.

        Commits made while an earlier write is under way share the next write (group
        commit): one transaction and one replication for all of them, each returning
        only once that write is durable here and on the candidates.
        """
        changes: list[Change] = [(kind_of(o), o.uuid, o) for o in objects]
        changes.extend((kind, uuid, None) for kind, uuid in removed)
        pending = _Pending(changes, asyncio.get_running_loop().create_future())
        self._pending.append(pending)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending())
        serial = await asyncio.shield(pending.done)
        for callback in self.on_commit:
            result = callback(changes)
            if result is not None:
                await result
        return serial

    async def _write_pending(self) -> None:
        """Write queued commits, a batch at a time, until none is left."""
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                async with self._lock:
                    await self._write_batch(batch)
            except BaseException:
                _fail(batch + self._pending, None)
                self._pending = []
                raise

    async def _write_batch(self, batch: list[_Pending]) -> None:
        """Write ``batch`` in one transaction; if that fails, each commit on its own,
        so that a commit the store refuses does not fail the others."""
        changes = [change for pending in batch for change in pending.changes]
        base = self.data.serial_no
        serial = base + len(batch)
        now = self.clock.now()
        meta = {"mtime": now, "ctime": self.data.ctime, "version": self.data.version}
        try:
            await asyncio.to_thread(self.store.apply, serial, changes, meta)
        except Exception as err:
            if len(batch) == 1:
                _fail(batch, err)
                return
            for pending in batch:
                await self._write_batch([pending])
            return
        try:
            await self._publish(changes, base, serial, now)
        except Exception as err:
            _fail(batch, err)
            return
        for number, pending in enumerate(batch, start=base + 1):
            if not pending.done.done():
                pending.done.set_result(number)

    async def _publish(self, changes: list[Change], base: int, serial: int, now: float) -> None:
        """After the local write: the new state in memory, on the candidates, in ssconf."""
        ssconf_needed = self._touches_ssconf(changes)
        self._apply_in_memory(changes, serial, now)
        if self.replicator is not None:
            await self.replicator.replicate(serial, base, changes, self.data)
        if ssconf_needed:
            self._schedule_ssconf()

    def _apply_in_memory(self, changes: list[Change], serial: int, now: float) -> None:
        for kind, uuid, obj in changes:
            if obj is None:
                self.data.delete(kind, uuid)
            else:
                self.data.put(obj)
        self.data.serial_no = serial
        self.data.mtime = now

    def _touches_ssconf(self, changes: list[Change]) -> bool:
        for kind, uuid, obj in changes:
            if kind in _SSCONF_KINDS:
                return True
            if kind is Kind.INSTANCE:
                old = self.data.instances.get(uuid)
                if (
                    old is None
                    or obj is None
                    or (isinstance(obj, Instance) and obj.name != old.name)
                ):
                    return True
        return False

    def _schedule_ssconf(self) -> None:
        """Push ssconf in the background, ``ssconf_delay`` seconds from now.

        One push is in flight at a time: commits made meanwhile (or during the delay)
        are folded into the next push, which sends the values current when it starts.
        """
        self._ssconf_dirty = True
        if self._ssconf_task is None or self._ssconf_task.done():
            self._ssconf_task = asyncio.create_task(self._ssconf_loop())

    async def _ssconf_loop(self) -> None:
        while self._ssconf_dirty:
            if not self._ssconf_flush.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ssconf_flush.wait(), self.ssconf_delay)
            self._ssconf_dirty = False
            try:
                await self.distribute_ssconf()
            except Exception:
                log.exception("ssconf distribution failed")

    async def settle(self) -> None:
        """Push pending ssconf changes now, without the delay, and wait for them (tests,
        shutdown)."""
        self._ssconf_flush.set()
        try:
            while self._ssconf_task is not None and not self._ssconf_task.done():
                await self._ssconf_task
        finally:
            self._ssconf_flush.clear()

    async def distribute_ssconf(self, force: bool = False) -> None:
        """Push ssconf to all online nodes when it changed (or always, with ``force``)."""
        values = compute_ssconf(self.data)
        if not force and values == self._last_ssconf:
            return
        self._last_ssconf = values
        if self.replicator is not None:
            await self.replicator.push_ssconf(values, self.data)

    async def full_resync(self) -> None:
        """Send a full copy of the configuration to every candidate."""
        if self.replicator is None:
            return
        async with self._lock:
            changes: list[Change] = [(k, o.uuid, o) for k, o in self.data.all_objects()]
            await self.replicator.replicate(self.data.serial_no, -1, changes, self.data)

    def snapshot_meta(self) -> dict[str, Any]:
        return {"serial_no": self.data.serial_no, "mtime": self.data.mtime}
