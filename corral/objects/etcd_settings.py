"""The cluster's automatic-failover settings: etcd endpoints and the master lease TTL."""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_LEASE_TTL = 5
"""Seconds a master lease outlives the last keep-alive (see :mod:`corral.master.lease`)."""
MIN_LEASE_TTL = 2
MAX_LEASE_TTL = 300


class EtcdSettingsError(ValueError):
    """An etcd endpoint or lease TTL that cannot be used, with the reason."""


def check_endpoint(url: str) -> str:
    """``url`` normalised (no trailing slash) when it is ``http(s)://HOST:PORT``.

    Raises:
        EtcdSettingsError: naming the endpoint and what is wrong with it.
    """
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise EtcdSettingsError(f"etcd endpoint {url!r}: the scheme must be http or https")
    try:
        port = parts.port
    except ValueError:
        raise EtcdSettingsError(f"etcd endpoint {url!r}: invalid port") from None
    if not parts.hostname:
        raise EtcdSettingsError(f"etcd endpoint {url!r}: no host")
    if port is None:
        raise EtcdSettingsError(f"etcd endpoint {url!r}: no port (etcd's client port is 2379)")
    if parts.path.strip("/") or parts.query or parts.fragment or parts.username:
        raise EtcdSettingsError(f"etcd endpoint {url!r}: only scheme://host:port is allowed")
    return text.rstrip("/")


def check_endpoints(urls: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Every endpoint checked (:func:`check_endpoint`), duplicates refused."""
    checked = tuple(check_endpoint(u) for u in urls if u.strip())
    if len(set(checked)) != len(checked):
        raise EtcdSettingsError(f"etcd endpoints listed twice: {', '.join(checked)}")
    return checked


def check_lease_ttl(ttl: int) -> int:
    """``ttl`` when it is a usable master lease TTL in seconds."""
    if not MIN_LEASE_TTL <= ttl <= MAX_LEASE_TTL:
        raise EtcdSettingsError(f"master lease TTL must be between {MIN_LEASE_TTL} and"
                                f" {MAX_LEASE_TTL} seconds, not {ttl}")
    return ttl


def check_auto_failover(enabled: bool, endpoints: list[str] | tuple[str, ...],
                        ttl: int) -> tuple[str, ...]:
    """The endpoints normalised when the settings are consistent.

    Raises:
        EtcdSettingsError: a bad endpoint or TTL, or the mode enabled without endpoints.
    """
    checked = check_endpoints(endpoints)
    check_lease_ttl(ttl)
    if enabled and not checked:
        raise EtcdSettingsError("automatic master failover needs the etcd endpoints"
                                " (--etcd-endpoints URL,URL,...)")
    return checked
