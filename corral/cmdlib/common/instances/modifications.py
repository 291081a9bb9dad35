"""Disk and NIC modifications of ``gnt-instance modify`` (Ganeti's container mods).

A modification is ``[action, index or name/UUID, params]`` (or the older
``[index | "add" | "remove", params]``); ``-1`` means "append" for ``add`` and
"the last one" otherwise. Plans are computed before anything runs, on copies;
each yields Ganeti's ``[parameter, new value]`` change descriptions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import msgspec

from corral.cmdlib.common.instances.bundle import filled_nicparams
from corral.cmdlib.common.instances.disks import MIRRORED, iv_name, new_disk
from corral.cmdlib.common.instances.drbd import DrbdAllocator, new_drbd_disk
from corral.cmdlib.common.instances.macs import MacPool
from corral.cmdlib.common.instances.mirror import new_mirror_disk
from corral.cmdlib.common.instances.nics import MAX_NICS, build_nic
from corral.errors import ErrorCode, OpPrereqError
from corral.objects.config_data import ConfigData
from corral.objects.instance import Disk, DiskMode, DiskTemplate, Instance, Nic
from corral.opcodes.instance import DDM_ADD, DDM_MODIFY, DDM_REMOVE
from corral.opcodes.params import MAX_DISKS


class _Device(Protocol):
    @property
    def uuid(self) -> str: ...

    @property
    def name(self) -> str: ...


DeviceT = TypeVar("DeviceT", bound=_Device)


@dataclass(frozen=True, slots=True)
class Mod:
    action: str
    ident: int | str
    params: dict[str, Any]


def normalize(mods: Sequence[Sequence[Any]]) -> list[Mod]:
    """Modifications in the three-element form; attach/detach are refused."""
    found: list[Mod] = []
    for entry in mods:
        if len(entry) == 2:
            first, params = entry
            action, ident = (first, -1) if first in (DDM_ADD, DDM_REMOVE) else (DDM_MODIFY, first)
        else:
            action, ident, params = entry
        if action not in (DDM_ADD, DDM_MODIFY, DDM_REMOVE):
            raise OpPrereqError(f"Corral does not support the '{action}' modification yet",
                                ErrorCode.INVAL)
        found.append(Mod(action, ident, dict(params or {})))
    return found


def _as_index(ident: int | str) -> int | None:
    if isinstance(ident, int):
        return ident
    return int(ident) if ident.lstrip("-").isdigit() else None


def add_position(kind: str, ident: int | str, count: int) -> int:
    """Where an ``add`` inserts: ``-1`` appends; otherwise 0..count."""
    index = _as_index(ident)
    if index is None or index < -1 or index > count:
        raise OpPrereqError(f"Got {kind} index {ident}, but there are only {count}",
                            ErrorCode.INVAL)
    return count if index == -1 else index


def find_item(kind: str, ident: int | str, items: Sequence[DeviceT]) -> int:
    """The position of the item named by index (``-1``: last), UUID or name."""
    index = _as_index(ident)
    if index is not None:
        if index < -1 or index >= len(items) or not items:
            raise OpPrereqError(f"Got {kind} index {ident}, but there are only {len(items)}",
                                ErrorCode.INVAL)
        return len(items) - 1 if index == -1 else index
    for position, item in enumerate(items):
        if ident in (item.uuid, item.name):
            return position
    raise OpPrereqError(f"Cannot find {kind} with identifier {ident}", ErrorCode.NOENT)


# --- disks --------------------------------------------------------------------------

@dataclass
class DiskPlan:
    """The disks after the modifications and what changed."""

    disks: list[Disk]
    added: list[Disk] = field(default_factory=list)
    removed: list[Disk] = field(default_factory=list)
    changed: list[Disk] = field(default_factory=list)
    changes: list[list[Any]] = field(default_factory=list)
    children: list[Disk] = field(default_factory=list)
    """The LVs under added mirrored disks."""


def plan_disks(cfg: ConfigData, inst: Instance, current: list[Disk], mods: list[Mod],
               now: float, alloc: DrbdAllocator | None = None) -> DiskPlan:
    """Apply disk ``mods`` to a copy of ``current`` (iv_names renumbered at the end);
    a DRBD disk added gets its minors and port from ``alloc``."""
    plan = DiskPlan(disks=list(current))
    for mod in mods:
        if mod.action == DDM_ADD:
            _add_disk(cfg, inst, plan, mod, now, alloc)
        elif mod.action == DDM_REMOVE:
            index = find_item("disk", mod.ident, plan.disks)
            plan.disks.pop(index)
            plan.changes.append([f"disk/{index}", "remove"])
        else:
            _modify_disk(plan, mod, now)
    plan.disks = [d if d.iv_name == iv_name(i) else msgspec.structs.replace(d, iv_name=iv_name(i))
                  for i, d in enumerate(plan.disks)]
    before = {d.uuid: d for d in current}
    after = {d.uuid for d in plan.disks}
    plan.added = [d for d in plan.disks if d.uuid not in before]
    plan.removed = [d for d in current if d.uuid not in after]
    plan.changed = [d for d in plan.disks if d.uuid in before and d != before[d.uuid]]
    return plan


def _add_disk(cfg: ConfigData, inst: Instance, plan: DiskPlan, mod: Mod, now: float,
              alloc: DrbdAllocator | None) -> None:
    index = add_position("disk", mod.ident, len(plan.disks))
    if len(plan.disks) >= MAX_DISKS:
        raise OpPrereqError(f"Instance has too many disks ({MAX_DISKS}), cannot add more",
                            ErrorCode.STATE)
    size = mod.params.get("size")
    if not isinstance(size, int) or size <= 0:
        raise OpPrereqError(f"Invalid disk size '{size}'", ErrorCode.INVAL)
    if "adopt" in mod.params:
        raise OpPrereqError("Disk adoption is not allowed when modifying an instance",
                            ErrorCode.INVAL)
    if inst.disk_template in MIRRORED:
        disk = _add_mirrored(cfg, inst, plan, mod, now, alloc, index)
    else:
        disk = new_disk(inst.disk_template, cfg.cluster, inst.name, index, mod.params,
                        [inst.primary_node], now)
    plan.disks.insert(index, disk)
    plan.changes.append([f"disk/{index}", f"add:size={disk.size},mode={disk.mode.value}"])


def _add_mirrored(cfg: ConfigData, inst: Instance, plan: DiskPlan, mod: Mod, now: float,
                  alloc: DrbdAllocator | None, index: int) -> Disk:
    """A new DRBD disk between the instance's primary and secondary nodes."""
    secondaries = cfg.instance_secondary_nodes(inst)
    if alloc is None or len(secondaries) != 1:
        raise OpPrereqError(f"Cannot add a {inst.disk_template.value} disk to instance"
                            f" {inst.name}: it has no single secondary node", ErrorCode.STATE)
    pair = (inst.primary_node, secondaries[0])
    if inst.disk_template is DiskTemplate.MIRROR:
        return new_mirror_disk(alloc, cfg, index, mod.params, pair, inst.name, now)
    branch = new_drbd_disk(alloc, cfg.cluster, index, mod.params, pair, now)
    plan.children.extend(branch.children)
    return branch.disk


def _modify_disk(plan: DiskPlan, mod: Mod, now: float) -> None:
    index = find_item("disk", mod.ident, plan.disks)
    if "size" in mod.params:
        raise OpPrereqError("Disk size change not possible, use grow-disk", ErrorCode.INVAL)
    unknown = sorted(set(mod.params) - {"mode", "name"})
    if unknown:
        raise OpPrereqError(f"Disk modification doesn't support additional arbitrary"
                            f" parameters: {', '.join(unknown)}", ErrorCode.INVAL)
    disk = plan.disks[index]
    fields: dict[str, Any] = {}
    if "mode" in mod.params:
        fields["mode"] = DiskMode(mod.params["mode"])
        plan.changes.append([f"disk.mode/{index}", fields["mode"].value])
    if "name" in mod.params:
        fields["name"] = str(mod.params["name"] or "")
        plan.changes.append([f"disk.name/{index}", fields["name"]])
    plan.disks[index] = disk.evolve(now, **fields) if fields else disk


# --- NICs ---------------------------------------------------------------------------

_NIC_PARAMS = ("mode", "link", "vlan")


def plan_nics(cfg: ConfigData, inst: Instance, mods: list[Mod], pool: MacPool,
              group_uuid: str | None, now: float) -> tuple[list[Nic], list[list[Any]]]:
    """Apply NIC ``mods`` to a copy of the instance's NICs; returns (NICs, changes)."""
    nics, changes = list(inst.nics), []
    for mod in mods:
        if mod.action == DDM_ADD:
            index = add_position("NIC", mod.ident, len(nics))
            if len(nics) >= MAX_NICS:
                raise OpPrereqError(f"Instance has too many network interfaces ({MAX_NICS}),"
                                    " cannot add more", ErrorCode.STATE)
            nic = build_nic(cfg, mod.params, pool, group_uuid, now=now)
            nics.insert(index, nic)
            filled = filled_nicparams(cfg.cluster, nic.nicparams)
            changes.append([f"nic.{index}", f"add:mac={nic.mac},ip={nic.ip},"
                            f"mode={filled.get('mode')},link={filled.get('link')},"
                            f"network={mod.params.get('network')}"])
        elif mod.action == DDM_REMOVE:
            index = find_item("NIC", mod.ident, nics)
            nics.pop(index)
            changes.append([f"nic/{index}", "remove"])
        else:
            index = find_item("NIC", mod.ident, nics)
            nic = build_nic(cfg, mod.params, pool, group_uuid, base=nics[index], now=now)
            changes.extend(_nic_changes(cfg, index, nics[index], nic, mod.params))
            nics[index] = nic
    return nics, changes


def _nic_changes(cfg: ConfigData, index: int, old: Nic, new: Nic,
                 params: dict[str, Any]) -> list[list[Any]]:
    changes: list[list[Any]] = [[f"nic.{key}/{index}", getattr(new, key)]
                                for key in ("mac", "ip", "name") if key in params]
    if new.network != old.network:
        changes.append([f"nic.network/{index}", params.get("network")])
    if any(key in params for key in (*_NIC_PARAMS, "bridge")):
        filled = filled_nicparams(cfg.cluster, new.nicparams)
        changes.extend([f"nic.{key}/{index}", filled.get(key)] for key in _NIC_PARAMS)
    return changes
