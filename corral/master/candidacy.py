"""Which master candidate takes over first: the one with the most recent configuration.

Each candidate advertises its configuration serial under
``/corral/<cluster>/candidates/<node>``, bound to a lease of its own (a dead candidate's
entry expires with it). When the master key falls vacant, a candidate waits
``rank * step`` seconds before campaigning, where ``rank`` counts the live candidates
ahead of it (a higher serial, or the same serial and a smaller name): the best-informed
candidate campaigns first and wins; the others campaign only if it could not (it died too),
and then lose to whoever won, or win themselves. etcd's transaction still decides: ranking
only orders the campaigns, it never lets two win.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from corral.master.etcd_gateway import EtcdError, EtcdGateway
from corral.master.lease import master_key

RANK_STEP = 1.0
"""Seconds between the campaigns of two consecutive ranks."""


@dataclass(frozen=True, slots=True, order=True)
class CandidateEntry:
    """One candidate's advertisement (ordered best first by ``sort_key``)."""

    node: str
    config_serial: int

    @property
    def sort_key(self) -> tuple[int, str]:
        return (-self.config_serial, self.node)


def candidates_prefix(cluster: str) -> str:
    """The etcd key prefix under which the candidates of ``cluster`` advertise."""
    return master_key(cluster).removesuffix("master") + "candidates/"


class Candidacy:
    """This node's advertisement as a master candidate."""

    def __init__(self, gateway: EtcdGateway, cluster: str, node: str, *, ttl: int = 10,
                 step: float = RANK_STEP) -> None:
        self.gateway = gateway
        self.prefix = candidates_prefix(cluster)
        self.node = node
        self.ttl = ttl
        self.step = step
        self.lease_id = 0
        self.config_serial = -1

    async def advertise(self, config_serial: int) -> None:
        """Publish (or refresh) this node's serial; renews or re-grants its lease."""
        if self.lease_id and await self.gateway.keepalive(self.lease_id) <= 0:
            self.lease_id = 0
        if not self.lease_id:
            self.lease_id = (await self.gateway.grant(self.ttl)).lease_id
            self.config_serial = -1
        if config_serial != self.config_serial:
            value = json.dumps({"node": self.node, "config_serial": config_serial}).encode()
            await self.gateway.put(self.prefix + self.node, value, self.lease_id)
            self.config_serial = config_serial

    async def withdraw(self) -> None:
        """Remove this node's advertisement (revoking its lease)."""
        if self.lease_id:
            lease_id, self.lease_id = self.lease_id, 0
            await self.gateway.revoke(lease_id)

    async def candidates(self) -> list[CandidateEntry]:
        """Every live advertisement, best first."""
        entries = []
        for kv in await self.gateway.get_prefix(self.prefix):
            try:
                data = json.loads(kv.value_bytes)
                entries.append(CandidateEntry(str(data["node"]), int(data["config_serial"])))
            except (ValueError, KeyError, TypeError) as exc:
                raise EtcdError(f"malformed candidate entry under {kv.key_text}") from exc
        return sorted(entries, key=lambda entry: entry.sort_key)

    async def rank(self, config_serial: int) -> int:
        """How many live candidates come before this node with ``config_serial``."""
        mine = CandidateEntry(self.node, config_serial).sort_key
        return sum(1 for entry in await self.candidates()
                   if entry.node != self.node and entry.sort_key < mine)

    async def takeover_delay(self, config_serial: int) -> float:
        """Seconds to wait, after a vacancy, before campaigning."""
        return await self.rank(config_serial) * self.step
