"""The watcher's conversation with the master: LUXI queries and job submissions.

Every opcode carries a reason trail entry with source ``gnt:watcher`` (Ganeti's
``OPCODE_REASON_SRC_WATCHER``). Each job is followed to its end before the next
one is sent, as Ganeti's watcher does.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from corral.errors import OpExecError
from corral.job_wire import JobStatus
from corral.luxi.client import wait_for_job
from corral.opcodes.base import Priority
from corral.query import RS_NORMAL
from corral.watcher.policy import InstanceObs, NodeObs

log = logging.getLogger(__name__)

REASON_SOURCE = "gnt:watcher"
ARCHIVE_TIMEOUT = 60.0
"""Seconds the master may spend archiving old jobs in one call."""
PENDING_JOB_STATUSES = (JobStatus.QUEUED.value, JobStatus.WAITING.value, JobStatus.RUNNING.value)
INSTANCE_FIELDS = ["name", "status", "admin_state", "pnode", "snodes", "disks_active"]
NODE_FIELDS = ["name", "bootid", "offline"]


class LuxiLike(Protocol):
    """The part of :class:`corral.luxi.client.Client` the watcher uses."""

    def SubmitJob(self, ops: list[dict[str, Any]]) -> int: ...

    def ArchiveJob(self, job_id: int) -> bool: ...

    def AutoArchiveJobs(self, age: int, timeout: float) -> list[int]: ...

    def Query(self, what: str, fields: list[str], qfilter: Any) -> dict[str, Any]: ...

    def QueryJobs(self, job_ids: list[int] | None, fields: list[str]) -> list[Any]: ...

    def QueryClusterInfo(self) -> dict[str, Any]: ...

    def QueryConfigValues(self, fields: list[str]) -> list[Any]: ...

    def WaitForJobChangeOnce(
        self, job_id: int, fields: list[str], prev_job_info: Any,
        prev_log_serial: int | None, timeout: float = 10.0,
    ) -> Any: ...


def opcode(op_id: str, reason: str, **fields: Any) -> dict[str, Any]:
    """An opcode in Ganeti's JSON shape with the watcher's reason trail."""
    return {"OP_ID": op_id, **fields, "reason": [[REASON_SOURCE, reason, time.time_ns()]]}


def query_rows(answer: dict[str, Any]) -> list[list[Any]]:
    """Plain values of a query2 answer; a cell without data becomes None."""
    return [
        [cell[1] if cell[0] == RS_NORMAL else None for cell in row] for row in answer["data"]
    ]


def _describe(result: Any) -> str:
    """The error of a failed job's first failed opcode, in one line."""
    for item in result or []:
        if isinstance(item, list) and len(item) == 2 and isinstance(item[0], str):
            args = item[1] if isinstance(item[1], list) else [item[1]]
            return _one_line(f"{item[0]}: {args[0] if args else ''}")
    return _one_line(str(result))


def _one_line(text: str) -> str:
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())


class ClusterOps:
    """Queries and jobs over one LUXI connection."""

    def __init__(self, client: LuxiLike) -> None:
        self.client = client

    # --- jobs --------------------------------------------------------------------------

    def run_job(self, ops: list[dict[str, Any]], what: str) -> list[Any]:
        """Submit ``ops`` as one job and wait for it; the opcode results.

        Raises:
            OpExecError: the job did not succeed.
            LuxiRemoteError: the master refused the job (e.g. a drained queue).
        """
        job_id = self.client.SubmitJob(ops)
        log.debug("%s: submitted job %d", what, job_id)
        status, _, result = wait_for_job(
            self.client,  # type: ignore[arg-type]
            job_id,
            lambda entry: log.debug("job %d: %s", job_id, entry[3]),
        )
        if status != JobStatus.SUCCESS:
            raise OpExecError(f"{what} (job {job_id}) ended with {status}: {_describe(result)}")
        return result

    def start_instance(self, name: str, attempt: int) -> None:
        op = opcode("OP_INSTANCE_STARTUP", f"Restarting instance {name} (attempt #{attempt})",
                    instance_name=name, force=False)
        self.run_job([op], f"Restart of instance {name}")

    def cleanup_user_down(self, name: str) -> None:
        op = opcode("OP_INSTANCE_SHUTDOWN", f"Cleaning up instance {name}",
                    instance_name=name, admin_state_source="user")
        self.run_job([op], f"Cleanup of instance {name}")

    def activate_disks(self, names: list[str], why: str) -> None:
        """One job activating the disks of every instance in ``names``."""
        ops = [opcode("OP_INSTANCE_ACTIVATE_DISKS", f"Activating disks of {name}: {why}",
                      instance_name=name) for name in names]
        self.run_job(ops, f"Disk activation of {', '.join(names)}")

    def verify_group_disks(self, group_uuid: str, strict: bool) -> list[str]:
        """Run OP_GROUP_VERIFY_DISKS, archive the job; the instances needing disk activation."""
        op = opcode("OP_GROUP_VERIFY_DISKS", f"Verifying disks of group {group_uuid}",
                    group_name=group_uuid, is_strict=strict, priority=int(Priority.LOW))
        job_id = self.client.SubmitJob([op])
        status, _, result = wait_for_job(self.client, job_id)  # type: ignore[arg-type]
        if status != JobStatus.SUCCESS:
            raise OpExecError(f"Disk verification of group {group_uuid} (job {job_id}) ended "
                              f"with {status}: {_describe(result)}")
        self.client.ArchiveJob(job_id)
        try:
            return [str(name) for name in result[0][1]]
        except (TypeError, IndexError, KeyError):
            raise OpExecError(f"Unexpected answer of the disk verification of group "
                              f"{group_uuid} (job {job_id}): {result!r}") from None

    def verify_disks_pending(self, group_uuid: str) -> bool:
        """Whether a disk verification of the group is already queued or running."""
        summary = f"GROUP_VERIFY_DISKS({group_uuid})"
        qfilter = ["|", *(["=", "status", s] for s in PENDING_JOB_STATUSES)]
        rows = query_rows(self.client.Query("job", ["summary"], qfilter))
        return any(summary in (row[0] or []) for row in rows)

    def archive_jobs(self, age: int) -> int:
        """Archive finished jobs older than ``age`` seconds; how many were archived."""
        answer = self.client.AutoArchiveJobs(age, ARCHIVE_TIMEOUT)
        return int(answer[0]) if answer else 0

    # --- queries ------------------------------------------------------------------------

    def master_node(self) -> str:
        return str(self.client.QueryConfigValues(["master_node"])[0])

    def cluster_info(self) -> dict[str, Any]:
        return self.client.QueryClusterInfo()

    def instances(self) -> list[InstanceObs]:
        rows = query_rows(self.client.Query("instance", INSTANCE_FIELDS, None))
        return [
            InstanceObs(name=str(name), status=str(status), admin_state=str(admin),
                        pnode=str(pnode or ""), snodes=tuple(snodes or ()),
                        disks_active=bool(active))
            for name, status, admin, pnode, snodes, active in rows
        ]

    def nodes(self) -> list[NodeObs]:
        rows = query_rows(self.client.Query("node", NODE_FIELDS, None))
        return [NodeObs(str(name), str(bootid) if bootid else None, bool(offline))
                for name, bootid, offline in rows]

    def offline_nodes(self) -> list[tuple[str, str]]:
        """``(name, primary IP)`` of the nodes marked offline."""
        rows = query_rows(self.client.Query("node", ["name", "pip"], ["=", "offline", True]))
        return [(str(name), str(pip)) for name, pip in rows]

    def groups(self) -> list[tuple[str, str]]:
        """``(uuid, name)`` of every node group."""
        rows = query_rows(self.client.Query("group", ["uuid", "name"], None))
        return [(str(uuid), str(name)) for uuid, name in rows]

    def locked_instances(self) -> frozenset[str]:
        """Instances some job currently holds a lock on."""
        rows = query_rows(self.client.Query("lock", ["name", "mode"], None))
        prefix = "instance/"
        return frozenset(
            name.removeprefix(prefix) for name, mode in rows
            if mode and isinstance(name, str) and name.startswith(prefix)
            and not name.endswith("[lockset]")
        )
