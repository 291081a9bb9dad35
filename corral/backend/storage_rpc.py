"""The ``storage_list`` and ``node_volumes`` calls: the node's storage units and LVs.

``storage_list`` answers ``gnt-node list-storage``: one row per storage unit of
a type, with the requested fields in order. Types and their fields (sizes in
MiB): ``file`` (the directories given in ``su_args[0]``, relative to the node
root) and ``lvm-vg`` have name, size, used, free, allocatable; ``lvm-pv``
adds vg. ``node_volumes`` answers ``gnt-node volumes``: every LV of the node.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from corral.backend.context import NodeContext
from corral.backend.handlers import handles
from corral.backend.services import storage
from corral.errors import OpExecError
from corral.objects.instance import DiskTemplate
from corral.rpc.payloads import StorageValue, Volume
from corral.storage.file import FileStorage
from corral.storage.lvm.driver import LvmDriver
from corral.storage.lvm.parse import PvInfo

ST_FILE = "file"
ST_LVM_VG = "lvm-vg"
ST_LVM_PV = "lvm-pv"
COMMON_FIELDS = ("name", "size", "used", "free", "allocatable")
STORAGE_FIELDS: Mapping[str, tuple[str, ...]] = {
    ST_FILE: COMMON_FIELDS,
    ST_LVM_VG: COMMON_FIELDS,
    ST_LVM_PV: ("name", "vg", "size", "used", "free", "allocatable"),
}
"""Fields each storage type can list (Ganeti's storage fields; ``node``/``type`` are the
master's)."""

Unit = dict[str, Any]


def check_fields(su_name: str, fields: list[str]) -> None:
    """Refuse an unknown storage type or field.

    Raises:
        OpExecError: the type or one of the fields is unknown.
    """
    known = STORAGE_FIELDS.get(su_name)
    if known is None:
        raise OpExecError(f"Unknown storage type {su_name!r}")
    unknown = [f for f in fields if f not in known]
    if unknown:
        raise OpExecError(f"Unknown fields for storage type {su_name}: {', '.join(unknown)}")


def _unit(name: str, size: int, free: int, allocatable: bool, **extra: Any) -> Unit:
    return {"name": name, "size": size, "used": size - free, "free": free,
            "allocatable": allocatable, **extra}


def file_dirs(su_args: list[Any]) -> list[str]:
    """The directories of a ``file`` listing: ``su_args[0]`` (a list), empty entries dropped.

    Raises:
        OpExecError: malformed arguments.
    """
    if not su_args:
        return []
    dirs = su_args[0]
    if not isinstance(dirs, list) or not all(isinstance(d, str) for d in dirs):
        raise OpExecError(f"Invalid arguments for file storage: {su_args!r}")
    return [d for d in dirs if d]


async def _file_units(ctx: NodeContext, su_args: list[Any], name: str | None) -> list[Unit]:
    units = []
    for path in file_dirs(su_args):
        if name is not None and path != name:
            continue
        space = await FileStorage(ctx.layout, path, ctx.runner).storage_info("")
        units.append(_unit(path, space.size_mib, space.free_mib, True))
    return units


def _lvm(ctx: NodeContext) -> LvmDriver:
    driver = storage(ctx, DiskTemplate.PLAIN)
    assert isinstance(driver, LvmDriver)
    return driver


async def _vg_units(ctx: NodeContext, su_args: list[Any], name: str | None) -> list[Unit]:
    driver = _lvm(ctx)
    if name is not None:
        names = [name]
    else:
        names = sorted({pv.vg for pv in await driver.physical_volumes() if pv.vg})
    units = []
    for vg in names:
        info = await driver.volume_group(vg)
        units.append(_unit(info.name, info.size_mib, info.free_mib, True))
    return units


def _pv_unit(pv: PvInfo) -> Unit:
    return _unit(pv.name, pv.size_mib, pv.free_mib, pv.allocatable, vg=pv.vg)


async def _pv_units(ctx: NodeContext, su_args: list[Any], name: str | None) -> list[Unit]:
    pvs = await _lvm(ctx).physical_volumes()
    return [_pv_unit(pv) for pv in pvs if name is None or pv.name == name]


_Lister = Callable[[NodeContext, list[Any], str | None], Any]
_LISTERS: Mapping[str, _Lister] = {
    ST_FILE: _file_units,
    ST_LVM_VG: _vg_units,
    ST_LVM_PV: _pv_units,
}


@handles("storage_list")
async def storage_list(
    ctx: NodeContext, su_name: str, su_args: list[Any], name: str | None, fields: list[str]
) -> list[list[StorageValue]]:
    """Rows of ``fields`` for each storage unit of type ``su_name`` (only ``name`` if given),
    sorted by name.

    Raises:
        OpExecError: unknown type or field, malformed arguments.
        BlockDeviceError: the storage cannot be read (no directory, no LVM, no such VG).
    """
    check_fields(su_name, fields)
    units: list[Unit] = await _LISTERS[su_name](ctx, su_args, name)
    return [[unit[f] for f in fields] for unit in sorted(units, key=lambda u: u["name"])]


@handles("node_volumes")
async def node_volumes(ctx: NodeContext) -> list[Volume]:
    """Every LV of the node: ``{"name", "vg", "size" (MiB), "dev" (its first PV)}``.

    Raises:
        BlockDeviceError: the LVM tools failed.
    """
    volumes = await _lvm(ctx).logical_volumes()
    return [Volume(name=lv.name, vg=lv.vg, size=lv.size_mib,
                   dev=lv.areas[0].pv if lv.areas else "")
            for lv in sorted(volumes, key=lambda lv: (lv.vg, lv.name))]
