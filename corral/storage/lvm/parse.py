"""Pure parsers for the reports of ``lvs``, ``vgs`` and ``pvs`` (lvm2 2.03).

The driver always asks for machine-friendly reports::

    lvs --noheadings --units=m --nosuffix --separator=| -o lv_name,vg_name,lv_size,lv_attr,devices

which print one row per line, indented by two spaces, sizes in MiB with two
decimals (a zero size prints as ``0``). ``devices`` is a segment field, so an
LV made of several segments appears on several rows (one per segment, in
logical order) and a striped segment lists its areas comma-separated, each as
``/dev/pv(first extent)``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from corral.errors import BlockDeviceError

SEPARATOR = "|"
REPORT_OPTIONS = ("--noheadings", "--units=m", "--nosuffix", f"--separator={SEPARATOR}")
LVS_FIELDS = ("lv_name", "vg_name", "lv_size", "lv_attr", "devices")
VGS_FIELDS = ("vg_name", "vg_size", "vg_free")
PVS_FIELDS = ("pv_name", "vg_name", "pv_size", "pv_free", "pv_attr")

_DEVICE_RE = re.compile(r"(?P<pv>.+)\((?P<start>\d+)\)")


@dataclass(frozen=True, slots=True)
class LvAttr:
    """The ten-character ``lv_attr`` string, e.g. ``-wi-a-----``."""

    raw: str

    def _at(self, index: int) -> str:
        return self.raw[index] if len(self.raw) > index else "-"

    @property
    def volume_type(self) -> str:
        return self._at(0)

    @property
    def writable(self) -> bool:
        return self._at(1) == "w"

    @property
    def active(self) -> bool:
        return self._at(4) == "a"

    @property
    def open(self) -> bool:
        return self._at(5) == "o"

    @property
    def virtual(self) -> bool:
        """A volume with no backing storage (Ganeti treats it as degraded)."""
        return self.volume_type == "v"

    @property
    def partial(self) -> bool:
        """Some of its physical volumes are missing."""
        return self._at(8) == "p"


@dataclass(frozen=True, slots=True)
class SegmentArea:
    """Where a segment lives: a physical volume and its first extent there."""

    pv: str
    start_extent: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LvInfo:
    name: str
    vg: str
    size_mib: int
    attr: LvAttr
    areas: tuple[SegmentArea, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class VgInfo:
    name: str
    size_mib: int
    free_mib: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PvInfo:
    name: str
    vg: str
    size_mib: int
    free_mib: int
    attr: str

    @property
    def allocatable(self) -> bool:
        return self.attr[:1] == "a"

    @property
    def missing(self) -> bool:
        return self.attr[2:3] == "m"


class LvmParseError(BlockDeviceError):
    """An LVM report did not have the expected shape."""


def parse_size_mib(text: str) -> int:
    """``"1020.00"`` (or ``"0"``) to whole MiB, rounded down.

    Raises:
        LvmParseError: not a number.
    """
    try:
        value = Decimal(text.strip())
    except InvalidOperation as err:
        raise LvmParseError(f"Invalid LVM size {text!r}") from err
    if not value.is_finite() or value < 0:
        raise LvmParseError(f"Invalid LVM size {text!r}")
    return int(value)


def report_rows(output: str, fields: Sequence[str]) -> list[list[str]]:
    """Split a ``--noheadings --separator=|`` report into rows of ``len(fields)`` cells.

    Raises:
        LvmParseError: a row has the wrong number of cells.
    """
    rows = []
    for line in output.splitlines():
        if not line.strip():
            continue
        cells = line.strip().split(SEPARATOR)
        if len(cells) != len(fields):
            raise LvmParseError(
                f"Expected {len(fields)} fields ({','.join(fields)}), got {line.strip()!r}"
            )
        rows.append(cells)
    return rows


def parse_areas(devices: str) -> tuple[SegmentArea, ...]:
    """``"/dev/sdb(0),/dev/sdc(0)"`` to its areas; an empty cell has none.

    Raises:
        LvmParseError: an entry is not ``name(extent)``.
    """
    areas = []
    for item in filter(None, devices.split(",")):
        match = _DEVICE_RE.fullmatch(item)
        if match is None:
            raise LvmParseError(f"Invalid LVM devices entry {item!r}")
        areas.append(SegmentArea(match["pv"], int(match["start"])))
    return tuple(areas)


def parse_lvs(output: str) -> list[LvInfo]:
    """LVs of an ``lvs`` report with ``LVS_FIELDS``, segments merged, in report order."""
    merged: dict[tuple[str, str], LvInfo] = {}
    for name, vg, size, attr, devices in report_rows(output, LVS_FIELDS):
        key = (vg, name)
        areas = parse_areas(devices)
        if key in merged:
            old = merged[key]
            merged[key] = LvInfo(name=name, vg=vg, size_mib=old.size_mib, attr=old.attr,
                                 areas=old.areas + areas)
        else:
            merged[key] = LvInfo(name=name, vg=vg, size_mib=parse_size_mib(size),
                                 attr=LvAttr(attr), areas=areas)
    return list(merged.values())


def parse_vgs(output: str) -> list[VgInfo]:
    """VGs of a ``vgs`` report with ``VGS_FIELDS``."""
    return [
        VgInfo(name=name, size_mib=parse_size_mib(size), free_mib=parse_size_mib(free))
        for name, size, free in report_rows(output, VGS_FIELDS)
    ]


def parse_pvs(output: str) -> list[PvInfo]:
    """PVs of a ``pvs`` report with ``PVS_FIELDS`` (``vg`` is empty for an unused PV)."""
    return [
        PvInfo(name=name, vg=vg, size_mib=parse_size_mib(size),
               free_mib=parse_size_mib(free), attr=attr)
        for name, vg, size, free, attr in report_rows(output, PVS_FIELDS)
    ]
