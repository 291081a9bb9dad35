"""Per-query data for instance rows and the derivation of Ganeti's instance status."""

from __future__ import annotations

import enum
from typing import Any

from corral.objects import AdminState, AdminStateSource, Disk, Instance, Nic, NicMode, NodeGroup
from corral.query.context import QueryContext
from corral.query.fields import NODATA, OFFLINE, UNAVAIL, fill
from corral.query.paramfields import HV_GLOBALS


class InstanceStatus(enum.StrEnum):
    """Values of the instance ``status`` field (Ganeti's INSTST_*)."""

    RUNNING = "running"
    ADMIN_DOWN = "ADMIN_down"
    ADMIN_OFFLINE = "ADMIN_offline"
    ERROR_UP = "ERROR_up"
    ERROR_DOWN = "ERROR_down"
    ERROR_WRONGNODE = "ERROR_wrongnode"
    ERROR_NODEDOWN = "ERROR_nodedown"
    ERROR_NODEOFFLINE = "ERROR_nodeoffline"
    USER_DOWN = "USER_down"


HV_STATE_SHUTDOWN = "shutdown"
_MISSING = object()
KVM = "kvm"


class InstanceShared:
    """Cluster defaults and lookups shared by every instance row of one query."""

    def __init__(self, ctx: QueryContext) -> None:
        cfg = ctx.config
        self.config = cfg
        self.cluster = cfg.cluster
        self.nodes = cfg.nodes
        self.groups = cfg.nodegroups
        self.networks = cfg.networks
        self.live = ctx.instance_live
        self.consoles = ctx.instance_consoles
        self.failed = ctx.offline_or_failed
        self.offline = frozenset(uuid for uuid, node in cfg.nodes.items() if node.offline)
        self.unreachable = self.offline | self.failed
        self.node_names = {uuid: node.name for uuid, node in cfg.nodes.items()}
        self.default_be: dict[str, Any] = cfg.cluster.beparams.get("default", {})
        self.default_nic: dict[str, Any] = cfg.cluster.nicparams.get("default", {})
        # Memos: rows share few (hypervisor, OS) pairs, and a row's fields
        # ask for the same instance's disks several times in a row.
        self._hv_merged: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {}
        self._os_defaults: dict[str, dict[str, Any] | None] = {}
        self._disks: dict[str, list[Disk] | None] = {}
        self.default_nic_settings = nic_settings(self.default_nic)

    # --- nodes ---------------------------------------------------------
    def node_name(self, uuid: str) -> str | None:
        return self.node_names.get(uuid)

    def node_group(self, uuid: str) -> NodeGroup | None:
        node = self.nodes.get(uuid)
        return None if node is None else self.groups.get(node.group)

    def secondary_nodes(self, inst: Instance) -> list[str]:
        """Nodes other than the primary holding any of the instance's disks."""
        disks = self.disks(inst)
        if disks is None:
            table = self.config.disks
            disks = [d for d in map(table.get, inst.disks) if d is not None]
        primary = inst.primary_node
        if len(disks) == 1:  # the usual case: nothing to merge
            found = [n for n in disks[0].nodes if n != primary]
            if len(found) < 2:
                return found
        found = []
        for disk in disks:
            for node in disk.nodes:
                if node != primary and node not in found:
                    found.append(node)
        return found

    # --- disks and parameters -------------------------------------------
    def disks(self, inst: Instance) -> list[Disk] | None:
        """The instance's disks in order; None if the configuration lacks one."""
        if inst.uuid in self._disks:  # no KeyError: a first look-up per instance is the rule
            return self._disks[inst.uuid]
        table = self.config.disks
        try:
            disks: list[Disk] | None = [table[uuid] for uuid in inst.disks]
        except KeyError:
            disks = None
        self._disks[inst.uuid] = disks
        return disks

    def beparams(self, inst: Instance) -> dict[str, Any]:
        merged = dict(self.default_be)
        merged.update(inst.beparams)
        return merged

    def beparam(self, inst: Instance, name: str) -> Any:
        value = inst.beparams.get(name, _MISSING)
        return self.default_be.get(name, NODATA) if value is _MISSING else value

    def hvparams(self, inst: Instance) -> dict[str, Any]:
        merged = dict(self._hv_defaults(inst)[1])
        if inst.hvparams:
            merged.update({k: v for k, v in inst.hvparams.items() if k not in HV_GLOBALS})
        return merged

    def hvparam(self, inst: Instance, name: str) -> Any:
        value = inst.hvparams.get(name, _MISSING)
        if value is _MISSING:
            return self._hv_defaults(inst)[0].get(name, UNAVAIL)
        return value

    def _hv_defaults(self, inst: Instance) -> tuple[dict[str, Any], dict[str, Any]]:
        """Cluster defaults overridden by OS-specific values: all of them, and
        without the cluster-wide ones; computed once per (hypervisor, OS)."""
        key = (inst.hypervisor, inst.os)
        found = self._hv_merged.get(key)
        if found is None:
            hv, os_name = key
            merged = dict(self.cluster.hvparams.get(hv, {}))
            merged.update(self.cluster.os_hvp.get(os_name, {}).get(hv, {}))
            shown = {k: v for k, v in merged.items() if k not in HV_GLOBALS}
            found = self._hv_merged[key] = (merged, shown)
        return found

    def osparams(self, inst: Instance) -> dict[str, Any]:
        os_name = inst.os
        try:
            defaults = self._os_defaults[os_name]
        except KeyError:
            defaults = self.cluster.osparams.get(os_name.split("+", 1)[0])
            self._os_defaults[os_name] = defaults
        return fill(defaults, inst.osparams)

    def nicparams(self, nic: Nic) -> dict[str, Any]:
        return fill(self.default_nic, nic.nicparams)

    def nic_settings(self, nic: Nic) -> NicSettings:
        """The NIC's filled (mode, link, vlan, bridge)."""
        params = nic.nicparams
        if not params:
            return self.default_nic_settings
        default = self.default_nic
        mode = params.get("mode", default.get("mode"))
        link = params.get("link", default.get("link"))
        vlan = params.get("vlan", default.get("vlan")) if mode == _OVS else None
        return (mode, link, vlan, link if mode == _BRIDGED else None)


NicSettings = tuple[Any, Any, Any, Any]
NIC_MODE, NIC_LINK, NIC_VLAN, NIC_BRIDGE = range(4)
"""Indexes into :data:`NicSettings`."""


_OVS = NicMode.OVS.value
_BRIDGED = NicMode.BRIDGED.value


def nic_settings(params: dict[str, Any]) -> NicSettings:
    """(mode, link, vlan, bridge) of filled NIC parameters: the VLAN only for
    Open vSwitch NICs, the bridge only for bridged ones."""
    mode = params.get("mode")
    link = params.get("link")
    vlan = params.get("vlan") if mode == _OVS else None
    return (mode, link, vlan, link if mode == _BRIDGED else None)


# --- status --------------------------------------------------------------


# Plain strings: the status getter runs once per row of large listings.
_RUNNING = InstanceStatus.RUNNING.value
_ADMIN_DOWN = InstanceStatus.ADMIN_DOWN.value
_ADMIN_OFFLINE = InstanceStatus.ADMIN_OFFLINE.value
_ERROR_UP = InstanceStatus.ERROR_UP.value
_ERROR_DOWN = InstanceStatus.ERROR_DOWN.value
_USER_DOWN = InstanceStatus.USER_DOWN.value
_ADMIN_UP = AdminState.UP.value
_ADMIN_OFF = AdminState.OFFLINE.value


def instance_status(sh: InstanceShared, inst: Instance) -> str:
    """Ganeti's status: node problems first, then live state against admin state."""
    if inst.primary_node in sh.unreachable:
        if inst.primary_node in sh.offline:
            return InstanceStatus.ERROR_NODEOFFLINE.value
        return InstanceStatus.ERROR_NODEDOWN.value
    live = sh.live.get(inst.uuid)
    if live:
        return _live_status(sh, inst, live)
    return _dead_status(sh, inst)


def _live_status(sh: InstanceShared, inst: Instance, live: dict[str, Any]) -> str:
    found_on = live.get("node")
    if found_on is not None and found_on != inst.primary_node:
        return InstanceStatus.ERROR_WRONGNODE.value
    admin_up = inst.admin_state == _ADMIN_UP
    if live.get("state") == HV_STATE_SHUTDOWN:
        if admin_up and _user_shutdown_allowed(sh, inst):
            return _USER_DOWN
        return _ERROR_DOWN if admin_up else _ADMIN_DOWN
    return _RUNNING if admin_up else _ERROR_UP


def _user_shutdown_allowed(sh: InstanceShared, inst: Instance) -> bool:
    if not sh.cluster.enabled_user_shutdown:
        return False
    return inst.hypervisor != KVM or sh.hvparam(inst, "user_shutdown") is True


def _dead_status(sh: InstanceShared, inst: Instance) -> str:
    if inst.admin_state == _ADMIN_UP:
        return _ERROR_DOWN
    if inst.admin_state == _ADMIN_OFF:
        return _ADMIN_OFFLINE
    by_user = inst.admin_state_source is AdminStateSource.USER
    if by_user and sh.cluster.enabled_user_shutdown:
        return _USER_DOWN
    return _ADMIN_DOWN


def oper_state(sh: InstanceShared, inst: Instance) -> Any:
    if inst.primary_node in sh.unreachable:
        return NODATA
    return bool(sh.live.get(inst.uuid))


def live_value(key: str) -> Any:
    """Getter for one key of the instance's live data (``memory``, ``vcpus``)."""

    def get(sh: InstanceShared, inst: Instance) -> Any:
        if inst.primary_node in sh.offline:
            return OFFLINE
        if inst.primary_node in sh.failed:
            return NODATA
        data = sh.live.get(inst.uuid)
        if not data:
            return UNAVAIL
        value = data.get(key)
        return NODATA if value is None else value

    return get


def console_info(sh: InstanceShared, inst: Instance) -> Any:
    """The ``console`` field: how to reach a running instance's console (unavailable
    when it does not run)."""
    if inst.primary_node in sh.offline:
        return OFFLINE
    if inst.primary_node in sh.failed:
        return NODATA
    console = sh.consoles.get(inst.uuid)
    return UNAVAIL if console is None else console
