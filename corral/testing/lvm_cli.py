"""Command-line side of the LVM simulator: lvm2's option parsing, sizes and reports.

Messages are collected in an ``Outcome`` and printed as lvm2 prints them: each
line indented by two spaces, except getopt's own complaints.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from corral.process import CommandResult

MIB = 1024 * 1024
EXIT_CMDLINE = 3
EXIT_FAILED = 5
TEST_MODE = "TEST MODE: Metadata will NOT be updated and volumes will not be (de)activated."

_COMMON = {"--config": ("config", True), "--test": ("test", False), "-t": ("test", False),
           "-y": ("yes", False), "--yes": ("yes", False), "-v": ("verbose", False),
           "-q": ("quiet", False)}
_SIZE = {"-L": ("size", True), "--size": ("size", True)}
_ACTIVATE = {"-a": ("activate", True), "--activate": ("activate", True)}
_REPORT = {**_COMMON, "--noheadings": ("noheadings", False), "--units": ("units", True),
           "--nosuffix": ("nosuffix", False), "--separator": ("separator", True),
           "-o": ("options", True), "--options": ("options", True)}
OPTIONS: dict[str, dict[str, tuple[str, bool]]] = {
    "lvcreate": {**_COMMON, **_SIZE, **_ACTIVATE, "-n": ("name", True), "--name": ("name", True),
                 "-i": ("stripes", True), "--stripes": ("stripes", True),
                 "-I": ("stripesize", True), "--stripesize": ("stripesize", True),
                 "-Z": ("zero", True), "--zero": ("zero", True),
                 "-W": ("wipesignatures", True), "--wipesignatures": ("wipesignatures", True)},
    "lvremove": {**_COMMON, "-f": ("force", False), "--force": ("force", False)},
    "lvchange": {**_COMMON, **_ACTIVATE},
    "lvextend": {**_COMMON, **_SIZE},
    "lvrename": dict(_COMMON),
    **dict.fromkeys(("lvs", "vgs", "pvs"), _REPORT),
}

_SIZE_RE = re.compile(r"(?P<sign>[+-]?)(?P<num>\d+(?:\.\d+)?)(?P<unit>[bBsSkKmMgGtTpPeE]?)")
_UNIT_MIB = {"b": 1 / MIB, "s": 512 / MIB, "k": 1 / 1024, "m": 1.0, "g": 1024.0,
             "t": 1024.0**2, "p": 1024.0**3, "e": 1024.0**4}
_NAME_RE = re.compile(r"[a-zA-Z0-9+_.][a-zA-Z0-9+_.-]*")
_HEADINGS = {"lv_name": "LV", "vg_name": "VG", "lv_size": "LSize", "lv_attr": "Attr",
             "devices": "Devices", "vg_size": "VSize", "vg_free": "VFree", "pv_name": "PV",
             "pv_size": "PSize", "pv_free": "PFree", "pv_attr": "Attr", "lv_path": "Path",
             "vg_extent_size": "Ext", "pv_count": "#PV", "lv_count": "#LV"}


@dataclass
class Outcome:
    """What a simulated command prints and returns."""

    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    code: int = 0

    def out(self, message: str) -> None:
        self.stdout.append(message)

    def err(self, message: str, code: int | None = None) -> Outcome:
        self.stderr.append(message)
        if code is not None:
            self.code = max(self.code, code)
        return self

    def result(self, argv: Sequence[str]) -> CommandResult:
        return CommandResult(tuple(argv), self.code, lines(self.stdout), lines(self.stderr))


class UsageError(Exception):
    """A command-line error, printed the way getopt and lvm2 print it."""

    def __init__(self, lines: Sequence[str]) -> None:
        super().__init__(lines[0] if lines else "usage error")
        self.lines = list(lines)


@dataclass
class Parsed:
    opts: dict[str, str | bool]
    args: list[str]

    def flag(self, name: str) -> bool:
        return bool(self.opts.get(name, False))

    def value(self, name: str) -> str | None:
        found = self.opts.get(name)
        return found if isinstance(found, str) else None


def parse_options(tool: str, args: Sequence[str]) -> Parsed:
    """getopt-style parsing of one tool's options.

    Raises:
        UsageError: unknown option or missing value, in getopt's words.
    """
    table = OPTIONS[tool]
    opts: dict[str, str | bool] = {}
    rest: list[str] = []
    queue = list(args)
    while queue:
        arg = queue.pop(0)
        if arg.startswith("--") and len(arg) > 2:
            _long_option(tool, table, arg, queue, opts)
        elif arg.startswith("-") and len(arg) > 1:
            _short_option(tool, table, arg, queue, opts)
        else:
            rest.append(arg)
    return Parsed(opts, rest)


def _long_option(tool: str, table: dict[str, tuple[str, bool]], arg: str, queue: list[str],
                 opts: dict[str, str | bool]) -> None:
    name, eq, value = arg.partition("=")
    if name not in table:
        raise UsageError([f"{tool}: unrecognized option '{arg}'",
                          "  Error during parsing of command line."])
    key, takes = table[name]
    if takes and not eq:
        if not queue:
            raise UsageError([f"{tool}: option '{name}' requires an argument",
                              "  Error during parsing of command line."])
        value = queue.pop(0)
    opts[key] = value if takes else True


def _short_option(tool: str, table: dict[str, tuple[str, bool]], arg: str, queue: list[str],
                  opts: dict[str, str | bool]) -> None:
    for pos in range(1, len(arg)):
        name = f"-{arg[pos]}"
        if name not in table:
            raise UsageError([f"{tool}: invalid option -- '{arg[pos]}'",
                              "  Error during parsing of command line."])
        key, takes = table[name]
        if not takes:
            opts[key] = True
            continue
        value = arg[pos + 1:] or (queue.pop(0) if queue else None)
        if value is None:
            raise UsageError([f"{tool}: option requires an argument -- '{arg[pos]}'",
                              "  Error during parsing of command line."])
        opts[key] = value
        return


def parse_size(tool: str, text: str) -> tuple[str, float]:
    """``-L`` values: an optional sign, a number and a binary unit (default MiB).

    Raises:
        UsageError: malformed or zero.
    """
    match = _SIZE_RE.fullmatch(text)
    if match is None:
        raise UsageError([f"Invalid argument for --size: {text}",
                          "Error during parsing of command line."])
    mib = float(match["num"]) * _UNIT_MIB[(match["unit"] or "m").lower()]
    if mib == 0:
        raise UsageError(["--size may not be zero.",
                          f"Run `{tool} --help' for more information."])
    return match["sign"], mib


def int_option(p: Parsed, name: str, default: int) -> int:
    value = p.value(name)
    if value is None:
        return default
    if not value.isdigit():
        raise UsageError([f"Invalid argument for --{name}: {value}",
                          "Error during parsing of command line."])
    return int(value)


def report(p: Parsed, rows: list[dict[str, str]], default: Sequence[str], out: Outcome) -> Outcome:
    fields = (p.value("options") or ",".join(default)).split(",")
    unknown = [name for name in fields if name not in _HEADINGS]
    if unknown:
        return out.err(f"Unrecognised field: {unknown[0]}", EXIT_FAILED)
    separator = p.value("separator")
    if separator is None or (p.value("units") or "m") != "m":
        raise UsageError(["lvm simulator: only --separator reports in --units=m are simulated"])
    if not p.flag("noheadings"):
        out.out(separator.join(_HEADINGS[name] for name in fields))
    suffix = "" if p.flag("nosuffix") else "m"
    for row in rows:
        cells = [row[name] + (suffix if name.endswith(("_size", "_free")) and row[name] != "0"
                              else "") for name in fields]
        out.out(separator.join(cells))
    return out


def lines(messages: Sequence[str]) -> str:
    """lvm2 indents its messages by two spaces; getopt's own errors are not indented."""
    return "".join(m if m.startswith(("lvcreate:", "lvremove:", "lvchange:", "lvextend:",
                                      "lvs:", "vgs:", "pvs:")) or m.startswith("  ")
                   else f"  {m}" for m in ((m + "\n") for m in messages))


def create_target(p: Parsed) -> tuple[str, str | None]:
    if len(p.args) != 1:
        raise UsageError(["Please provide a volume group name",
                          "Run `lvcreate --help' for more information."])
    vg, _, lv_from_arg = p.args[0].partition("/")
    name = p.value("name") or lv_from_arg or None
    if name and "/" in name:
        named_vg, _, name = name.partition("/")
        if named_vg != vg:
            raise UsageError([f'Inconsistent volume group names given: "{named_vg}" and "{vg}"',
                              "Run `lvcreate --help' for more information."])
    if name is not None and (not _NAME_RE.fullmatch(name) or name in {".", ".."}):
        raise UsageError([f'Logical volume name "{name}" is invalid.',
                          "Run `lvcreate --help' for more information."])
    return vg, name


def group_targets(targets: Sequence[str]) -> dict[str, list[str] | None]:
    """VG → LV names asked for (``None``: the whole VG), in first-seen VG order."""
    grouped: dict[str, list[str] | None] = {}
    for target in targets:
        vg, _, lv = target.partition("/")
        if not lv:
            grouped[vg] = None
        elif grouped.get(vg, []) is not None:
            grouped.setdefault(vg, []).append(lv)  # type: ignore[union-attr]
    return grouped
