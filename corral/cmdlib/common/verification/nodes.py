"""Judging ``node_verify`` answers (see ``corral.backend.verify`` for their shape).

Pure functions: one node's answer → findings, and the file checksums of all
nodes → findings about files that differ or are missing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import corral
from corral.clock import merge_time
from corral.cmdlib.common.verification.report import (
    ECLUSTERFILECHECK,
    ENODEHV,
    ENODENET,
    ENODERPC,
    ENODESETUP,
    ENODETIME,
    ENODEVERSION,
    Finding,
    error,
    warning,
)
from corral.objects.node import Node
from corral.rpc.payloads import NodeVerifyResult
from corral.rpc.results import NodeResult
from corral.version import PROTOCOL_VERSION

MAX_CLOCK_SKEW = 150.0
"""Seconds a node's clock may differ from the master's (Ganeti's NODE_MAX_CLOCK_SKEW)."""


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Master clock readings just before and just after the verify RPC."""

    start: float
    end: float


def _version_findings(name: str, payload: NodeVerifyResult) -> tuple[list[Finding], bool]:
    remote = payload.version
    if remote is None:
        return [error(ENODERPC, name, "connection to node returned invalid data")], False
    if remote[0] != PROTOCOL_VERSION:
        return [error(ENODEVERSION, name, "incompatible protocol versions: master"
                      f" {PROTOCOL_VERSION}, node {remote[0]}")], False
    if remote[1] != corral.__version__:
        return [warning(ENODEVERSION, name, "software version mismatch: master"
                        f" {corral.__version__}, node {remote[1]}")], True
    return [], True


def _time_findings(name: str, payload: NodeVerifyResult, window: TimeWindow) -> list[Finding]:
    node_time = merge_time(payload.time)
    if node_time is None:
        return [error(ENODETIME, name, "Node returned invalid time")]
    if node_time < window.start - MAX_CLOCK_SKEW:
        skew = window.start - node_time
    elif node_time > window.end + MAX_CLOCK_SKEW:
        skew = node_time - window.end
    else:
        return []
    return [error(ENODETIME, name,
                  f"Node time diverges by at least {skew:.1f}s from master node time")]


def _hv_findings(node: Node, payload: NodeVerifyResult) -> list[Finding]:
    results = payload.hypervisor
    if not node.vm_capable or results is None:
        return []
    return [error(ENODEHV, node.name, f"hypervisor {hv} verify failure: '{problem}'")
            for hv, problem in sorted(results.items()) if problem is not None]


def _setup_findings(name: str, payload: NodeVerifyResult) -> list[Finding]:
    problems = payload.node_setup
    if problems is None:
        problems = ["Missing NODESETUP results"]
    if not problems:
        return []
    return [error(ENODESETUP, name, f"node setup error: {'; '.join(problems)}")]


def _net_findings(name: str, payload: NodeVerifyResult) -> list[Finding]:
    failures = payload.nodelist
    if failures is None:
        return [error(ENODENET, name, "node hasn't returned node tcp connectivity data")]
    return [error(ENODENET, name, f"tcp communication with node '{other}': {problem}")
            for other, problem in sorted(failures.items())]


def node_findings(
    node: Node, result: NodeResult[NodeVerifyResult], window: TimeWindow
) -> list[Finding]:
    """Everything wrong with one online node's ``node_verify`` answer."""
    if not result.ok:
        return [error(ENODERPC, node.name, f"while contacting node: {result.fail_msg}")]
    payload = result.payload
    if payload is None or payload == NodeVerifyResult():
        return [error(ENODERPC, node.name, "unable to verify node: no data returned")]
    found, usable = _version_findings(node.name, payload)
    if not usable:
        return found
    found += _hv_findings(node, payload)
    found += _setup_findings(node.name, payload)
    found += _time_findings(node.name, payload, window)
    found += _net_findings(node.name, payload)
    return found


def _describe_variants(by_checksum: Mapping[str, list[str]]) -> str:
    variants = [f"variant {index} on {', '.join(sorted(nodes))}"
                for index, (_, nodes) in enumerate(sorted(by_checksum.items()), start=1)]
    return "; ".join(variants)


def file_findings(
    files: Mapping[str, bool], checksums: Mapping[str, Mapping[str, Any]]
) -> list[Finding]:
    """Compare file checksums across nodes.

    ``files`` maps each file (relative to the node root) to whether it is
    optional; ``checksums`` maps node name → {file: sha1 or None}, for the nodes
    that answered.
    """
    found = []
    for name, optional in sorted(files.items()):
        shown = f"/{name}"
        by_checksum: dict[str, list[str]] = defaultdict(list)
        missing = []
        for node, sums in sorted(checksums.items()):
            digest = sums.get(name) if isinstance(sums, Mapping) else None
            if digest is None:
                missing.append(node)
            else:
                by_checksum[str(digest)].append(node)
        if missing and (not optional or by_checksum):
            found.append(error(ECLUSTERFILECHECK, None, _missing_message(shown, optional, missing)))
        if len(by_checksum) > 1:
            found.append(error(ECLUSTERFILECHECK, None, f"File {shown} found with"
                               f" {len(by_checksum)} different checksums"
                               f" ({_describe_variants(by_checksum)})"))
    return found


def _missing_message(shown: str, optional: bool, missing: list[str]) -> str:
    nodes = ", ".join(missing)
    if optional:
        return (f"File {shown} is optional, but it must exist on all or no nodes"
                f" (not found on {nodes})")
    return f"File {shown} is missing from node(s) {nodes}"
