"""Template ``plain``: one LVM logical volume per disk, through the real lvm2 tools.

Logical id ``(vg, lv)``; the LV is named ``<disk uuid>.disk<index>`` by
default and appears as ``<dev_dir>/<vg>/<lv>`` when active (``/dev`` on a real
node; the LVM simulator used by the tests puts its stand-in devices under a
sandbox). Free space is checked with ``vgs`` before ``lvcreate``/``lvextend``
so the refusal carries Ganeti's message; the tools' own out-of-space failures
(a race with another allocation) map to the same error code.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from corral.errors import BlockDeviceError, ErrorCode
from corral.objects import DiskTemplate
from corral.process import CommandResult, CommandRunner
from corral.storage import naming
from corral.storage.base import (
    IN_SYNC,
    BlockDevice,
    DeviceCommandError,
    DeviceInfo,
    DiskCreateSpec,
    DiskRef,
    LDiskStatus,
    StorageSpace,
    SyncStatus,
    insufficient_space,
)
from corral.storage.lvm import parse
from corral.storage.wipe import wipe_device

LVM_TIMEOUT = 60.0
DEFAULT_VG = "xenvg"
_NAME_RE = re.compile(r"[a-zA-Z0-9+_.][a-zA-Z0-9+_.-]{0,126}")
_MISSING = ("Failed to find logical volume", "not found")
"""lvs/lvremove/lvchange say the first for a missing LV; "Volume group ... not found"."""
_NO_SPACE = ("insufficient free space", "Insufficient free space")


def check_lvm_name(kind: str, name: str) -> str:
    """Refuse names LVM would reject (or that could smuggle options or paths).

    Raises:
        BlockDeviceError: invalid name.
    """
    if not _NAME_RE.fullmatch(name) or name in {".", ".."}:
        raise BlockDeviceError(f"Invalid {kind} name {name!r}")
    return name


def lvs_argv(*targets: str) -> list[str]:
    return ["lvs", *parse.REPORT_OPTIONS, "-o", ",".join(parse.LVS_FIELDS), *targets]


def vgs_argv(*vgs: str) -> list[str]:
    return ["vgs", *parse.REPORT_OPTIONS, "-o", ",".join(parse.VGS_FIELDS), *vgs]


def pvs_argv(*pvs: str) -> list[str]:
    return ["pvs", *parse.REPORT_OPTIONS, "-o", ",".join(parse.PVS_FIELDS), *pvs]


class LvmDriver(BlockDevice):
    """Plain LVs in a volume group of this node."""

    template: ClassVar[DiskTemplate] = DiskTemplate.PLAIN

    def __init__(
        self, runner: CommandRunner, *, default_vg: str = DEFAULT_VG, dev_dir: Path = Path("/dev")
    ) -> None:
        self._runner = runner
        self._default_vg = default_vg
        self._dev_dir = dev_dir

    # --- helpers ------------------------------------------------------------
    async def _run(self, argv: Sequence[str]) -> CommandResult:
        return await self._runner.run(list(argv), timeout=LVM_TIMEOUT)

    async def _checked_run(self, argv: Sequence[str], message: str) -> CommandResult:
        result = await self._run(argv)
        if result.failed:
            code = ErrorCode.NORES if _mentions(result, _NO_SPACE) else ErrorCode.FAULT
            raise DeviceCommandError.from_result(message, result, code)
        return result

    def _ids(self, dev: DiskRef) -> tuple[str, str]:
        if dev.template is not self.template:
            raise self.wrong_template(dev)
        if len(dev.logical_id) != 2:
            raise BlockDeviceError(f"Invalid plain logical id {dev.logical_id!r}")
        vg, lv = dev.logical_id
        return check_lvm_name("volume group", vg), check_lvm_name("logical volume", lv)

    def logical_id_for(self, spec: DiskCreateSpec) -> tuple[str, str]:
        if spec.template is not self.template:
            raise BlockDeviceError(f"Cannot create a {spec.template} disk with {self.template}")
        if not spec.logical_id:
            return self._default_vg, naming.lv_name(spec.uuid, spec.index)
        return self._ids(spec.ref())

    def device_path(self, vg: str, lv: str) -> Path:
        """Where an active LV appears."""
        return self._dev_dir / vg / lv

    async def volume_group(self, vg: str) -> parse.VgInfo:
        """Size and free space of ``vg``.

        Raises:
            BlockDeviceError: no such VG, or ``vgs`` failed.
        """
        result = await self._checked_run(vgs_argv(check_lvm_name("volume group", vg)),
                                         f"Cannot query volume group {vg}")
        for info in parse.parse_vgs(result.stdout):
            if info.name == vg:
                return info
        raise BlockDeviceError(f"Volume group {vg} not found")

    async def physical_volumes(self) -> list[parse.PvInfo]:
        """Every PV of this node (``pvs``), for ``gnt-node list-storage``."""
        result = await self._checked_run(pvs_argv(), "Cannot list physical volumes")
        return parse.parse_pvs(result.stdout)

    async def logical_volumes(self, vg: str | None = None) -> list[parse.LvInfo]:
        """Every LV (of ``vg``), for ``gnt-node volumes``."""
        targets = [check_lvm_name("volume group", vg)] if vg else []
        result = await self._checked_run(lvs_argv(*targets), "Cannot list logical volumes")
        return parse.parse_lvs(result.stdout)

    async def _lv(self, vg: str, lv: str) -> parse.LvInfo | None:
        result = await self._run(lvs_argv(f"{vg}/{lv}"))
        if result.failed:
            if _mentions(result, _MISSING):
                return None
            raise DeviceCommandError.from_result(f"Cannot query {vg}/{lv}", result)
        found = [info for info in parse.parse_lvs(result.stdout) if info.name == lv]
        return found[0] if found else None

    async def _check_space(self, vg: str, amount_mib: int) -> None:
        info = await self.volume_group(vg)
        if amount_mib > info.free_mib:
            raise insufficient_space(amount_mib, info.free_mib)

    def _info(self, lv: parse.LvInfo) -> DeviceInfo:
        return DeviceInfo(logical_id=(lv.vg, lv.name), path=str(self.device_path(lv.vg, lv.name)),
                          size_mib=lv.size_mib, active=lv.attr.active)

    # --- contract -------------------------------------------------------------
    async def create(self, spec: DiskCreateSpec) -> DeviceInfo:
        vg, lv = self.logical_id_for(spec)
        if spec.size_mib <= 0:
            raise BlockDeviceError(f"Invalid disk size {spec.size_mib} MiB")
        await self._check_space(vg, spec.size_mib)
        argv = ["lvcreate", "--yes", "-L", f"{spec.size_mib}m", "-n", lv]
        stripes = _stripes(spec)
        if stripes > 1:
            argv += ["-i", str(stripes)]
        result = await self._run([*argv, vg])
        if result.failed:
            raise _create_error(vg, lv, result)
        try:
            return await self._finish_create(vg, lv, spec.wipe)
        except BaseException:
            await self._run(["lvremove", "-f", f"{vg}/{lv}"])
            raise

    async def _finish_create(self, vg: str, lv: str, wipe: bool) -> DeviceInfo:
        found = await self._lv(vg, lv)
        if found is None:
            raise BlockDeviceError(f"Logical volume {vg}/{lv} vanished after lvcreate")
        info = self._info(found)
        if wipe:
            await asyncio.to_thread(wipe_device, info.path, 0, info.size_mib)
        return info

    async def remove(self, dev: DiskRef) -> None:
        vg, lv = self._ids(dev)
        result = await self._run(["lvremove", "-f", f"{vg}/{lv}"])
        if result.failed and await self._lv(vg, lv) is not None:
            raise DeviceCommandError.from_result(f"Cannot remove logical volume {vg}/{lv}", result)

    async def rename(self, dev: DiskRef, new_id: tuple[str, ...]) -> None:
        """Rename the volume to ``new_id`` (``(vg, lv)``, the same volume group).

        Raises:
            BlockDeviceError: another volume group, a bad name, or ``lvrename`` failed.
        """
        vg, lv = self._ids(dev)
        if len(new_id) != 2 or new_id[0] != vg:
            raise BlockDeviceError(f"Can't move a logical volume across volume groups (from"
                                   f" {vg} to {new_id[0] if new_id else '?'})")
        new = check_lvm_name("logical volume", str(new_id[1]))
        await self._checked_run(["lvrename", vg, lv, new],
                                f"Failed to rename the logical volume {vg}/{lv} to {new}")

    async def assemble(self, dev: DiskRef) -> DeviceInfo:
        vg, lv = self._ids(dev)
        await self._checked_run(["lvchange", "-ay", f"{vg}/{lv}"], f"Cannot activate {vg}/{lv}")
        found = await self._lv(vg, lv)
        if found is None or not found.attr.active:
            raise BlockDeviceError(f"Logical volume {vg}/{lv} is not active after lvchange")
        return self._info(found)

    async def shutdown(self, dev: DiskRef) -> None:
        vg, lv = self._ids(dev)
        result = await self._run(["lvchange", "-an", f"{vg}/{lv}"])
        if result.failed and await self._lv(vg, lv) is not None:
            raise DeviceCommandError.from_result(f"Cannot deactivate {vg}/{lv}", result)

    async def grow(self, dev: DiskRef, amount_mib: int, dryrun: bool) -> None:
        vg, lv = self._ids(dev)
        if amount_mib < 0:
            raise BlockDeviceError(f"Cannot shrink a disk (amount {amount_mib} MiB)")
        if await self._lv(vg, lv) is None:
            raise BlockDeviceError(f"Logical volume {vg}/{lv} not found")
        if amount_mib == 0:
            return
        await self._check_space(vg, amount_mib)
        argv = ["lvextend", "-L", f"+{amount_mib}m", *(["--test"] if dryrun else []), f"{vg}/{lv}"]
        await self._checked_run(argv, f"Cannot grow logical volume {vg}/{lv}")

    async def find(self, dev: DiskRef) -> DeviceInfo | None:
        vg, lv = self._ids(dev)
        found = await self._lv(vg, lv)
        return None if found is None else self._info(found)

    async def get_size(self, dev: DiskRef) -> int:
        found = await self.find(dev)
        if found is None:
            raise BlockDeviceError(f"Logical volume {'/'.join(dev.logical_id)} not found")
        return found.size_mib

    async def sync_status(self, dev: DiskRef) -> SyncStatus:
        """In sync unless the LV is missing, virtual or lost some of its PVs."""
        vg, lv = self._ids(dev)
        found = await self._lv(vg, lv)
        if found is None or found.attr.virtual or found.attr.partial:
            return SyncStatus(is_degraded=True, ldisk_status=LDiskStatus.FAULTY)
        return IN_SYNC

    async def storage_info(self, unit: str) -> StorageSpace:
        info = await self.volume_group(unit or self._default_vg)
        return StorageSpace(info.size_mib, info.free_mib)


def _stripes(spec: DiskCreateSpec) -> int:
    """The ``stripes`` disk parameter (Ganeti's plain diskparam), 1 by default."""
    value = spec.params.get("stripes", 1) or 1
    try:
        stripes = int(value)
    except (TypeError, ValueError) as err:
        raise BlockDeviceError(f"Invalid stripes parameter {value!r}") from err
    if stripes < 1:
        raise BlockDeviceError(f"Invalid stripes parameter {value!r}")
    return stripes


def _mentions(result: CommandResult, needles: Sequence[str]) -> bool:
    return any(needle in result.stderr for needle in needles)


def _create_error(vg: str, lv: str, result: CommandResult) -> DeviceCommandError:
    if _mentions(result, _NO_SPACE):
        code = ErrorCode.NORES
    elif "already exists" in result.stderr:
        code = ErrorCode.EXISTS
    else:
        code = ErrorCode.FAULT
    return DeviceCommandError.from_result(f"Cannot create logical volume {vg}/{lv}", result, code)
