"""Output of Debian's LXC tools and of ``sfdisk --json``, parsed (pure functions)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")

MIN_VERSION = (3, 0)
"""The configuration keys Corral writes (``lxc.uts.name``, ``lxc.net.N``) need LXC 3.0."""


@dataclass(frozen=True, slots=True)
class ContainerState:
    """``lxc-info -s -p``: the state word (``RUNNING``, ``STOPPED``, ``FROZEN``, …) and
    the host pid of the container's init (None when it has none)."""

    state: str
    pid: int | None


def parse_info(text: str) -> ContainerState:
    """``lxc-info -n NAME -s -p`` output (``State:   RUNNING`` / ``PID:   1234``)."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip()
    pid = fields.get("pid", "")
    return ContainerState(state=fields.get("state", "UNKNOWN").upper(),
                          pid=int(pid) if pid.isdigit() else None)


def parse_ls(text: str) -> list[str]:
    """``lxc-ls -1`` output: one container name per line."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def parse_version(text: str) -> tuple[int, ...]:
    """``lxc-start --version`` (``5.0.2``) as a tuple.

    Raises:
        ValueError: no version number in ``text``.
    """
    match = _VERSION.search(text)
    if match is None:
        raise ValueError(f"no LXC version in {text.strip()!r}")
    return tuple(int(part) for part in match.groups() if part is not None)


@dataclass(frozen=True, slots=True)
class Partition:
    """Where the first partition of a disk lies, in bytes."""

    offset: int
    size: int


def first_partition(sfdisk_json: str) -> Partition | None:
    """The first partition from ``sfdisk --json DISK`` output (None: no partitions).

    Raises:
        ValueError: the text is not sfdisk's JSON.
    """
    try:
        table = json.loads(sfdisk_json)["partitiontable"]
        sector = int(table.get("sectorsize", 512))
        parts = sorted(table.get("partitions", []), key=lambda p: int(p["start"]))
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise ValueError(f"unexpected sfdisk output: {err}") from err
    if not parts:
        return None
    return Partition(offset=int(parts[0]["start"]) * sector, size=int(parts[0]["size"]) * sector)
