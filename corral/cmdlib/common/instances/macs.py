"""NIC MAC addresses: validation, cluster-wide uniqueness and generation.

Generated addresses are the cluster's ``mac_prefix`` (or the NIC's network's)
followed by three random bytes, unique across every NIC of the cluster.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable

from corral.errors import ErrorCode, OpPrereqError
from corral.objects.config_data import ConfigData

MAC_SPECIALS = ("auto", "generate")
"""MAC values that ask the master to generate an address."""

GENERATE_TRIES = 64
_MAC_RE = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
_PREFIX_RE = re.compile(r"^([0-9a-f]{2}:){2}[0-9a-f]{2}$")


def normalize_mac(mac: str) -> str:
    """``mac`` in lower case.

    Raises:
        OpPrereqError: (INVAL) not six colon-separated hex octets.
    """
    normalized = mac.strip().lower()
    if not _MAC_RE.match(normalized):
        raise OpPrereqError(f"Invalid MAC address '{mac}'", ErrorCode.INVAL)
    return normalized


def macs_in_use(cfg: ConfigData, exclude_instance: str | None = None) -> set[str]:
    """Every NIC MAC of the cluster, optionally leaving out one instance (by UUID)."""
    return {
        nic.mac.lower()
        for inst in cfg.instances.values()
        if inst.uuid != exclude_instance
        for nic in inst.nics
    }


class MacPool:
    """The MACs taken so far; hands out new ones and reserves given ones."""

    def __init__(self, taken: Iterable[str], rng: random.Random | None = None) -> None:
        self.taken = {mac.lower() for mac in taken}
        self._rng = rng or random.SystemRandom()

    @classmethod
    def of(cls, cfg: ConfigData, exclude_instance: str | None = None) -> MacPool:
        return cls(macs_in_use(cfg, exclude_instance))

    def reserve(self, mac: str) -> str:
        """Validate ``mac`` and mark it taken; returns it normalized.

        Raises:
            OpPrereqError: (INVAL) malformed; (NOTUNIQUE) already used in the cluster.
        """
        normalized = normalize_mac(mac)
        if normalized in self.taken:
            raise OpPrereqError(
                f"MAC address {normalized} already in use in cluster", ErrorCode.NOTUNIQUE
            )
        self.taken.add(normalized)
        return normalized

    def generate(self, prefix: str) -> str:
        """A new unique MAC under ``prefix`` (three octets, ``aa:00:00``).

        Raises:
            OpPrereqError: (INVAL) a malformed prefix; (NORES) no free address found.
        """
        prefix = prefix.strip().lower()
        if not _PREFIX_RE.match(prefix):
            raise OpPrereqError(f"Invalid MAC prefix '{prefix}'", ErrorCode.INVAL)
        for _ in range(GENERATE_TRIES):
            suffix = ":".join(f"{self._rng.randrange(256):02x}" for _ in range(3))
            mac = f"{prefix}:{suffix}"
            if mac not in self.taken:
                self.taken.add(mac)
                return mac
        raise OpPrereqError("Can't generate unique MAC", ErrorCode.NORES)

    def assign(self, mac: str | None, prefix: str) -> str:
        """A generated address for ``None``/``auto``/``generate``, else ``mac`` reserved."""
        if mac is None or mac.lower() in MAC_SPECIALS:
            return self.generate(prefix)
        return self.reserve(mac)
