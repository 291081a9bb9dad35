"""A fake master for the watcher: answers LUXI queries from tables and runs "jobs" by rule."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

Outcome = tuple[str, list[Any]]
"""(job status, opcode results)."""


def _cell(value: Any) -> list[Any]:
    return [0, value] if value is not None else [2, None]


def default_rule(op: dict[str, Any]) -> Outcome:
    """Every opcode succeeds; a disk verification finds nothing to do."""
    if op["OP_ID"] == "OP_GROUP_VERIFY_DISKS":
        return "success", [[{}, [], {}]]
    return "success", [None]


@dataclass
class FakeLuxi:
    """Records every submitted job; ``rule(op)`` decides each opcode's outcome."""

    instances: list[list[Any]] = field(default_factory=list)
    nodes: list[list[Any]] = field(default_factory=list)
    groups: list[list[Any]] = field(default_factory=lambda: [["g-uuid", "default"]])
    locks: list[list[Any]] = field(default_factory=list)
    jobs_table: list[list[Any]] = field(default_factory=list)
    rule: Callable[[dict[str, Any]], Outcome] = field(default=lambda op: default_rule(op))
    info: dict[str, Any] = field(default_factory=lambda: {
        "master_ip": "", "rapi_port": 5080, "maintain_node_health": False,
        "enabled_hypervisors": ["fake"]})
    master: str = "node1"
    submitted: list[list[dict[str, Any]]] = field(default_factory=list)
    archived: list[int] = field(default_factory=list)
    auto_archive_age: list[int] = field(default_factory=list)
    refuse_jobs: str | None = None
    _results: dict[int, Outcome] = field(default_factory=dict)

    def ops_of(self, op_id: str) -> list[dict[str, Any]]:
        return [op for job in self.submitted for op in job if op["OP_ID"] == op_id]

    def started(self) -> list[str]:
        return [op["instance_name"] for op in self.ops_of("OP_INSTANCE_STARTUP")]

    # --- LUXI ---------------------------------------------------------------------------
    def SubmitJob(self, ops: list[dict[str, Any]]) -> int:
        if self.refuse_jobs:
            from corral.luxi.client import LuxiRemoteError

            raise LuxiRemoteError(self.refuse_jobs, ["Job queue is drained, refusing job"])
        self.submitted.append(ops)
        job_id = len(self.submitted)
        outcomes = [self.rule(op) for op in ops]
        failed = [o for o in outcomes if o[0] != "success"]
        status = failed[0][0] if failed else "success"
        self._results[job_id] = (status, [r for o in outcomes for r in o[1]])
        return job_id

    def WaitForJobChangeOnce(self, job_id: int, fields: list[str], prev_job_info: Any,
                             prev_log_serial: int | None, timeout: float = 10.0) -> Any:
        return [[self._results[job_id][0]], []]

    def QueryJobs(self, job_ids: list[int] | None, fields: list[str]) -> list[Any]:
        status, result = self._results[job_ids[0]] if job_ids else ("success", [])
        return [[status, [status], result]]

    def ArchiveJob(self, job_id: int) -> bool:
        self.archived.append(job_id)
        return True

    def AutoArchiveJobs(self, age: int, timeout: float) -> list[int]:
        self.auto_archive_age.append(age)
        return [3, 0]

    def Query(self, what: str, fields: list[str], qfilter: Any) -> dict[str, Any]:
        table = {"instance": self.instances, "node": self.nodes, "group": self.groups,
                 "lock": self.locks, "job": self.jobs_table}[what]
        if what == "node" and qfilter == ["=", "offline", True]:
            return {"fields": fields,
                    "data": [[_cell(row[0]), _cell(row[3])] for row in table if row[2]]}
        return {"fields": fields,
                "data": [[_cell(v) for v in row[:len(fields)]] for row in table]}

    def QueryClusterInfo(self) -> dict[str, Any]:
        return dict(self.info)

    def QueryConfigValues(self, fields: list[str]) -> list[Any]:
        return [self.master]

    def close(self) -> None:
        pass

    def __enter__(self) -> FakeLuxi:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


@pytest.fixture
def luxi() -> FakeLuxi:
    return FakeLuxi()
