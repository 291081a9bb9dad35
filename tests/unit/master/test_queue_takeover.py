"""A new master loads the job files of its queue replica into its job store."""

from __future__ import annotations

from pathlib import Path

from corral import serde
from corral.daemons import masterd
from corral.jobs.store import JobStore
from corral.layout import NodeLayout
from corral.master.queue_takeover import take_over_queue


def _job(job_id: int, status: str) -> bytes:
    op: dict[str, object] = {"input": {"OP_ID": "OP_TEST_DELAY"}, "status": status,
                             "result": None, "log": [], "priority": 0}
    return serde.dumps({"id": job_id, "ops": [op], "received_timestamp": None})


def test_replica_files_become_the_job_store(tmp_path: Path) -> None:
    layout = NodeLayout(tmp_path)
    layout.queue_dir.mkdir(parents=True)
    (layout.queue_dir / "job-3").write_bytes(_job(3, "queued"))
    (layout.queue_dir / "job-4").write_bytes(_job(4, "running"))
    (layout.queue_dir / "job-5").write_bytes(b"not json")
    archived = layout.queue_archive_dir / "0"
    archived.mkdir(parents=True)
    (archived / "job-1").write_bytes(_job(1, "success"))
    (layout.queue_dir / "serial").write_text("6\n")
    store = JobStore(layout.queue_db)
    try:
        assert take_over_queue(layout, store) == 3
        assert [doc["id"] for doc in store.load_active()] == [3, 4]
        assert store.archived_ids() == [1]
        assert store.last_id() == 6
    finally:
        store.close()
    assert not (layout.queue_dir / "job-3").exists()


def test_nothing_to_take_over(tmp_path: Path) -> None:
    layout = NodeLayout(tmp_path)
    layout.queue_dir.mkdir(parents=True)
    store = JobStore(layout.queue_db)
    try:
        assert take_over_queue(layout, store) == 0
    finally:
        store.close()


def test_masterd_refuses_no_voting_without_confirmation(tmp_path: Path) -> None:
    assert masterd.main(["--root", str(tmp_path), "--no-voting"]) == 1
