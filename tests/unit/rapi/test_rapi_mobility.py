"""RAPI's mobility resources: the opcode each request submits (as Ganeti's rlib2 builds it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from corral.opcodes import decode_opcode
from tests.unit.rapi.test_rapi_server import Call, FakeMaster, run


def _op(master: FakeMaster) -> dict[str, Any]:
    """The one opcode of the last job, valid for its class, without the reason trail."""
    (op,) = master.submitted[-1]
    decode_opcode(op)
    return {k: v for k, v in op.items() if k != "reason"}


CASES = [
    ("PUT", "/2/instances/web1/migrate", {"mode": "non-live", "cleanup": False,
                                          "target_node": "node2"},
     {"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": "web1", "mode": "non-live",
      "cleanup": False, "target_node": "node2"}),
    ("PUT", "/2/instances/web1/migrate", {"iallocator": "hail", "allow_failover": True},
     {"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": "web1", "iallocator": "hail",
      "allow_failover": True}),
    ("PUT", "/2/instances/web1/failover", {"ignore_consistency": True, "target_node": "node3",
                                           "shutdown_timeout": 30},
     {"OP_ID": "OP_INSTANCE_FAILOVER", "instance_name": "web1", "ignore_consistency": True,
      "target_node": "node3", "shutdown_timeout": 30}),
    ("POST", "/2/nodes/node1/migrate", {"mode": "live", "iallocator": "hail"},
     {"OP_ID": "OP_NODE_MIGRATE", "node_name": "node1", "mode": "live", "iallocator": "hail",
      "dry_run": False}),
    ("POST", "/2/nodes/node1/migrate?dry-run=1", {"target_node": "node2"},
     {"OP_ID": "OP_NODE_MIGRATE", "node_name": "node1", "target_node": "node2",
      "dry_run": True}),
    ("POST", "/2/nodes/node1/migrate?live=0", None,
     {"OP_ID": "OP_NODE_MIGRATE", "node_name": "node1", "mode": "non-live", "dry_run": False}),
    ("POST", "/2/nodes/node1/migrate?mode=live", None,
     {"OP_ID": "OP_NODE_MIGRATE", "node_name": "node1", "mode": "live", "dry_run": False}),
    ("POST", "/2/nodes/node1/evacuate?dry-run=1", {"mode": "primary-only",
                                                   "iallocator": "hail", "early_release": True},
     {"OP_ID": "OP_NODE_EVACUATE", "node_name": "node1", "mode": "primary-only",
      "iallocator": "hail", "early_release": True, "dry_run": True}),
    ("POST", "/2/nodes/node1/evacuate", {"mode": "secondary-only", "remote_node": "node3"},
     {"OP_ID": "OP_NODE_EVACUATE", "node_name": "node1", "mode": "secondary-only",
      "remote_node": "node3", "dry_run": False}),
]


@pytest.mark.parametrize(("method", "path", "body", "expected"), CASES,
                         ids=[f"{c[0]} {c[1]}" for c in CASES])
def test_request_becomes_ganetis_opcode(tmp_path: Path, method: str, path: str, body: Any,
                                        expected: dict[str, Any]) -> None:
    async def test(call: Call, master: FakeMaster) -> None:
        status, answer, _ = await call(method, path, body=body)
        assert (status, answer) == (200, 41)
        assert _op(master) == expected

    run(tmp_path, test)


def test_node_migrate_refuses_live_and_mode_together(tmp_path: Path) -> None:
    async def test(call: Call, master: FakeMaster) -> None:
        status, answer, _ = await call("POST", "/2/nodes/node1/migrate?live=1&mode=live")
        assert (status, answer["message"]) == (400, "Only one of 'live' and 'mode' should be"
                                                    " passed")
        assert master.submitted == []

    run(tmp_path, test)


def test_path_parameters_cannot_be_overridden_by_the_body(tmp_path: Path) -> None:
    async def test(call: Call, master: FakeMaster) -> None:
        status, answer, _ = await call("PUT", "/2/instances/web1/migrate",
                                       body={"instance_name": "web2"})
        assert status == 400
        assert "instance_name" in answer["message"]
        assert master.submitted == []

    run(tmp_path, test)
