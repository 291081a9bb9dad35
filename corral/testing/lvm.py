"""A faithful LVM command simulator: a ``CommandRunner`` that models lvm2 2.03.

Device-mapper is absent on the machines Corral is developed on, so the real
tools cannot create LVs there. This runner keeps PVs, VGs and LVs in memory
(optionally in a JSON state file, so a restarted node daemon finds them) and
answers the commands the ``plain`` driver runs with the real tools' output:
the same two-space indent, sizes, ``lv_attr`` strings, messages, stdout/stderr
split and exit codes (0 success, 3 command-line error, 5 failure), checked
against outputs captured from lvm2 2.03.16 in tests/data/lvm/.

Simulated: ``lvcreate`` (``-L/--size``, ``-n/--name``, ``-i/--stripes``,
``-I``, ``-Z``, ``-W``, ``-a``, ``--yes``, ``--test``, ``--config``),
``lvremove`` (``-f``), ``lvchange -a y|n``, ``lvrename``, ``lvextend -L [+]size`` (``--test``),
and ``lvs``/``vgs``/``pvs`` reports with ``--noheadings``, ``--units=m``,
``--nosuffix``, ``--separator`` and ``-o``; extent rounding and allocation
(see ``lvm_model``); the errors for a missing VG, a missing LV, an existing
LV, too little free space, too many stripes, a zero or malformed size and
unknown options. An active LV appears as ``<dev_dir>/<vg>/<lv>``, a symlink
(as udev makes one) to a sparse data file that keeps the LV's contents across
deactivation and is grown by ``lvextend``.

Not simulated: aligned (separator-less) reports, units other than MiB,
``-l`` extents, PV/VG commands (set up with ``add_vg``/``add_pv``), thin
pools, snapshots, mirrors/RAID, tags, locking, open-device detection (the
``o`` attribute), interactive prompts (an active LV without ``-f``/``-y`` is
refused as a non-interactive "n" answer would), and stale data: a new LV
reads as zeros even where an old one lived. Other commands go to an optional
``fallback`` runner (127 without one).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from corral.process import CommandResult, CommandRunner
from corral.testing.lvm_cli import (
    EXIT_CMDLINE,
    EXIT_FAILED,
    MIB,
    OPTIONS,
    TEST_MODE,
    Outcome,
    Parsed,
    UsageError,
    create_target,
    group_targets,
    int_option,
    parse_options,
    parse_size,
    report,
)
from corral.testing.lvm_model import Lv, LvmState, Segment, Vg, human_size, report_size
from corral.testing.tool_runner import SimulatedTools


class LvmSimulator(SimulatedTools):
    """A ``CommandRunner`` answering lvm2 commands from an in-memory model."""

    TOOLS = frozenset(OPTIONS)

    def __init__(
        self,
        dev_dir: Path,
        *,
        vg: str | None = "xenvg",
        pvs: Sequence[tuple[str, int]] = (("/dev/sdb", 10241),),
        data_dir: Path | None = None,
        state_file: Path | None = None,
        fallback: CommandRunner | None = None,
    ) -> None:
        self.dev_dir = dev_dir
        self.data_dir = data_dir or dev_dir / ".lvm-simulator"
        self.state_file = state_file
        self.fallback = fallback
        self.calls: list[tuple[str, ...]] = []
        if state_file is not None and state_file.exists():
            self.state = LvmState.from_json(state_file.read_text())
        else:
            self.state = LvmState()
            if vg is not None:
                self.state.add_vg(vg, list(pvs))

    # --- the CommandRunner protocol -------------------------------------------

    def execute(self, argv: Sequence[str]) -> CommandResult:
        """Run one simulated command synchronously."""
        self.calls.append(tuple(argv))
        tool = os.path.basename(argv[0]) if argv else ""
        if tool not in OPTIONS:
            return CommandResult(tuple(argv), 127, "", f"cannot execute {tool}: not simulated\n")
        try:
            parsed = parse_options(tool, argv[1:])
            outcome = self._handlers()[tool](parsed)
        except UsageError as err:
            outcome = Outcome(stderr=err.lines, code=EXIT_CMDLINE)
        if self.state_file is not None and tool in {"lvcreate", "lvremove", "lvextend",
                                                    "lvchange", "lvrename"}:
            self.state.save(self.state_file)
        return outcome.result(argv)

    def _handlers(self) -> dict[str, Callable[[Parsed], Outcome]]:
        return {"lvcreate": self._lvcreate, "lvremove": self._lvremove,
                "lvchange": self._lvchange, "lvextend": self._lvextend,
                "lvrename": self._lvrename, "lvs": self._lvs, "vgs": self._vgs, "pvs": self._pvs}

    # --- set-up and inspection --------------------------------------------------
    def add_vg(self, name: str, pvs: Sequence[tuple[str, int]]) -> None:
        self.state.add_vg(name, list(pvs))

    def add_pv(self, vg: str, name: str, size_mib: int) -> None:
        self.state.add_pv(vg, name, size_mib)

    def device(self, vg: str, lv: str) -> Path:
        """Where an active LV appears (the stand-in for ``/dev/<vg>/<lv>``)."""
        return self.dev_dir / vg / lv

    def data_file(self, vg: str, lv: str) -> Path:
        return self.data_dir / vg / lv

    # --- commands -----------------------------------------------------------------
    def _lvcreate(self, p: Parsed) -> Outcome:
        if p.value("size") is None:
            raise UsageError(["No command with matching syntax recognised.  "
                              "Run 'lvcreate --help' for more information."])
        _, mib = parse_size("lvcreate", p.value("size") or "")
        vg_name, lv_name = create_target(p)
        stripes = int_option(p, "stripes", 1)
        out = Outcome()
        if stripes > 1 and p.value("stripesize") is None:
            out.out("Using default stripesize 64.00 KiB.")
        if p.flag("test"):
            out.err(TEST_MODE)
        vg = self._vg(vg_name, out)
        if vg is None:
            return out
        return self._create_in(vg, lv_name, mib, stripes, p, out)

    def _create_in(self, vg: Vg, name: str | None, mib: float, stripes: int, p: Parsed,
                   out: Outcome) -> Outcome:
        if stripes > len(vg.pvs):
            return out.err(f"Number of stripes ({stripes}) must not exceed number of "
                           f"physical volumes ({len(vg.pvs)})", EXIT_FAILED)
        name = name or _free_lvol_name(vg)
        if vg.lv(name) is not None:
            return out.err(f'Logical Volume "{name}" already exists in volume group "{vg.name}"',
                           EXIT_FAILED)
        extents = math.ceil(mib / vg.extent_mib)
        extents += -extents % stripes
        if extents * vg.extent_mib != mib:
            out.out(f"Rounding up size to full physical extent "
                    f"{human_size(extents * vg.extent_mib)}")
        free = self.state.vg_free(vg)
        segments = (self.state.allocate(vg, extents) if stripes == 1
                    else self.state.allocate_striped(vg, extents, stripes))
        if extents > free or segments is None:
            return out.err(f'Volume group "{vg.name}" has insufficient free space '
                           f"({free} extents): {extents} required.", EXIT_FAILED)
        if not p.flag("test"):
            self._add_lv(vg, Lv(name, segments), p.value("activate") not in {"n", "en", "ln"})
        out.out(f'Logical volume "{name}" created.')
        return out

    def _add_lv(self, vg: Vg, lv: Lv, active: bool) -> None:
        vg.lvs.append(lv)
        data = self.data_file(vg.name, lv.name)
        data.parent.mkdir(parents=True, exist_ok=True)
        with open(data, "wb") as handle:
            handle.truncate(lv.extents * vg.extent_mib * MIB)
        self._set_active(vg, lv, active)

    def _set_active(self, vg: Vg, lv: Lv, active: bool) -> None:
        lv.active = active
        link = self.device(vg.name, lv.name)
        if active and not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(self.data_file(vg.name, lv.name))
        elif not active:
            link.unlink(missing_ok=True)
            if link.parent.is_dir() and not any(link.parent.iterdir()):
                link.parent.rmdir()

    def _lvremove(self, p: Parsed) -> Outcome:
        if not p.args:
            raise UsageError(["Please enter one or more logical volume paths.",
                              "Run `lvremove --help' for more information."])
        out = Outcome()
        for vg_name, wanted in group_targets(p.args).items():
            vg = self._vg(vg_name, out)
            if vg is not None:
                self._remove_from(vg, wanted, p, out)
        return out

    def _remove_from(self, vg: Vg, wanted: list[str] | None, p: Parsed, out: Outcome) -> None:
        for name in wanted or []:
            if vg.lv(name) is None:
                out.err(f'Failed to find logical volume "{vg.name}/{name}"', EXIT_FAILED)
        for lv in [lv for lv in list(vg.lvs) if wanted is None or lv.name in wanted]:
            if lv.active and not (p.flag("force") or p.flag("yes")):
                out.out(f"Do you really want to remove active logical volume "
                        f"{vg.name}/{lv.name}? [y/n]: [n]")
                out.err(f"Logical volume {lv.name} not removed.", EXIT_FAILED)
                continue
            if not p.flag("test"):
                self._set_active(vg, lv, False)
                vg.lvs.remove(lv)
                self.data_file(vg.name, lv.name).unlink(missing_ok=True)
            out.out(f'Logical volume "{lv.name}" successfully removed.')

    def _lvchange(self, p: Parsed) -> Outcome:
        mode = p.value("activate")
        if mode is None:
            raise UsageError(["No command with matching syntax recognised.  "
                              "Run 'lvchange --help' for more information."])
        if mode not in {"y", "n", "ey", "en", "ly", "ln", "sy", "sn"}:
            raise UsageError([f"Invalid argument for --activate: {mode}",
                              "Error during parsing of command line."])
        out = Outcome()
        for target in p.args:
            found = self._lv_target(target, out)
            if found is not None and not p.flag("test"):
                self._set_active(found[0], found[1], mode.endswith("y"))
        return out

    def _lvrename(self, p: Parsed) -> Outcome:
        """``lvrename VG OLD NEW`` (or ``VG/OLD VG/NEW``): the data and the device link
        follow the new name."""
        args = list(p.args)
        if len(args) == 2 and "/" in args[0]:
            vg_name, _, old = args[0].partition("/")
            new = args[1].rpartition("/")[2]
        elif len(args) == 3:
            vg_name, old, new = args
        else:
            raise UsageError(["Old and new logical volume names required",
                              "Run `lvrename --help' for more information."])
        out = Outcome()
        vg = self._vg(vg_name, out)
        if vg is None:
            return out
        lv = vg.lv(old)
        if lv is None:
            return out.err(f'Existing logical volume "{old}" not found in volume group'
                           f' "{vg_name}"', EXIT_FAILED)
        if vg.lv(new) is not None:
            return out.err(f'Logical Volume "{new}" already exists in volume group'
                           f' "{vg_name}"', EXIT_FAILED)
        if not p.flag("test"):
            active = lv.active
            self._set_active(vg, lv, False)
            self.data_file(vg.name, old).rename(self.data_file(vg.name, new))
            lv.name = new
            self._set_active(vg, lv, active)
        out.out(f'Renamed "{old}" to "{new}" in volume group "{vg_name}"')
        return out

    def _lvextend(self, p: Parsed) -> Outcome:
        if p.value("size") is None or len(p.args) != 1:
            raise UsageError(["No command with matching syntax recognised.  "
                              "Run 'lvextend --help' for more information."])
        sign, mib = parse_size("lvextend", p.value("size") or "")
        out = Outcome()
        if p.flag("test"):
            out.err(TEST_MODE)
        vg_name, _, lv_name = p.args[0].partition("/")
        vg = self._vg(vg_name, out)
        if vg is None:
            return out
        lv = vg.lv(lv_name)
        if lv is None:
            return out.err(f"Logical volume {lv_name} not found in volume group {vg_name}.",
                           EXIT_FAILED)
        return self._extend(vg, lv, sign == "+", mib, p.flag("test"), out)

    def _extend(self, vg: Vg, lv: Lv, relative: bool, mib: float, test: bool,
                out: Outcome) -> Outcome:
        delta = math.ceil(mib / vg.extent_mib) if relative else (
            math.ceil(mib / vg.extent_mib) - lv.extents)
        if delta <= 0:
            return out.err(f"New size given ({lv.extents + delta} extents) not larger than "
                           f"existing size ({lv.extents} extents)", EXIT_FAILED)
        if relative and delta * vg.extent_mib != mib:
            out.out("Rounding size to boundary between physical extents: "
                    f"{human_size(delta * vg.extent_mib)}.")
        segments = self.state.allocate(vg, delta, lv.segments[-1])
        if segments is None:
            return out.err(f"Insufficient free space: {delta} extents needed, but only "
                           f"{self.state.vg_free(vg)} available", EXIT_FAILED)
        old = lv.extents
        if not test:
            self._grow(vg, lv, segments)
        full = f"{vg.name}/{lv.name}"
        out.out(f"Size of logical volume {full} changed from {human_size(old * vg.extent_mib)}"
                f" ({old} extents) to {human_size((old + delta) * vg.extent_mib)}"
                f" ({old + delta} extents).")
        out.out(f"Logical volume {full} successfully resized.")
        return out

    def _grow(self, vg: Vg, lv: Lv, segments: list[Segment]) -> None:
        for segment in segments:
            lv.append(segment)
        os.truncate(self.data_file(vg.name, lv.name), lv.extents * vg.extent_mib * MIB)

    # --- reports -------------------------------------------------------------------
    def _lvs(self, p: Parsed) -> Outcome:
        out = Outcome()
        rows: list[dict[str, str]] = []
        for vg, lvs in self._lvs_targets(p.args, out):
            for lv in sorted(lvs, key=lambda item: item.name):
                rows.extend(self._lv_rows(vg, lv))
        return report(p, rows, ("lv_name", "vg_name", "lv_size", "lv_attr"), out)

    def _lvs_targets(self, targets: list[str], out: Outcome) -> list[tuple[Vg, list[Lv]]]:
        if not targets:
            return [(vg, vg.lvs) for _, vg in sorted(self.state.vgs.items())]
        found: list[tuple[Vg, list[Lv]]] = []
        for target in targets:
            if "/" in target:
                hit = self._lv_target(target, out)
                found += [(hit[0], [hit[1]])] if hit else []
            elif (vg := self._vg(target, out)) is not None:
                found.append((vg, vg.lvs))
        return sorted(found, key=lambda item: item[0].name)

    def _lv_rows(self, vg: Vg, lv: Lv) -> list[dict[str, str]]:
        common = {"lv_name": lv.name, "vg_name": vg.name,
                  "lv_size": report_size(lv.extents * vg.extent_mib),
                  "lv_attr": "-wi-a-----" if lv.active else "-wi-------",
                  "lv_path": f"/dev/{vg.name}/{lv.name}"}
        return [{**common, "devices": ",".join(f"{pv}({start})" for pv, start in seg.areas)}
                for seg in lv.segments]

    def _vgs(self, p: Parsed) -> Outcome:
        out = Outcome()
        names = p.args or sorted(self.state.vgs)
        found = [vg for name in names if (vg := self._vg(name, out)) is not None]
        rows = [self._vg_row(vg) for vg in sorted(found, key=lambda vg: vg.name)]
        return report(p, rows, ("vg_name", "pv_count", "lv_count", "vg_size", "vg_free"), out)

    def _vg_row(self, vg: Vg) -> dict[str, str]:
        size = self.state.vg_extents(vg) * vg.extent_mib
        return {"vg_name": vg.name, "vg_size": report_size(size),
                "vg_free": report_size(self.state.vg_free(vg) * vg.extent_mib),
                "vg_extent_size": report_size(vg.extent_mib), "pv_count": str(len(vg.pvs)),
                "lv_count": str(len(vg.lvs))}

    def _pvs(self, p: Parsed) -> Outcome:
        out = Outcome()
        rows = []
        for name in p.args or sorted(self.state.pvs):
            if name not in self.state.pvs:
                out.err(f'Failed to find physical volume "{name}".', EXIT_FAILED)
                continue
            rows.append(self._pv_row(name))
        return report(p, rows, ("pv_name", "vg_name", "pv_size", "pv_free"), out)

    def _pv_row(self, name: str) -> dict[str, str]:
        pv = self.state.pvs[name]
        vg = self.state.vgs[pv.vg] if pv.vg else None
        size = pv.extents * vg.extent_mib if vg else pv.size_mib
        free = self.state.pv_free(vg, name) * vg.extent_mib if vg else pv.size_mib
        return {"pv_name": name, "vg_name": pv.vg or "", "pv_size": report_size(size),
                "pv_free": report_size(free), "pv_attr": "a--" if vg else "---"}

    # --- lookups --------------------------------------------------------------------
    def _vg(self, name: str, out: Outcome) -> Vg | None:
        vg = self.state.vgs.get(name)
        if vg is None:
            out.err(f'Volume group "{name}" not found', EXIT_FAILED)
            out.err(f"Cannot process volume group {name}")
        return vg

    def _lv_target(self, target: str, out: Outcome) -> tuple[Vg, Lv] | None:
        vg_name, _, lv_name = target.partition("/")
        vg = self._vg(vg_name, out)
        if vg is None:
            return None
        lv = vg.lv(lv_name)
        if lv is None:
            out.err(f'Failed to find logical volume "{vg_name}/{lv_name}"', EXIT_FAILED)
            return None
        return vg, lv


def _free_lvol_name(vg: Vg) -> str:
    index = 0
    while vg.lv(f"lvol{index}") is not None:
        index += 1
    return f"lvol{index}"
