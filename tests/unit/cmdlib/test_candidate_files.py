"""Candidates hold the CA key and the RAPI certificate: pushed on promotion and by
redist-conf (secrets as 0600); cluster verify reports a candidate that is behind."""

from __future__ import annotations

import base64
from typing import Any

from corral.cmdlib.common.verification.candidates import candidate_file_findings, serial_findings
from corral.cmdlib.common.verification.report import format_finding
from corral.opcodes.cluster import OpClusterRedistConf, OpClusterVerifyGroup
from corral.opcodes.node import OpNodeSetParams
from corral.serde import atomic_write
from tests.support.config import standard_cluster
from tests.support.fake_rpc import verify_answer
from tests.support.lu_harness import LuHarness, MakeHarness

KEY = "var/lib/corral/crypto/ca-key.pem"
CERT = "var/lib/corral/crypto/rapi.pem"


def _master_files(h: LuHarness) -> None:
    atomic_write(h.layout.ca_key, b"ca key\n", 0o600)
    atomic_write(h.layout.rapi_cert, b"rapi cert\n", 0o644)
    atomic_write(h.layout.rapi_key, b"rapi key\n", 0o640)


def _uploads(h: LuHarness, node: str) -> dict[str, tuple[bytes, int]]:
    return {c.args[0]: (base64.b64decode(c.args[1]), c.args[2])
            for c in h.rpc.calls_of("upload_file") if c.node == node}


def test_promoted_candidate_gets_the_candidate_files(make_harness: MakeHarness) -> None:
    b = standard_cluster(nodes=3, pool_size=10)
    b.data.put(b.data.nodes["node-node3"].evolve(0.0, master_candidate=False))
    h = make_harness(b)
    _master_files(h)
    h.run_sync(OpNodeSetParams(node_name="node3", master_candidate=True))
    assert _uploads(h, "node3") == {
        KEY: (b"ca key\n", 0o600), CERT: (b"rapi cert\n", 0o644),
        "var/lib/corral/crypto/rapi-key.pem": (b"rapi key\n", 0o600),
    }
    assert _uploads(h, "node2") == {}


def test_redist_conf_pushes_them_to_candidates_only(make_harness: MakeHarness) -> None:
    b = standard_cluster(nodes=3, pool_size=2)
    h = make_harness(b)
    _master_files(h)
    h.run_sync(OpClusterRedistConf())
    assert KEY in _uploads(h, "node2")
    assert KEY not in _uploads(h, "node3")
    assert KEY not in _uploads(h, "node1")


def _messages(findings: list[Any]) -> list[str]:
    return [format_finding(f, "ERROR", False) for f in findings]


def test_candidate_files_compared_with_the_master() -> None:
    sums = {"node1": {KEY: "a" * 40, CERT: None}, "node2": {KEY: "a" * 40, CERT: None},
            "node3": {KEY: None, CERT: "c" * 40}, "node4": {KEY: "b" * 40, CERT: None}}
    found = _messages(candidate_file_findings([KEY, CERT], sums, "node1", {"node2", "node3"}))
    assert found == [
        f"  - ERROR: cluster: File /{KEY} is missing from node(s) node3",
        f"  - ERROR: cluster: File /{CERT} is optional, but it must exist on all or no nodes"
        " (not found on node1, node2)",
        f"  - ERROR: cluster: File /{KEY} should not exist on node(s) node4",
    ]


def test_level_candidates_give_no_finding() -> None:
    sums: dict[str, dict[str, str | None]] = {
        "node1": {KEY: "a" * 40}, "node2": {KEY: "a" * 40}, "node3": {KEY: None}}
    assert candidate_file_findings([KEY], sums, "node1", {"node2"}) == []


def test_candidate_behind_the_master_serial() -> None:
    found = _messages(serial_findings(57, {"node2": 57, "node3": 41, "node4": None}))
    assert found == [
        "  - ERROR: node node3: candidate node3 is behind: configuration serial 41 of 57",
        "  - ERROR: node node4: candidate node4 did not report its configuration serial",
    ]


def test_group_verify_reports_a_stale_candidate(make_harness: MakeHarness) -> None:
    h = make_harness(standard_cluster(nodes=3))
    h.rpc.script("config_serial", "node3", payload=0)

    def other_key(node: Any, args: tuple[Any, ...]) -> dict[str, Any]:
        answer = verify_answer(args[0], h.clock.now())
        answer["filelist"][KEY] = "f" * 40
        return answer

    h.rpc.script("node_verify", "node2", fn=other_key)
    assert h.run_sync(OpClusterVerifyGroup(group_name="default")) is False
    problems = [line for line in h.feedback if line.startswith("  - ")]
    serial = h.data.serial_no
    assert f"  - ERROR: node node3: candidate node3 is behind: configuration serial 0 of {serial}" \
        in problems
    assert any(f"File /{KEY} found with 2 different checksums" in line for line in problems)
