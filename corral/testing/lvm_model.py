"""State of the LVM simulator: physical volumes, volume groups, logical volumes.

Extent allocation follows what lvm2 2.03's ``normal`` policy was seen to do
(tests/data/lvm/session-2.03.16.txt): an extension first continues the LV's
last area on the same PV, then takes free areas PV by PV in VG order, largest
area first within a PV; physically adjacent areas of one LV merge into one
segment. The data area of a PV starts after 1 MiB of metadata, so a 1 GiB PV
holds 255 extents of 4 MiB, as on a real PV.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PV_METADATA_MIB = 1
DEFAULT_EXTENT_MIB = 4


@dataclass
class Segment:
    """A run of logical extents: ``area_len`` extents on each of its areas (stripes)."""

    areas: list[tuple[str, int]]
    area_len: int

    @property
    def extents(self) -> int:
        return self.area_len * len(self.areas)


@dataclass
class Lv:
    name: str
    segments: list[Segment] = field(default_factory=list)
    active: bool = False

    @property
    def extents(self) -> int:
        return sum(seg.extents for seg in self.segments)

    def append(self, new: Segment) -> None:
        """Add a segment, merging it into the last one when physically contiguous."""
        last = self.segments[-1] if self.segments else None
        if last and len(last.areas) == 1 == len(new.areas):
            (pv, start), (new_pv, new_start) = last.areas[0], new.areas[0]
            if pv == new_pv and start + last.area_len == new_start:
                last.area_len += new.area_len
                return
        self.segments.append(new)


@dataclass
class Pv:
    name: str
    size_mib: int
    vg: str | None = None

    @property
    def extents(self) -> int:
        return (self.size_mib - PV_METADATA_MIB) // DEFAULT_EXTENT_MIB


@dataclass
class Vg:
    name: str
    pvs: list[str] = field(default_factory=list)
    lvs: list[Lv] = field(default_factory=list)
    extent_mib: int = DEFAULT_EXTENT_MIB

    def lv(self, name: str) -> Lv | None:
        return next((lv for lv in self.lvs if lv.name == name), None)


@dataclass
class LvmState:
    """Every PV and VG the simulated node has."""

    pvs: dict[str, Pv] = field(default_factory=dict)
    vgs: dict[str, Vg] = field(default_factory=dict)

    # --- set-up -----------------------------------------------------------
    def add_vg(self, name: str, pvs: list[tuple[str, int]]) -> Vg:
        vg = self.vgs.setdefault(name, Vg(name))
        for pv_name, size_mib in pvs:
            self.add_pv(name, pv_name, size_mib)
        return vg

    def add_pv(self, vg: str, name: str, size_mib: int) -> None:
        self.pvs[name] = Pv(name, size_mib, vg)
        self.vgs[vg].pvs.append(name)

    # --- space ------------------------------------------------------------
    def vg_extents(self, vg: Vg) -> int:
        return sum(self.pvs[name].extents for name in vg.pvs)

    def free_areas(self, vg: Vg, pv: str) -> list[tuple[int, int]]:
        """Free ``(start, length)`` areas of ``pv``, in physical order."""
        used = sorted(
            (start, seg.area_len)
            for lv in vg.lvs for seg in lv.segments for name, start in seg.areas if name == pv
        )
        areas, cursor = [], 0
        for start, length in [*used, (self.pvs[pv].extents, 0)]:
            if start > cursor:
                areas.append((cursor, start - cursor))
            cursor = max(cursor, start + length)
        return areas

    def pv_free(self, vg: Vg, pv: str) -> int:
        return sum(length for _, length in self.free_areas(vg, pv))

    def vg_free(self, vg: Vg) -> int:
        return sum(self.pv_free(vg, pv) for pv in vg.pvs)

    def allocate(self, vg: Vg, needed: int, after: Segment | None = None) -> list[Segment] | None:
        """Linear segments for ``needed`` extents, or ``None`` when space is short."""
        free = {pv: self.free_areas(vg, pv) for pv in vg.pvs}
        plan: list[Segment] = []
        order = [(pv, area) for pv in vg.pvs for area in sorted(free[pv], key=lambda a: -a[1])]
        if after is not None and len(after.areas) == 1:
            pv, start = after.areas[0]
            follow = [(pv, a) for a in free[pv] if a[0] == start + after.area_len]
            order = follow + [item for item in order if item not in follow]
        for pv, (start, length) in order:
            if needed == 0:
                break
            take = min(length, needed)
            plan.append(Segment([(pv, start)], take))
            needed -= take
        return plan if needed == 0 else None

    def allocate_striped(self, vg: Vg, needed: int, stripes: int) -> list[Segment] | None:
        """One segment striped over ``stripes`` PVs (``needed`` a multiple of ``stripes``)."""
        per = needed // stripes
        areas = []
        for pv in vg.pvs:
            fitting = [a for a in self.free_areas(vg, pv) if a[1] >= per]
            if fitting:
                areas.append((pv, fitting[0][0]))
        if len(areas) < stripes:
            return None
        return [Segment(areas[:stripes], per)]

    # --- persistence ------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LvmState:
        raw: dict[str, Any] = json.loads(text)
        state = cls(pvs={name: Pv(**pv) for name, pv in raw["pvs"].items()})
        for name, vg in raw["vgs"].items():
            lvs = [_lv_from(item) for item in vg["lvs"]]
            state.vgs[name] = Vg(name, list(vg["pvs"]), lvs, vg["extent_mib"])
        return state

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.to_json())
        tmp.replace(path)


def _lv_from(item: dict[str, Any]) -> Lv:
    segments = [
        Segment([(pv, int(start)) for pv, start in seg["areas"]], seg["area_len"])
        for seg in item["segments"]
    ]
    return Lv(item["name"], segments, item["active"])


def report_size(mib: int) -> str:
    """A size as ``--units=m --nosuffix`` prints it (zero is a bare ``0``)."""
    return "0" if mib == 0 else f"{mib:.2f}"


def human_size(mib: int) -> str:
    """A size as lvm2 prints it in messages: ``64.00 MiB``, ``<1.01 GiB``.

    Two decimals in the largest unit that keeps the value at least 1; a ``<``
    marks a value that was rounded up.
    """
    value, unit = float(mib), "MiB"
    for bigger in ("GiB", "TiB", "PiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    shown = f"{value:.2f}"
    return f"{'<' if float(shown) > value else ''}{shown} {unit}"
