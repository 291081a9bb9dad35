"""Parsers of DRBD 8.4's ``/proc/drbd`` and ``drbdsetup show`` (formats in tests/data/drbd/)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from corral.errors import BlockDeviceError

_VERSION_RE = re.compile(r"^version: (\d+)\.(\d+)\.(\d+)\S* \(api:(\d+)/proto:(\d+)(?:-(\d+))?\)")
_MINOR_RE = re.compile(r"^ *(\d+): cs:(\S+)")
_UNCONFIGURED_RE = re.compile(r"^\s*\d+:\s*cs:Unconfigured$")
_STATUS_RE = re.compile(r"^\s*\d+:\s*cs:(\S+)\s+(?:st|ro):([^/]+)/(\S+)\s+ds:([^/]+)/(\S+)")
_SYNC_RE = re.compile(r"\ssync'ed:\s*([0-9.]+)%.*(?:\s|M)finish: (\d+):(\d+):(\d+)\s")

SYNC_STATES = frozenset({"WFReportParams", "StartingSyncS", "StartingSyncT", "WFBitMapS",
                         "WFBitMapT", "WFSyncUUID", "SyncSource", "SyncTarget", "PausedSyncS",
                         "PausedSyncT"})


@dataclass(frozen=True, slots=True)
class MinorStatus:
    """One minor's line of ``/proc/drbd`` (continuation lines joined)."""

    cstatus: str
    lrole: str | None = None
    rrole: str | None = None
    ldisk: str | None = None
    rdisk: str | None = None
    sync_percent: float | None = None
    est_time: int | None = None

    @property
    def is_standalone(self) -> bool:
        return self.cstatus == "StandAlone"

    @property
    def is_connected(self) -> bool:
        return self.cstatus == "Connected"

    @property
    def is_in_resync(self) -> bool:
        return self.cstatus in SYNC_STATES

    @property
    def is_in_use(self) -> bool:
        return self.cstatus != "Unconfigured"

    @property
    def is_primary(self) -> bool:
        return self.lrole == "Primary"

    @property
    def is_diskless(self) -> bool:
        return self.ldisk == "Diskless"

    @property
    def is_disk_uptodate(self) -> bool:
        return self.ldisk == "UpToDate"

    @property
    def peer_disk_uptodate(self) -> bool:
        return self.rdisk == "UpToDate"


@dataclass(frozen=True, slots=True)
class ProcInfo:
    """``/proc/drbd``: the module's version and each configured minor's status."""

    version: tuple[int, int, int]
    minors: dict[int, MinorStatus] = field(default_factory=dict)


def parse_proc(text: str) -> ProcInfo:
    """Parse ``/proc/drbd``.

    Raises:
        BlockDeviceError: no version line, or a minor's line does not parse.
    """
    lines = text.splitlines()
    match = _VERSION_RE.match(lines[0].strip()) if lines else None
    if match is None:
        raise BlockDeviceError(f"Can't parse DRBD version from {lines[:1]!r}")
    joined: dict[int, str] = {}
    current: int | None = None
    for line in lines[1:]:
        if not line.strip():
            continue
        found = _MINOR_RE.match(line)
        if found is not None:
            current = int(found.group(1))
            joined[current] = line
        elif current is not None:
            joined[current] += " " + line.strip()
    version = (int(match.group(1)), int(match.group(2)), int(match.group(3)))
    return ProcInfo(version, {minor: _status(line) for minor, line in joined.items()})


def _status(line: str) -> MinorStatus:
    if _UNCONFIGURED_RE.match(line):
        return MinorStatus("Unconfigured")
    match = _STATUS_RE.match(line)
    if match is None:
        raise BlockDeviceError(f"Can't parse DRBD status line {line!r}")
    cstatus = match.group(1)
    sync = _SYNC_RE.search(line + " ")
    if sync is not None:
        hours, minutes, seconds = (int(sync.group(i)) for i in (2, 3, 4))
        percent: float | None = float(sync.group(1))
        est: int | None = hours * 3600 + minutes * 60 + seconds
    else:
        percent = 0.0 if cstatus in SYNC_STATES else None
        est = None
    lrole, rrole, ldisk, rdisk = (str(match.group(i)) for i in (2, 3, 4, 5))
    return MinorStatus(cstatus, lrole, rrole, ldisk, rdisk, sync_percent=percent, est_time=est)


@dataclass(frozen=True, slots=True)
class ShowInfo:
    """What ``drbdsetup show <minor>`` says of a minor's configuration."""

    local_dev: str | None = None
    meta_dev: str | None = None
    local_addr: tuple[str, int] | None = None
    remote_addr: tuple[str, int] | None = None
    options: dict[str, str] = field(default_factory=dict)


_ADDRESS_RE = re.compile(r"^\s*address\s+(?:ipv4\s+)?([0-9.]+):(\d+);")
_DISK_RE = re.compile(r'^\s*disk\s+"([^"]+)";')
_META_RE = re.compile(r'^\s*meta-disk\s+"([^"]+)"')
_OPTION_RE = re.compile(r'^\s*([a-z0-9-]+)\s+"?([^";]*)"?;')


def parse_show(text: str) -> ShowInfo:
    """Parse ``drbdsetup show`` (8.4) of one resource; empty text gives an empty result."""
    section: list[str] = []
    found: dict[str, object] = {"options": {}}
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.endswith("{"):
            section.append(stripped.split()[0])
            continue
        if stripped == "}":
            section = section[:-1]
            continue
        _show_line(line, section, found)
    return ShowInfo(**found)  # type: ignore[arg-type]


def _show_line(line: str, section: list[str], found: dict[str, object]) -> None:
    where = section[-1] if section else ""
    address = _ADDRESS_RE.match(line)
    if address is not None:
        key = "local_addr" if where == "_this_host" else "remote_addr"
        found[key] = (address.group(1), int(address.group(2)))
    elif (disk := _DISK_RE.match(line)) is not None:
        found["local_dev"] = disk.group(1)
    elif (meta := _META_RE.match(line)) is not None:
        found["meta_dev"] = meta.group(1)
    elif where in {"net", "disk"} and (option := _OPTION_RE.match(line)) is not None:
        options = found["options"]
        assert isinstance(options, dict)
        options[option.group(1)] = option.group(2).strip()
