"""Command-line side of the DRBD simulator: drbdsetup/drbdmeta 8.4 syntax and outputs.

Option tables give each ``drbdsetup`` command its arguments and options (``True``:
takes a value; boolean options also take ``=yes``/``=no``). Renderers print
``/proc/drbd`` and ``drbdsetup show`` the way DRBD 8.4 prints them (samples in
tests/data/drbd/).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from corral.process import CommandResult
from corral.testing.drbd_model import (
    CONNECTED,
    DUNKNOWN,
    LINKED,
    PAUSED_SOURCE,
    PAUSED_TARGET,
    SYNCING,
    UNKNOWN_ROLE,
    DrbdState,
    Minor,
    disk_state,
    peer_of,
)

EXIT_FAILURE = 10
"""The kernel refused a configuration request (``Failure: (NNN) ...``)."""
EXIT_STATE = 11
"""A state change failed."""
EXIT_USAGE = 20
EXIT_NO_META = 255
VERSION = "version: 8.4.11 (api:1/proto:86-101)"
SRCVERSION = "srcversion: 2D876214BAAD53B31ADC1D6"

_DISK = {"--size": True, "--on-io-error": True, "--disk-barrier": False,
         "--disk-flushes": False, "--disk-drain": False, "--md-flushes": False,
         "--resync-rate": True, "--c-plan-ahead": True, "--c-fill-target": True,
         "--c-delay-target": True, "--c-max-rate": True, "--c-min-rate": True,
         "--al-extents": True, "--fencing": True}
_NET = {"--protocol": True, "--after-sb-0pri": True, "--after-sb-1pri": True,
        "--after-sb-2pri": True, "--allow-two-primaries": False, "--cram-hmac-alg": True,
        "--shared-secret": True, "--max-buffers": True, "--max-epoch-size": True,
        "--sndbuf-size": True, "--rcvbuf-size": True, "--ping-timeout": True,
        "--timeout": True, "--connect-int": True, "--ping-int": True, "--ko-count": True}
COMMANDS: dict[str, tuple[int, dict[str, bool]]] = {
    "new-resource": (1, {}),
    "new-minor": (3, {}),
    "attach": (4, _DISK),
    "disk-options": (1, _DISK),
    "connect": (3, _NET),
    "net-options": (2, _NET),
    "disconnect": (2, {"--force": False}),
    "primary": (1, {"--force": False, "--overwrite-data-of-peer": False}),
    "secondary": (1, {}),
    "detach": (1, {"--force": False}),
    "down": (1, {}),
    "resize": (1, {"--size": True, "--assume-peer-has-space": False}),
    "pause-sync": (1, {}),
    "resume-sync": (1, {}),
    "show": (-1, {}),
}
"""drbdsetup 8.4 command → (number of arguments, -1 for 0 or 1; options)."""


@dataclass
class Outcome:
    """What a simulated command prints and returns."""

    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    code: int = 0

    def out(self, *lines: str) -> Outcome:
        self.stdout.extend(lines)
        return self

    def fail(self, code: int, *lines: str) -> Outcome:
        self.stderr.extend(lines)
        self.code = code
        return self

    def result(self, argv: Sequence[str]) -> CommandResult:
        return CommandResult(tuple(argv), self.code, _text(self.stdout), _text(self.stderr))


def _text(lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


class UsageError(Exception):
    """A command line drbdsetup/drbdmeta rejects before doing anything."""


@dataclass
class Parsed:
    command: str
    args: list[str]
    opts: dict[str, str]


def parse_drbdsetup(argv: Sequence[str]) -> Parsed:
    """``drbdsetup CMD ARGS [OPTIONS]`` (8.4 syntax).

    Raises:
        UsageError: unknown command or option, wrong number of arguments.
    """
    if not argv:
        raise UsageError("USAGE: drbdsetup command {arguments} [options]")
    command, rest = argv[0], list(argv[1:])
    if command not in COMMANDS:
        raise UsageError(f"drbdsetup: unknown command '{command}'")
    count, table = COMMANDS[command]
    args: list[str] = []
    opts: dict[str, str] = {}
    while rest:
        item = rest.pop(0)
        if not item.startswith("--"):
            args.append(item)
            continue
        name, eq, value = item.partition("=")
        if name not in table:
            raise UsageError(f"drbdsetup {command}: unrecognized option '{item}'")
        if table[name] and not eq:
            if not rest:
                raise UsageError(f"drbdsetup {command}: option '{name}' requires an argument")
            value = rest.pop(0)
        opts[name[2:]] = value if (eq or table[name]) else "yes"
    if (count >= 0 and len(args) != count) or (count < 0 and len(args) > 1):
        raise UsageError(f"USAGE: drbdsetup {command}: wrong number of arguments "
                         f"({len(args)}) in '{' '.join(argv)}'")
    return Parsed(command, args, opts)


def minor_number(text: str) -> int:
    """A minor given as ``N`` or ``/dev/drbdN``.

    Raises:
        UsageError: neither.
    """
    digits = text.removeprefix("/dev/drbd")
    if not digits.isdigit():
        raise UsageError(f"'{text}' is not a minor number")
    return int(digits)


def size_kib(text: str) -> int:
    """drbdsetup sizes: a number with an optional unit (default sectors), in KiB.

    Raises:
        UsageError: malformed.
    """
    units = {"s": 0.5, "k": 1, "K": 1, "m": 1024, "M": 1024, "g": 1024**2, "G": 1024**2}
    unit = text[-1:] if text[-1:] in units else "s"
    number = text[:-1] if text[-1:] in units else text
    if not number.isdigit():
        raise UsageError(f"'{text}' is not a size")
    return int(int(number) * units[unit])


def address(text: str) -> str:
    """``[ipv4:]host:port`` as ``host:port``.

    Raises:
        UsageError: malformed.
    """
    parts = text.split(":")
    if parts[0] in {"ipv4", "ipv6"}:
        parts = parts[1:]
    if len(parts) != 2 or not parts[1].isdigit():
        raise UsageError(f"'{text}' is not an address of the form [af:]addr:port")
    return f"{parts[0]}:{parts[1]}"


# --- /proc/drbd ---------------------------------------------------------------------------
def render_proc(state: DrbdState, node: str) -> str:
    """This node's ``/proc/drbd`` (DRBD 8.4)."""
    lines = [VERSION, SRCVERSION]
    for number, minor in sorted(state.minors(node).items()):
        lines.extend(_proc_minor(state, node, number, minor))
    return _text(lines)


def _proc_minor(state: DrbdState, node: str, number: int, minor: Minor) -> list[str]:
    found = peer_of(state, node, minor) if minor.conn in LINKED else None
    peer_role = found[1].role if found else UNKNOWN_ROLE
    peer_disk = disk_state(state, found[1]) if found else DUNKNOWN
    proto = minor.net.get("protocol", "C") if minor.local else " "
    flags = "r" + "-" + ("p" if found and found[1].user_paused else "-") + (
        "u" if minor.user_paused else "-") + "--"
    c = minor.counters
    lines = [f"{number:2d}: cs:{minor.conn} ro:{minor.role}/{peer_role} "
             f"ds:{disk_state(state, minor)}/{peer_disk} {proto} {flags}",
             f"    ns:{c.get('ns', 0)} nr:{c.get('nr', 0)} dw:{c.get('dw', 0)} "
             f"dr:{c.get('dr', 0)} al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f "
             f"oos:{_out_of_sync(minor)}"]
    if minor.sync is not None and minor.conn in SYNCING:
        lines.extend(_resync_lines(minor))
    return lines


def _out_of_sync(minor: Minor) -> int:
    if minor.sync is None:
        return 0
    return int(minor.sync.total_kib - minor.sync.done_kib)


def _resync_lines(minor: Minor) -> list[str]:
    sync = minor.sync
    assert sync is not None
    left = int(sync.total_kib - sync.done_kib)
    permille = int(1000 * sync.done_kib / sync.total_kib) if sync.total_kib else 1000
    bar = min(19, permille * 20 // 1000)
    unit, scale = ("M", 1024) if sync.total_kib > 4096 else ("K", 1)
    paused = minor.conn in {PAUSED_SOURCE, PAUSED_TARGET}
    rate = 0 if paused else sync.rate_kib
    seconds = left // rate if rate else 0
    hours, rem = divmod(seconds, 3600)
    return [f"\t[{'=' * bar}>{'.' * (19 - bar)}] sync'ed:{permille // 10:3d}.{permille % 10}% "
            f"({left // scale}/{sync.total_kib // scale}){unit}",
            f"\tfinish: {hours}:{rem // 60:02d}:{rem % 60:02d} speed: {rate:,} "
            f"({rate:,}) K/sec"]


# --- drbdsetup show -------------------------------------------------------------------------
def render_show(state: DrbdState, node: str, resource: str) -> str:
    """``drbdsetup show`` of one resource (8.4: only settings that differ from defaults)."""
    minors = [m for m in state.minors(node).values() if m.resource == resource]
    first = minors[0] if minors else None
    lines = [f"resource {resource} {{", "    options {", "    }"]
    if first is not None and first.local:
        lines += ["    net {", *_settings(first.net, 8), "    }",
                  "    _remote_host {", f"        address\t\t\tipv4 {first.remote};", "    }",
                  "    _this_host {", f"        address\t\t\tipv4 {first.local};"]
    else:
        lines += ["    _this_host {"]
    for minor in minors:
        lines += _show_volume(minor)
    lines += ["    }", "}"]
    return _text(lines)


def _show_volume(minor: Minor) -> list[str]:
    lines = ["        volume 0 {", f"            device\t\t\tminor {minor.minor};"]
    if minor.attached:
        lines += [f'            disk\t\t\t"{minor.disk}";',
                  f'            meta-disk\t\t\t"{minor.meta}";',
                  "            disk {", f"                size            \t{minor.size_kib * 2}s;"
                  " # bytes", *_settings(minor.disk_opts, 16), "            }"]
    return [*lines, "        }"]


_QUOTED = frozenset({"shared-secret", "cram-hmac-alg"})
_SHOW_UNITS = {"resync-rate": "k", "c-max-rate": "k", "c-min-rate": "k", "c-fill-target": "s"}
_HIDDEN = frozenset({"size", "protocol"})


def _settings(values: dict[str, str], indent: int) -> list[str]:
    pad = " " * indent
    lines = []
    for key, value in sorted(values.items()):
        if key in _HIDDEN and not (key == "protocol" and value != "C"):
            continue
        shown = f'"{value}"' if key in _QUOTED else f"{value}{_SHOW_UNITS.get(key, '')}"
        lines.append(f"{pad}{key:<16}\t{shown};")
    return lines


def connected(minor: Minor) -> bool:
    return minor.conn == CONNECTED or minor.conn in SYNCING
