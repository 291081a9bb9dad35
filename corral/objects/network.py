"""IP networks managed by the cluster (``gnt-network``)."""

from __future__ import annotations

from corral.objects.base import NamedObject


class Network(NamedObject, kw_only=True, frozen=True):
    """An IPv4 network with an optional IPv6 part and address reservations."""

    network: str
    gateway: str | None = None
    network6: str | None = None
    gateway6: str | None = None
    mac_prefix: str | None = None
    reservations: str = ""
    ext_reservations: str = ""
