"""The master lease: who is master, decided by etcd (automatic failover, issue item 4).

The holder of the key ``/corral/<cluster>/master`` is the master. A candidate *campaigns*
with one transaction that creates the key only if it is absent, bound to a fresh etcd lease
of ``ttl`` seconds, with a :class:`MasterRecord` (node name, epoch, configuration serial) as
its value. The winner *holds* the lease with keep-alives every ``ttl / 3`` seconds; a loser
*observes* the holder and waits (watching the key) until it is deleted — by a resign (the
lease revoked) or by etcd when the holder's keep-alives stop for ``ttl`` seconds.

Safety: a keep-alive sent at instant ``t`` that etcd acknowledges renews the lease at some
instant after ``t``, so the holder knows the key cannot expire before ``t + ttl`` (an etcd
leader change renews every lease for a full TTL, which only pushes expiry later). The holder
therefore treats itself as master only until ``safe_until = t + ttl - margin``, counted on
its own monotonic clock from the *sending* of its last acknowledged keep-alive. When no
keep-alive is acknowledged by then (a quorum of etcd members unreachable, or the lease gone),
:meth:`MasterLease.hold` returns a :class:`LeaseLost` at that instant, before any other
candidate can win: the caller must stop acting as master at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from corral.master.etcd_gateway import EtcdError, EtcdGateway, EtcdUnavailable, KeyValue

DEFAULT_TTL = 5
RETRY_PAUSE = 0.2


@dataclass(frozen=True, slots=True)
class MasterRecord:
    """The value of the master key: who holds the term, its epoch, its config serial."""

    node: str
    epoch: int
    config_serial: int

    def encode(self) -> bytes:
        return json.dumps({"node": self.node, "epoch": self.epoch,
                           "config_serial": self.config_serial}).encode()

    @classmethod
    def decode(cls, raw: bytes, key: str) -> MasterRecord:
        """Parse the value of ``key``; a malformed one raises EtcdError naming the key."""
        try:
            data = json.loads(raw)
            return cls(node=str(data["node"]), epoch=int(data["epoch"]),
                       config_serial=int(data["config_serial"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise EtcdError(f"malformed master record under {key}: {raw[:100]!r}") from exc


@dataclass(frozen=True, slots=True)
class Holder:
    """The current holder of the master key, with its lease and the key's revision."""

    record: MasterRecord
    lease_id: int
    mod_revision: int


@dataclass(frozen=True, slots=True)
class Campaign:
    """One campaign's outcome: ``won``, and the holder (this node's record when won)."""

    won: bool
    holder: Holder


class LossReason(enum.StrEnum):
    EXPIRED = "lease expired"
    UNREACHABLE = "no keep-alive acknowledged by an etcd quorum within the TTL"
    RESIGNED = "resigned"


@dataclass(frozen=True, slots=True)
class LeaseLost:
    """Why and when (monotonic seconds) the holder stopped being master."""

    reason: LossReason
    detail: str
    at: float


def master_key(cluster: str) -> str:
    """The etcd key whose holder is the master of ``cluster``."""
    if not cluster or "/" in cluster:
        raise ValueError(f"invalid cluster name for the master key: {cluster!r}")
    return f"/corral/{cluster}/master"


class MasterLease:
    """This node's view of, and claim on, the master lease of one cluster."""

    def __init__(self, gateway: EtcdGateway, cluster: str, node: str, *,
                 ttl: int = DEFAULT_TTL, margin: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if ttl < 2:
            raise ValueError(f"master lease TTL must be at least 2 s, not {ttl}")
        self.gateway = gateway
        self.key = master_key(cluster)
        self.node = node
        self.ttl = ttl
        self.margin = max(0.5, ttl * 0.1) if margin is None else margin
        self.clock = clock
        self.lease_id = 0
        self.safe_until = 0.0
        self._resigned = asyncio.Event()

    def valid(self) -> bool:
        """True while this node holds the lease and may act as master."""
        return self.lease_id != 0 and self.clock() < self.safe_until

    def _holder(self, kv: KeyValue) -> Holder:
        return Holder(MasterRecord.decode(kv.value_bytes, self.key), kv.lease, kv.mod_revision)

    async def observe(self) -> Holder | None:
        """The current holder, or None when the master key is vacant."""
        _revision, kv = await self.gateway.get(self.key)
        return None if kv is None else self._holder(kv)

    async def campaign(self, epoch: int, config_serial: int) -> Campaign:
        """Try once to become master; a lost campaign revokes the lease it granted."""
        record = MasterRecord(self.node, epoch, config_serial)
        sent = self.clock()
        grant = await self.gateway.grant(self.ttl)
        try:
            result = await self.gateway.create(self.key, record.encode(), grant.lease_id)
        except BaseException:
            await _quietly_revoke(self.gateway, grant.lease_id)
            raise
        if result.created:
            self.lease_id = grant.lease_id
            self.safe_until = sent + grant.ttl - self.margin
            self._resigned.clear()
            return Campaign(True, Holder(record, grant.lease_id, result.revision))
        await _quietly_revoke(self.gateway, grant.lease_id)
        if result.existing is None:  # deleted between compare and read: try again later
            raise EtcdError(f"{self.key} vanished during the campaign")
        return Campaign(False, self._holder(result.existing))

    async def wait_vacant(self) -> None:
        """Return once the master key is absent.

        Watches the key from the revision just read; each watch lasts at most one TTL (a
        member cut off from its quorum keeps a watch open but silent), then the key is read
        again, through any member that answers.
        """
        while True:
            try:
                revision, kv = await self.gateway.get(self.key)
                if kv is None:
                    return
                events = self.gateway.watch(self.key, revision + 1)
                async with asyncio.timeout(self.ttl), contextlib.aclosing(events):
                    async for event in events:
                        if event.type == "DELETE":
                            return
            except (EtcdUnavailable, TimeoutError):
                await asyncio.sleep(RETRY_PAUSE)

    async def campaign_until_won(
        self, record: Callable[[], tuple[int, int]],
        delay: Callable[[int], Awaitable[float]] | None = None,
    ) -> Holder:
        """Campaign, wait for a vacancy, repeat; ``record()`` gives (epoch, config serial).

        ``delay(config_serial)``, when given, is awaited before each campaign and gives the
        seconds to wait first (``Candidacy.takeover_delay``: the best-informed goes first).
        """
        while True:
            try:
                epoch, serial = record()
                if delay is not None:
                    await asyncio.sleep(await delay(serial))
                outcome = await self.campaign(epoch, serial)
                if outcome.won:
                    return outcome.holder
            except EtcdUnavailable:
                await asyncio.sleep(RETRY_PAUSE)
                continue
            await self.wait_vacant()

    async def hold(self) -> LeaseLost:
        """Keep the lease alive until it is lost or resigned; returns why, at that instant."""
        if self.lease_id == 0:
            raise EtcdError(f"{self.node} holds no master lease to keep alive")
        interval = self.ttl / 3
        while True:
            if self._resigned.is_set():
                return self._lost(LossReason.RESIGNED, "resigned by request")
            remaining = self.safe_until - self.clock()
            if remaining <= 0:
                return self._lost(LossReason.UNREACHABLE, f"safe until passed for {self.key}")
            sent = self.clock()
            try:
                ttl = await asyncio.wait_for(self.gateway.keepalive(self.lease_id), remaining)
            except (EtcdUnavailable, TimeoutError) as exc:
                detail = str(exc) or "keep-alive timed out"
                if self.clock() >= self.safe_until:
                    return self._lost(LossReason.UNREACHABLE, detail)
                await self._pause(min(RETRY_PAUSE, self.safe_until - self.clock()))
                continue
            if ttl <= 0:
                return self._lost(LossReason.EXPIRED, f"etcd reports lease {self.lease_id} gone")
            self.safe_until = sent + ttl - self.margin
            await self._pause(interval)

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._resigned.wait(), max(seconds, 0.0))
        except TimeoutError:
            pass

    def _lost(self, reason: LossReason, detail: str) -> LeaseLost:
        self.lease_id = 0
        self.safe_until = 0.0
        return LeaseLost(reason, detail, self.clock())

    async def resign(self) -> None:
        """Give the lease up at once: revoke it (deleting the key) and stop keep-alives."""
        lease_id = self.lease_id
        self.lease_id = 0
        self.safe_until = 0.0
        self._resigned.set()
        if lease_id:
            await self.gateway.revoke(lease_id)


async def _quietly_revoke(gateway: EtcdGateway, lease_id: int) -> None:
    """Revoke a lease this node no longer needs; it expires by itself if this fails."""
    try:
        await gateway.revoke(lease_id)
    except EtcdError:
        pass
