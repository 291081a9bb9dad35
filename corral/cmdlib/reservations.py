"""What running jobs hold before the configuration shows it: memory promised to
instances on their way to a node (a migration in flight), and the DRBD minors and ports
of disks being created.

A unit that checks a node's free memory under the node's resource lock and then lets
the lock go before the instance arrives (so that migrations to one node run side by
side) reserves the memory here until it is done; every free-memory check counts the
other units' reservations as used.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class MemoryReservations:
    """MiB reserved per node name, by owner (a job's lock owner name)."""

    _by_node: dict[str, dict[str, int]] = field(default_factory=dict)

    def reserve(self, node: str, owner: str, mib: int) -> None:
        """Reserve ``mib`` on ``node`` for ``owner`` (replacing its earlier reservation)."""
        self._by_node.setdefault(node, {})[owner] = mib

    def release(self, owner: str) -> None:
        """Drop every reservation of ``owner`` (idempotent)."""
        for node in list(self._by_node):
            self._by_node[node].pop(owner, None)
            if not self._by_node[node]:
                del self._by_node[node]

    def reserved(self, node: str, *, besides: str = "") -> int:
        """MiB reserved on ``node`` by owners other than ``besides``."""
        return sum(mib for owner, mib in self._by_node.get(node, {}).items()
                   if owner != besides)


@dataclass
class DrbdReservations:
    """DRBD minors (per node uuid) and ports handed to units whose disks are not yet in
    the configuration, by owner; released when the owner's job ends (committed disks
    then hold them in the configuration)."""

    _minors: dict[str, set[tuple[str, int]]] = field(default_factory=dict)
    _ports: dict[str, set[int]] = field(default_factory=dict)

    def reserve_minor(self, owner: str, node: str, minor: int) -> None:
        self._minors.setdefault(owner, set()).add((node, minor))

    def reserve_port(self, owner: str, port: int) -> None:
        self._ports.setdefault(owner, set()).add(port)

    def release(self, owner: str) -> None:
        """Drop every reservation of ``owner`` (idempotent)."""
        self._minors.pop(owner, None)
        self._ports.pop(owner, None)

    def minors(self, node: str) -> set[int]:
        """Minors reserved on ``node`` by any owner."""
        return {m for held in self._minors.values() for n, m in held if n == node}

    def ports(self) -> set[int]:
        """Ports reserved by any owner."""
        return {p for held in self._ports.values() for p in held}
