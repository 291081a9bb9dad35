"""Master candidates that could not take over: a configuration replica behind the
master's, or candidate files (the CA key, the RAPI certificate) missing or different.

Pure functions over what the nodes answered; messages as Ganeti's cluster verify.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from corral.cmdlib.common.verification.nodes import file_findings
from corral.cmdlib.common.verification.report import (
    ECLUSTERFILECHECK,
    ENODEREPL,
    Finding,
    error,
)


def candidate_file_findings(
    files: Collection[str],
    checksums: Mapping[str, Mapping[str, Any]],
    master: str,
    candidates: Collection[str],
) -> list[Finding]:
    """Compare the candidate files across the nodes that answered.

    ``files`` are names relative to the node root; ``checksums`` maps node name →
    {file: sha1 or None}. A file the master holds must be on every candidate with
    the master's checksum; a file the master lacks must be on none; no other node
    may hold one.
    """
    holders = {master, *candidates}
    master_sums = checksums.get(master, {})
    optional = {name: master_sums.get(name) is None for name in files}
    found = file_findings(optional, {n: s for n, s in checksums.items() if n in holders})
    for name in sorted(files):
        unexpected = sorted(node for node, sums in checksums.items()
                            if node not in holders and sums.get(name) is not None)
        if unexpected:
            found.append(error(ECLUSTERFILECHECK, None, f"File /{name} should not exist on"
                               f" node(s) {', '.join(unexpected)}"))
    return found


def serial_findings(master_serial: int, serials: Mapping[str, int | None]) -> list[Finding]:
    """One ENODEREPL error per candidate whose configuration replica is behind
    ``master_serial``, or that did not tell its serial (None)."""
    found = []
    for name, serial in sorted(serials.items()):
        if serial is None:
            found.append(error(ENODEREPL, name, f"candidate {name} did not report its"
                               " configuration serial"))
        elif serial < master_serial:
            found.append(error(ENODEREPL, name, f"candidate {name} is behind: configuration"
                               f" serial {serial} of {master_serial}"))
    return found
