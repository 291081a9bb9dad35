"""Building instance NICs from Ganeti's NIC dicts (``mac``, ``ip``, ``mode``, ``link``,
``vlan``, ``name``, ``network``; ``bridge`` is the old name of ``link``).

Only the NIC parameters given explicitly are stored on the NIC; the rest come
from the cluster defaults (or the network's parameters in the node group).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from corral.cmdlib.common.instances.bundle import filled_nicparams
from corral.cmdlib.common.instances.macs import MacPool
from corral.cmdlib.common.parameters.checks import merge_params
from corral.errors import ErrorCode, OpPrereqError
from corral.objects.base import new_uuid
from corral.objects.config_data import ConfigData, Kind
from corral.objects.instance import Nic, NicMode
from corral.objects.network import Network

VALUE_NONE = "none"
MAX_NICS = 8
"""Ganeti's limit on NICs per instance."""
_PARAM_KEYS = ("mode", "link", "vlan")


def _none_if(value: Any) -> Any:
    return None if isinstance(value, str) and value.lower() == VALUE_NONE else value


def check_ip(ip: Any) -> str | None:
    """A NIC IP: None for absent/``none``; otherwise a valid address.

    Raises:
        OpPrereqError: (INVAL) ``auto``/``pool`` (Corral neither resolves nor pools) or
            not an IP address.
    """
    ip = _none_if(ip)
    if ip is None or ip == "":
        return None
    if str(ip).lower() in ("auto", "pool"):
        raise OpPrereqError(f"IP address '{ip}' is not supported: give an address or none",
                            ErrorCode.INVAL)
    try:
        ipaddress.ip_address(str(ip))
    except ValueError:
        raise OpPrereqError(f"Invalid IP address '{ip}'", ErrorCode.INVAL) from None
    return str(ip)


def check_vlan(vlan: str) -> str:
    """Ganeti's VLAN syntax: ``5`` (becomes ``.5``), ``.5``, ``.5:6:7`` or ``:6:7``."""
    if vlan.isdigit():
        return "." + vlan
    body = vlan[1:]
    if vlan[:1] in (".", ":") and body and all(p.isdigit() for p in body.split(":")):
        return vlan
    raise OpPrereqError(f"Specified VLAN parameter is invalid : {vlan}", ErrorCode.INVAL)


def find_network(cfg: ConfigData, name: str) -> Network:
    found = cfg.find(Kind.NETWORK, name)
    if not isinstance(found, Network):
        raise OpPrereqError(f"Network '{name}' not found", ErrorCode.NOENT)
    return found


def _requested_params(spec: Mapping[str, Any]) -> dict[str, Any]:
    given = {key: spec[key] for key in _PARAM_KEYS if key in spec}
    if "bridge" in spec and "link" not in spec:
        given["link"] = spec["bridge"]
    if given.get("mode") == "auto":
        given.pop("mode")
    if given.get("vlan"):
        given["vlan"] = check_vlan(str(given["vlan"]))
    return given


def _network_params(cfg: ConfigData, net: Network, group_uuid: str | None) -> dict[str, Any]:
    group = cfg.nodegroups.get(group_uuid or "")
    params = group.networks.get(net.uuid) if group is not None else None
    if params is None:
        group_name = group.name if group is not None else group_uuid
        raise OpPrereqError(f"No netparams found for network {net.name}. Probably not"
                            f" connected to node's {group_name} nodegroup", ErrorCode.INVAL)
    return {k: v for k, v in params.items() if k in _PARAM_KEYS}


def check_filled(cfg: ConfigData, nic: Nic) -> dict[str, Any]:
    """The NIC's filled parameters, checked (a mode, a link where it needs one, an IP
    for routed NICs off networks)."""
    filled = filled_nicparams(cfg.cluster, nic.nicparams)
    mode = filled.get("mode")
    if mode not in tuple(m.value for m in NicMode):
        raise OpPrereqError(f"Invalid NIC mode '{mode}'", ErrorCode.INVAL)
    if mode in (NicMode.BRIDGED, NicMode.OVS) and not filled.get("link"):
        raise OpPrereqError("Missing bridged NIC link", ErrorCode.INVAL)
    if mode == NicMode.ROUTED and nic.ip is None and nic.network is None:
        raise OpPrereqError("Routed nic mode requires an ip address if not attached to a"
                            " network", ErrorCode.INVAL)
    return filled


def build_nic(
    cfg: ConfigData, spec: Mapping[str, Any], pool: MacPool, group_uuid: str | None,
    base: Nic | None = None, now: float = 0.0,
) -> Nic:
    """A new NIC from ``spec`` (``base`` None), or ``base`` with ``spec``'s changes.

    Raises:
        OpPrereqError: (INVAL) a bad value; (NOENT) unknown network;
            (NOTUNIQUE) a MAC already used in the cluster.
    """
    requested = _requested_params(spec)
    network = base.network if base is not None else None
    if "network" in spec:
        name = _none_if(spec["network"])
        network = find_network(cfg, name).uuid if name else None
    nicparams = merge_params(base.nicparams if base else {}, requested)
    if network is not None and (base is None or network != base.network):
        if "mode" in requested or "link" in requested:
            raise OpPrereqError("If network is given, no mode or link is allowed to be"
                                " passed", ErrorCode.INVAL)
        nicparams = _network_params(cfg, cfg.networks[network], group_uuid)
    nic = Nic(
        uuid=base.uuid if base else new_uuid(), ctime=base.ctime if base else now,
        mtime=now, name=_name(spec, base), mac=_mac(cfg, spec, pool, network, base),
        ip=check_ip(spec["ip"]) if "ip" in spec else (base.ip if base else None),
        network=network, nicparams=nicparams,
    )
    check_filled(cfg, nic)
    return nic


def _name(spec: Mapping[str, Any], base: Nic | None) -> str:
    if "name" in spec:
        return str(_none_if(spec["name"]) or "")
    return base.name if base is not None else ""


def _mac(cfg: ConfigData, spec: Mapping[str, Any], pool: MacPool, network: str | None,
         base: Nic | None) -> str:
    if base is not None and ("mac" not in spec or spec["mac"].lower() == base.mac.lower()):
        return base.mac
    net = cfg.networks.get(network or "")
    prefix = (net.mac_prefix if net is not None else None) or cfg.cluster.mac_prefix
    return pool.assign(spec.get("mac"), prefix)


def nic_tuple(cfg: ConfigData, nic: Nic) -> list[Any]:
    """Ganeti's NIC description: name, uuid, ip, mac, mode, link, vlan, network, network name."""
    filled = filled_nicparams(cfg.cluster, nic.nicparams)
    net = cfg.networks.get(nic.network or "")
    return [nic.name or None, nic.uuid, nic.ip, nic.mac, filled.get("mode"),
            filled.get("link"), filled.get("vlan", ""), nic.network,
            net.name if net is not None else None]
