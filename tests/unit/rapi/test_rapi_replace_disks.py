"""RAPI ``POST /2/instances/[name]/replace-disks``: body parameters and Ganeti's older query
arguments become one OP_INSTANCE_REPLACE_DISKS that decodes as the opcode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.rapi.test_rapi_mobility import _op
from tests.unit.rapi.test_rapi_server import Call, FakeMaster, run

BASE = {"OP_ID": "OP_INSTANCE_REPLACE_DISKS", "instance_name": "web1"}
CASES = [
    ("", {"mode": "replace_new_secondary", "remote_node": "node3", "early_release": True},
     {"mode": "replace_new_secondary", "remote_node": "node3", "early_release": True}),
    ("", {"mode": "replace_on_secondary", "disks": "0,1"},
     {"mode": "replace_on_secondary", "disks": [0, 1]}),
    ("", {"mode": "replace_new_secondary", "iallocator": "hail"},
     {"mode": "replace_new_secondary", "iallocator": "hail"}),
    ("?mode=replace_on_primary&disks=1", None, {"mode": "replace_on_primary", "disks": [1]}),
    ("?mode=replace_auto", None, {"mode": "replace_auto"}),
]


@pytest.mark.parametrize(("query", "body", "fields"), CASES,
                         ids=["new-secondary", "disk-string", "iallocator", "legacy-query",
                              "legacy-auto"])
def test_replace_disks_request(tmp_path: Path, query: str, body: Any,
                               fields: dict[str, Any]) -> None:
    async def test(call: Call, master: FakeMaster) -> None:
        status, answer, _ = await call("POST", f"/2/instances/web1/replace-disks{query}",
                                       body=body)
        assert (status, answer) == (200, 41)
        assert _op(master) == {**BASE, **fields}

    run(tmp_path, test)


def test_bad_disk_indices_are_refused(tmp_path: Path) -> None:
    async def test(call: Call, master: FakeMaster) -> None:
        status, answer, _ = await call("POST", "/2/instances/web1/replace-disks",
                                       body={"mode": "replace_on_secondary", "disks": "0,x"})
        assert status == 400
        assert "Invalid disk index passed" in answer["message"]
        assert master.submitted == []

    run(tmp_path, test)
