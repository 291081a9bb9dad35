"""Connection discipline shared by the daemons' listeners (node RPC, RAPI, LUXI).

A :class:`GuardedListener` runs its own accept loop instead of asyncio's, so that:

* it holds at most ``max_connections`` connections. A newcomer over the cap evicts the
  oldest *silent* connection (still in its TLS handshake, or no byte received yet); when
  there is none, the newcomer is accepted and closed at once. Idle floods thus cost old
  idle connections, never the descriptors the daemon needs elsewhere;
* a TLS connection must finish its handshake ``handshake_timeout`` seconds after it was
  accepted. Until its first bytes arrive it is a bare socket with no TLS state (asyncio's
  TLS keeps a 256 KiB buffer per connection), so a silent flood costs descriptors only;
* running out of descriptors (EMFILE, ENFILE) is logged at most once per ``log_interval``
  with a count, frees a silent connection, and pauses accepting for ``backoff`` seconds
  (asyncio logs every failure with a traceback).

Idle and request-header deadlines belong to the protocol, with ``idle_timeout``: aiohttp's
keep-alive timer closes a connection that has no complete request header that many seconds
after it was opened or after its last answer (so it is both the idle and the header
timeout), and the LUXI server closes a connection that sends no whole message in that time.

Descriptor plan (from the soft ``RLIMIT_NOFILE``, raised to the hard limit at daemon start):
:data:`RESERVE` descriptors stay free for what is not a served connection; masterd gives
LUXI up to :data:`LUXI_CEILING` connections and RAPI what is left, up to
:data:`HTTP_CEILING`; noded gives its RPC listener what the reserve leaves.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import resource
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

log = logging.getLogger(__name__)

RESERVE = 256
"""Descriptors kept for SQLite files, the job queue, logs, node RPC client connections and
command pipes."""
LUXI_CEILING = 128
HTTP_CEILING = 1024
"""At most 256 MiB of asyncio's TLS buffers (256 KiB per connection)."""
MIN_CAP = 8
HANDSHAKE_TIMEOUT = 10.0
MIN_HANDSHAKE = 0.1
"""Seconds a handshake gets at least, even when its first bytes came late."""
HTTP_IDLE_TIMEOUT = 30.0
"""Longer than the RPC client's keep-alive (15 s), so the client always closes first."""
LUXI_IDLE_TIMEOUT = 60.0
ACCEPT_BACKOFF = 0.25
LOG_INTERVAL = 10.0
ACCEPT_BATCH = 64
"""Connections accepted per readiness event, so that a flood cannot starve the loop."""
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

ProtocolFactory = Callable[[], asyncio.Protocol]


@dataclass(frozen=True)
class Limits:
    """How one listener treats its connections (see the module docstring)."""

    max_connections: int
    handshake_timeout: float = HANDSHAKE_TIMEOUT
    idle_timeout: float = HTTP_IDLE_TIMEOUT
    backoff: float = ACCEPT_BACKOFF
    log_interval: float = LOG_INTERVAL


# --- descriptor budget ----------------------------------------------------------


def raise_nofile_limit() -> tuple[int, int]:
    """Raise the soft descriptor limit to the hard one; the (old, new) soft limits."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as err:
            log.warning("cannot raise the descriptor limit from %d to %d: %s", soft, hard, err)
            return soft, soft
    return soft, hard


def soft_nofile() -> int:
    """The soft descriptor limit (a large number when unlimited)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return 1 << 20 if soft == resource.RLIM_INFINITY else soft


def connection_cap(reserve: int, ceiling: int, soft: int | None = None) -> int:
    """Connections a listener may hold: what ``reserve`` leaves of the soft descriptor
    limit, at most ``ceiling``, at least :data:`MIN_CAP`."""
    available = (soft_nofile() if soft is None else soft) - reserve
    return max(MIN_CAP, min(ceiling, available))


def luxi_limits(soft: int | None = None) -> Limits:
    return Limits(connection_cap(RESERVE, LUXI_CEILING, soft), idle_timeout=LUXI_IDLE_TIMEOUT)


def rapi_limits(soft: int | None = None) -> Limits:
    """RAPI's share: the reserve and LUXI's share stay free."""
    luxi = luxi_limits(soft).max_connections
    return Limits(connection_cap(RESERVE + luxi, HTTP_CEILING, soft))


def noded_limits(soft: int | None = None) -> Limits:
    return Limits(connection_cap(RESERVE, HTTP_CEILING, soft))


# --- rate-limited logging -------------------------------------------------------


class RateLimitedLog:
    """Logs a recurring failure at most once per ``interval`` seconds, with a count."""

    def __init__(self, logger: logging.Logger, what: str, interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self._what = what
        self._interval = interval
        self._clock = clock
        self._next = -math.inf
        self.pending = 0
        """Failures not yet in a log line."""
        self.total = 0

    def note(self, err: BaseException) -> bool:
        """Count one failure; whether it was logged (with the ones held back before it)."""
        self.pending += 1
        self.total += 1
        now = self._clock()
        if now < self._next:
            return False
        self._logger.warning("%s: %s (%d time(s) since the last report)",
                             self._what, err, self.pending)
        self.pending = 0
        self._next = now + self._interval
        return True


# --- the accept loop ------------------------------------------------------------


class ConnectionBudget:
    """The connections one daemon service holds, over all its listening sockets."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.slots: dict[_Slot, None] = {}
        self.silent: dict[_Slot, None] = {}
        """Slots that have received nothing yet, oldest first."""
        self.refused = 0
        self.evicted = 0

    @property
    def live(self) -> int:
        """Connections held now (in their handshake or served)."""
        return len(self.slots)

    def admit(self, owner: GuardedListener) -> _Slot | None:
        """A slot for a new connection, evicting the oldest silent one at the cap; None
        (counted as refused) when every held connection has spoken."""
        if len(self.slots) >= self.limits.max_connections and not self.evict_oldest_silent():
            self.refused += 1
            return None
        slot = _Slot(self, owner)
        self.slots[slot] = None
        self.silent[slot] = None
        return slot

    def evict_oldest_silent(self) -> bool:
        slot = next(iter(self.silent), None)
        if slot is None:
            return False
        slot.evict()
        self.evicted += 1
        return True


class _Slot:
    """One accepted connection's place in its budget, and how to close it early."""

    __slots__ = ("_budget", "deadline", "made", "owner", "task", "timer", "transport",
                 "waiting")

    def __init__(self, budget: ConnectionBudget, owner: GuardedListener) -> None:
        self._budget = budget
        self.owner = owner
        self.waiting: socket.socket | None = None
        """The bare socket, while a TLS connection waits for its first bytes."""
        self.deadline = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.task: asyncio.Task[object] | None = None
        self.transport: asyncio.BaseTransport | None = None
        self.made = False
        """The protocol factory ran, so asyncio owns the socket."""

    def heard(self) -> None:
        self._budget.silent.pop(self, None)

    def release(self) -> None:
        self._budget.slots.pop(self, None)
        self._budget.silent.pop(self, None)

    def take_waiting(self) -> socket.socket:
        """The bare socket, no longer watched nor timed."""
        sock = self.waiting
        assert sock is not None
        if self.timer is not None:
            self.timer.cancel()
        self.owner.get_loop().remove_reader(sock.fileno())
        self.waiting = self.timer = None
        return sock

    def evict(self) -> None:
        """Free the slot now and close the connection (within a loop iteration)."""
        self.release()
        if self.waiting is not None:
            self.take_waiting().close()
        elif isinstance(self.transport, asyncio.Transport):
            self.transport.abort()
        elif self.transport is not None:
            self.transport.close()
        elif self.task is not None:
            self.task.cancel()


class _Counted(asyncio.Protocol):
    """The served protocol, wrapped: marks its slot heard on the first bytes and frees it
    when the connection ends."""

    __slots__ = ("_inner", "_slot")

    def __init__(self, inner: asyncio.Protocol, slot: _Slot) -> None:
        self._inner = inner
        self._slot = slot

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._slot.transport = transport
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._slot.heard()
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._slot.release()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class GuardedListener(asyncio.AbstractServer):
    """Serves ``factory``'s protocol on a listening socket within a :class:`ConnectionBudget`
    (its own unless one is shared with other sockets)."""

    def __init__(self, sock: socket.socket, factory: ProtocolFactory,
                 budget: ConnectionBudget | Limits, ssl_context: ssl.SSLContext | None = None,
                 name: str = "listener") -> None:
        self._sock: socket.socket | None = sock
        self._factory = factory
        self.budget = budget if isinstance(budget, ConnectionBudget) else ConnectionBudget(budget)
        self.limits = self.budget.limits
        self._ssl = ssl_context
        self._loop = asyncio.get_running_loop()
        self._resume: asyncio.TimerHandle | None = None
        self._closed = asyncio.Event()
        self.accept_errors = RateLimitedLog(log, f"{name}: cannot accept",
                                            self.limits.log_interval)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return () if self._sock is None else (self._sock,)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._sock is not None and self._resume is None

    async def start_serving(self) -> None:
        self.start()

    def start(self) -> None:
        assert self._sock is not None
        self._sock.setblocking(False)
        self._resume = None
        self._loop.add_reader(self._sock.fileno(), self._accept)

    def close(self) -> None:
        """Stop accepting and drop this socket's connections still in their handshake;
        served ones are left to their protocol's owner."""
        if self._sock is None:
            return
        self._pause()
        self._sock.close()
        self._sock = None
        self._closed.set()
        for slot in list(self.budget.slots):
            if slot.owner is self and slot.transport is None:
                slot.evict()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def serve_forever(self) -> None:
        """Accept until :meth:`close`."""
        if not self.is_serving():
            self.start()
        await self._closed.wait()

    def _pause(self) -> None:
        if self._sock is not None and self._resume is None:
            self._loop.remove_reader(self._sock.fileno())
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            if self._sock is None:
                return
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as err:
                self._accept_failed(err)
                return
            slot = self.budget.admit(self)
            if slot is None:
                conn.close()
            elif self._ssl is None:
                slot.task = self._connect(conn, slot, None)
            else:
                self._await_first_bytes(conn, slot)

    def _await_first_bytes(self, conn: socket.socket, slot: _Slot) -> None:
        """Hold a TLS connection as a bare socket until the client speaks; evict it if
        that is not before the handshake deadline."""
        conn.setblocking(False)
        slot.waiting = conn
        slot.deadline = self._loop.time() + self.limits.handshake_timeout
        self._loop.add_reader(conn.fileno(), self._spoke, slot)
        slot.timer = self._loop.call_at(slot.deadline, slot.evict)

    def _spoke(self, slot: _Slot) -> None:
        conn = slot.take_waiting()
        remaining = max(slot.deadline - self._loop.time(), MIN_HANDSHAKE)
        slot.task = self._connect(conn, slot, remaining)

    def _accept_failed(self, err: OSError) -> None:
        """Log (rate-limited), free a descriptor if the limit was hit, back off."""
        self.accept_errors.note(err)
        if err.errno in RESOURCE_ERRNOS:
            self.budget.evict_oldest_silent()
        self._pause()
        self._resume = self._loop.call_later(self.limits.backoff, self.start)

    def _protocol(self, slot: _Slot) -> asyncio.Protocol:
        slot.made = True
        return _Counted(self._factory(), slot)

    def _connect(self, conn: socket.socket, slot: _Slot,
                 timeout: float | None) -> asyncio.Task[object]:
        """Hand the socket to asyncio (and TLS, with ``timeout`` for the handshake) in a
        task that :meth:`_connected` ends."""
        task: asyncio.Task[object] = self._loop.create_task(self._loop.connect_accepted_socket(
            lambda: self._protocol(slot), conn, ssl=self._ssl, ssl_handshake_timeout=timeout))
        task.add_done_callback(lambda done: self._connected(done, conn, slot))
        return task

    @staticmethod
    def _connected(task: asyncio.Task[object], conn: socket.socket, slot: _Slot) -> None:
        """Free the slot of a connection that failed (or was evicted) before it was served;
        close its socket unless asyncio took it."""
        slot.task = None
        failure = None if task.cancelled() else task.exception()
        if task.cancelled() or failure is not None:
            slot.release()
            if not slot.made:
                conn.close()
            log.debug("connection dropped before it was served: %r", failure)


def bind_tcp(host: str, port: int, backlog: int = 128) -> socket.socket:
    """A listening TCP socket on ``host:port`` (SO_REUSEADDR)."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                flags=socket.AI_PASSIVE)[0][0]
    return socket.create_server((host, port), family=family, backlog=backlog)


class GuardedSite(web.BaseSite):
    """An aiohttp site served by a :class:`GuardedListener` (make the runner with
    ``keepalive_timeout=limits.idle_timeout``); sites may share one budget."""

    __slots__ = ("_budget", "_host", "_port", "listener")

    def __init__(self, runner: web.BaseRunner, host: str, port: int,
                 budget: ConnectionBudget | Limits,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self._host = host
        self._port = port
        self._budget = budget
        self.listener: GuardedListener | None = None

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        sock = bind_tcp(self._host, self._port, self._backlog)
        self.listener = GuardedListener(sock, server, self._budget, self._ssl_context,
                                        self.name)
        self._server = self.listener
        self.listener.start()
