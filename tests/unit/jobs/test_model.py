"""The job model's transition tables, Ganeti's status rule and drafts."""

from __future__ import annotations

import itertools

import pytest

from corral.errors import InvalidTransition
from corral.job_wire import JOB_FINALIZED, OP_FINALIZED, JobStatus, OpStatus, job_status_of
from corral.jobs.model import JOB_TRANSITIONS, OP_TRANSITIONS, Job, QueuedOp
from corral.opcodes.test import OpTestDummy


def _job(*statuses: OpStatus) -> Job:
    ops = [QueuedOp(input={"OP_ID": "OP_TEST_DUMMY"}, status=status) for status in statuses]
    return Job(id=1, ops=ops)


def test_an_opcode_moves_only_along_the_table() -> None:
    for old, new in itertools.product(OpStatus, OpStatus):
        op = QueuedOp(input={}, status=old)
        if (old, new) in OP_TRANSITIONS:
            op.move_to(new)
            assert op.status is new
            continue
        with pytest.raises(InvalidTransition, match=f"internal error.*from {old} to {new}"):
            op.move_to(new)
        assert op.status is old


def test_finished_opcodes_and_jobs_never_move() -> None:
    assert not [edge for edge in OP_TRANSITIONS if edge[0] in OP_FINALIZED]
    assert not [edge for edge in JOB_TRANSITIONS if edge[0] in JOB_FINALIZED]


def test_the_restart_edges_are_explicit() -> None:
    assert (OpStatus.RUNNING, OpStatus.ERROR) in OP_TRANSITIONS
    assert (OpStatus.WAITING, OpStatus.QUEUED) in OP_TRANSITIONS
    assert (OpStatus.CANCELING, OpStatus.QUEUED) in OP_TRANSITIONS
    assert (OpStatus.QUEUED, OpStatus.RUNNING) not in OP_TRANSITIONS


def test_a_move_the_job_may_not_make_is_refused_and_changes_nothing() -> None:
    job = _job(OpStatus.WAITING, OpStatus.RUNNING)  # inconsistent on purpose: job is running
    with pytest.raises(InvalidTransition, match="job 1 cannot go from running to waiting"):
        job.move_op(1, OpStatus.SUCCESS)  # a legal opcode edge, but the job would go back
    assert job.ops[1].status is OpStatus.RUNNING


def test_move_op_checks_the_opcode_edge_too() -> None:
    job = _job(OpStatus.WAITING, OpStatus.QUEUED)  # the job stays waiting either way
    with pytest.raises(InvalidTransition, match="opcode cannot go from queued to success"):
        job.move_op(1, OpStatus.SUCCESS)
    assert job.ops[1].status is OpStatus.QUEUED


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], JobStatus.SUCCESS),
        (["success", "success"], JobStatus.SUCCESS),
        (["success", "queued"], JobStatus.QUEUED),
        (["running", "queued"], JobStatus.RUNNING),
        (["success", "waiting", "queued"], JobStatus.WAITING),
        (["success", "error", "error"], JobStatus.ERROR),
        (["canceled", "running"], JobStatus.CANCELED),
        (["running", "canceling"], JobStatus.CANCELING),
    ],
)
def test_job_status_follows_ganetis_rule(statuses: list[str], expected: JobStatus) -> None:
    assert job_status_of(statuses) is expected
    assert _job(*(OpStatus(s) for s in statuses)).status is expected


def test_a_draft_is_independent_but_keeps_the_decoded_opcodes() -> None:
    job = _job(OpStatus.QUEUED)
    job.ops[0].opcode = OpTestDummy()
    job.log_serial = 4
    draft = job.draft()
    draft.move_op(0, OpStatus.WAITING)
    assert job.ops[0].status is OpStatus.QUEUED
    assert draft.ops[0].opcode is job.ops[0].opcode
    assert draft.log_serial == 4
    assert "opcode" not in draft.to_dict()["ops"][0]
