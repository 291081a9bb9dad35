"""OS definitions on the master: ``gnt-os diagnose``/``list`` (OpOsDiagnose) and the OS
validation instance units share (Ganeti's CheckOSParams).

Locks: none beyond the shared cluster lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from corral.cmdlib.base import LogicalUnit, implements
from corral.errors import ErrorCode, OpPrereqError
from corral.locking.plan import LockPlan
from corral.objects.cluster import Cluster
from corral.objects.node import Node
from corral.opcodes.os import OpOsDiagnose
from corral.rpc.payloads import OsDiagnosis

VALIDATE_PARAMETERS = "parameters"
"""The os_validate check of OS parameters (Ganeti's OS_VALIDATE_PARAMETERS)."""


async def validate_os(
    lu: LogicalUnit[Any], nodes: Sequence[Node], os_name: str, osparams: dict[str, Any],
    force_variant: bool,
) -> None:
    """The OS exists and accepts ``osparams`` on every online node of ``nodes``.

    Raises:
        OpPrereqError: (INVAL) unknown OS, or variant/parameters refused; names the node.
    """
    online = [n for n in nodes if not n.offline]
    results = await lu.ctx.rpc.os_validate(
        online, True, os_name, [VALIDATE_PARAMETERS], osparams, force_variant
    )
    for name in sorted(results):
        result = results[name]
        if result.ok:
            continue
        message = str(result.fail_msg)
        if "not found" in message:
            raise OpPrereqError(f"OS '{os_name}' not in supported OS list for node {name}:"
                                f" {message}", ErrorCode.INVAL)
        raise OpPrereqError(f"OS Parameters validation failed on node {name}: {message}",
                            ErrorCode.INVAL)


# --- diagnose ---------------------------------------------------------------------------

NodeEntry = tuple[str, bool, str, list[str], list[list[str]], list[int], bool]
"""(path, valid, diagnose message, variants, parameters, API versions, trusted) on one node:
Ganeti 3.0's seven-element per-node entry, which its ``gnt-os diagnose`` unpacks."""


@dataclass
class OsSummary:
    """One OS across the nodes that answered."""

    name: str
    node_status: dict[str, list[NodeEntry]] = field(default_factory=dict)
    trusted: bool = True

    def entries(self) -> list[list[NodeEntry]]:
        return list(self.node_status.values())

    @property
    def valid(self) -> bool:
        return all(entries and entries[0][1] for entries in self.entries())

    def common(self, index: int) -> list[Any]:
        """Values present on every node (variants, parameters or API versions)."""
        if not self.valid:
            return []
        sets = [{_hashable(v) for v in cast(list[Any], entries[0][index])}
                for entries in self.entries()]
        found = set.intersection(*sets) if sets else set()
        return sorted((_plain(v) for v in found), key=repr)


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def summarize(answers: dict[str, list[OsDiagnosis]]) -> dict[str, OsSummary]:
    """Per OS name, what each answering node reported (nodes lacking it: no entries)."""
    summaries: dict[str, OsSummary] = {}
    for node in sorted(answers):
        for os_def in answers[node]:
            if os_def.name not in summaries:
                summaries[os_def.name] = OsSummary(os_def.name, {n: [] for n in sorted(answers)})
            summary = summaries[os_def.name]
            summary.node_status[node].append(_entry(os_def))
            if not os_def.trusted:
                summary.trusted = False
    return summaries


def _entry(os_def: OsDiagnosis) -> NodeEntry:
    return (os_def.path, os_def.valid, os_def.error or "", list(os_def.variants),
            [list(p) for p in os_def.parameters], list(os_def.api_versions), os_def.trusted)


def os_row(summary: OsSummary, cluster: Cluster, fields: list[str]) -> list[Any]:
    name = summary.name
    values: dict[str, Any] = {
        "name": name,
        "valid": summary.valid,
        "variants": summary.common(3),
        "parameters": summary.common(4),
        "api_versions": summary.common(5),
        "node_status": {node: [list(e) for e in entries]
                        for node, entries in summary.node_status.items()},
        "hidden": name in cluster.hidden_os,
        "blacklisted": name in cluster.blacklisted_os,
        "os_hvp": cluster.os_hvp.get(name, {}),
        "osparams": cluster.osparams.get(name, {}),
        "trusted": summary.trusted,
    }
    return [values[f] for f in fields]


def visible(summary: OsSummary, cluster: Cluster, fields: list[str]) -> bool:
    """Ganeti's legacy filter: hide hidden, blacklisted and invalid OSes unless asked for."""
    if "hidden" not in fields and summary.name in cluster.hidden_os:
        return False
    if "blacklisted" not in fields and summary.name in cluster.blacklisted_os:
        return False
    return "valid" in fields or summary.valid


@implements(OpOsDiagnose)
class LUOsDiagnose(LogicalUnit[OpOsDiagnose]):
    """The OS definitions of all online vm_capable nodes, one row per OS (by name)."""

    REQ_BGL = False

    def declare_locks(self) -> LockPlan:
        return LockPlan.of()

    async def exec(self) -> Any:
        nodes = sorted((n for n in self.cfg.nodes.values() if not n.offline and n.vm_capable),
                       key=lambda n: n.name)
        results = await self.ctx.rpc.os_diagnose(nodes)
        answers = {name: r.payload for name, r in results.items() if r.payload is not None}
        summaries = summarize(answers)
        wanted = set(self.op.names)
        cluster, fields = self.cfg.cluster, self.op.output_fields
        return [os_row(s, cluster, fields) for name, s in sorted(summaries.items())
                if (not wanted or name in wanted) and visible(s, cluster, fields)]
