"""Private and secret OS parameters through the real queue, processor, LUXI and RAPI.

Private values are stored but every reader gets ``<redacted>``; secret values reach the
OS scripts of the running job only and never any file (store, its WAL, candidate job files).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from corral.clock import SystemClock
from corral.cmdlib import instance_create, instance_query  # noqa: F401  (registers the LUs)
from corral.job_wire import JobStatus
from corral.jobs.model import Job
from corral.jobs.persist import JobSaver
from corral.jobs.queue import JobQueue
from corral.jobs.store import JobStore
from corral.master.luxi_methods import LuxiMethods
from corral.opcodes.base import OpCode
from corral.opcodes.codec import decode_opcode
from corral.opcodes.private import REDACTED, SECRETS_LOST
from corral.osdef.discovery import inspect_os
from corral.osdef.env import os_core_environment
from corral.osdef.run import run_os_script
from corral.process import SubprocessRunner
from corral.rapi.auth import Authenticator, UsersFile
from corral.rapi.server import RapiServer
from tests.support.config import instance_cluster
from tests.support.lu_harness import LuHarness, MakeHarness
from tests.unit.osdef.conftest import ENV_DUMPER, write_os

NAME = "web1.example.com"
PRIVATE = "private-root-pw-4242"
SECRET = "s3cret-api-key-6617"
READER = "Basic " + base64.b64encode(b"viewer:look").decode()


def create_input(**extra: Any) -> dict[str, Any]:
    return {"OP_ID": "OP_INSTANCE_CREATE", "instance_name": NAME, "os_type": "busybox",
            "pnode": "node2", "disk_template": "file", "disks": [{"size": 1024}],
            "nics": [{}], "name_check": False, "ip_check": False, "start": False,
            "osparams_private": {"root_pw": PRIVATE}, "osparams_secret": {"api_key": SECRET},
            **extra}


class FileReplicator:
    """A master candidate's ``queue`` directory, written as the node daemon writes it."""

    def __init__(self, queue_dir: Path) -> None:
        self.queue_dir = queue_dir

    async def update(self, files: list[tuple[str, str]]) -> None:
        for name, content in files:
            path = self.queue_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)

    async def rename(self, renames: list[tuple[str, str]]) -> None:
        for old, new in renames:
            (self.queue_dir / new).parent.mkdir(parents=True, exist_ok=True)
            (self.queue_dir / old).replace(self.queue_dir / new)

    async def set_drain_flag(self, flag: bool) -> None:
        return None


class Master:
    """The harness's master with a real job queue on disk and a candidate's job files."""

    def __init__(self, h: LuHarness, root: Path) -> None:
        self.h = h
        self.db = root / "queue.db"
        self.candidate = root / "candidate" / "queue"
        self.store = JobStore(self.db)
        self.queue = JobQueue(JobSaver(self.store, FileReplicator(self.candidate)),
                              h.processor, SystemClock())
        h.ctx.queue = self.queue
        self.methods = LuxiMethods(h.ctx, self.queue)

    async def run_job(self, *ops: dict[str, Any]) -> Job:
        job_id = await self.queue.submit(list(ops))
        await self.queue.wait_finished(job_id)
        return await self.queue.get_or_raise(job_id)

    def files(self) -> list[Path]:
        """Every file the job queue and the configuration wrote (including -wal, -shm)."""
        found = [*self.db.parent.glob("queue.db*"), *self.candidate.rglob("*")]
        found += self.h.store_path.parent.glob(self.h.store_path.name + "*")
        return [path for path in found if path.is_file()]


def _run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


def _words(text: str) -> set[str]:
    """The hidden values found in ``text``."""
    return {value for value in (PRIVATE, SECRET) if value in text}


def _contains(path: Path, value: str) -> bool:
    return value.encode() in path.read_bytes()


def test_secret_reaches_the_os_script_and_no_file(
    make_harness: MakeHarness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    h = make_harness(instance_cluster(nodes=3))
    master = Master(h, tmp_path)

    async def scenario() -> Job:
        job = await master.run_job(create_input())
        stored = master.store.load(job.id)
        assert stored is not None
        stored_input = stored[0]["ops"][0]["input"]
        assert stored_input["osparams_secret"] == {"api_key": REDACTED}
        assert stored_input["osparams_private"] == {"root_pw": PRIVATE}  # storing is allowed
        files = master.files()  # looked at while the stores are open: the WAL files exist
        assert any(p.name == "queue.db-wal" for p in files)
        assert [p.name for p in master.candidate.iterdir()] == [f"job-{job.id}"]
        assert [p for p in files if _contains(p, SECRET)] == []
        return job

    job = _run(scenario())
    assert job.status is JobStatus.SUCCESS
    bundle = h.rpc.calls_of("instance_os_add")[0].args[0]
    assert bundle.osparams["root_pw"] == PRIVATE
    assert bundle.osparams["api_key"] == SECRET
    inst = h.data.instance_by_name(NAME)
    assert inst is not None
    assert inst.osparams_private == {"root_pw": PRIVATE}
    assert "api_key" not in {**inst.osparams, **inst.osparams_private}
    hooks = json.dumps([c.args for c in h.rpc.calls_of("hooks_runner")], default=str)
    assert "GANETI_INSTANCE_NAME" in hooks
    assert not {PRIVATE, SECRET} & _words(hooks)
    assert not {PRIVATE, SECRET} & _words(caplog.text)


def test_os_script_gets_both_as_osp_variables(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    h = make_harness(instance_cluster(nodes=3))
    h.run_sync(decode_opcode(create_input()))
    bundle = h.rpc.calls_of("instance_os_add")[0].args[0]
    path = write_os(tmp_path / "os", "busybox", scripts={"create": ENV_DUMPER},
                    parameters="root_pw Root password\napi_key API key\n")
    info = inspect_os("busybox", path)
    env = os_core_environment(info, None, bundle.osparams)
    asyncio.run(run_os_script(info, "create", env, SubprocessRunner(), tmp_path / "log",
                              timeout=30))
    dumped = dict(item.split("=", 1) for item in
                  (path / "env.dump").read_text().split("\0") if item)
    assert dumped["OSP_ROOT_PW"] == PRIVATE
    assert dumped["OSP_API_KEY"] == SECRET


def test_a_script_echoing_the_secret_does_not_store_it(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    h = make_harness(instance_cluster(nodes=3))
    h.rpc.script("instance_os_add", fail=f"create failed; token was {SECRET} ({PRIVATE})")
    master = Master(h, tmp_path)

    async def scenario() -> tuple[Job, list[Any]]:
        job = await master.run_job(create_input())
        rows = await master.methods.dispatch(
            "QueryJobs", [[job.id], ["ops", "opresult", "oplog"]])
        assert [p for p in master.files() if _contains(p, SECRET)] == []
        return job, rows

    job, rows = _run(scenario())
    assert job.status is JobStatus.ERROR
    served = json.dumps(rows)
    assert "create failed; token was <redacted> (<redacted>)" in served
    assert not {PRIVATE, SECRET} & _words(served)


def test_readers_get_redacted_values(make_harness: MakeHarness, tmp_path: Path) -> None:
    h = make_harness(instance_cluster(nodes=3))
    master = Master(h, tmp_path)
    users = tmp_path / "users"
    users.write_text("admin secret write\nviewer look\n")

    async def scenario(call: Callable[[str], Awaitable[Any]]) -> None:
        job = await master.run_job(create_input())
        luxi = await master.methods.dispatch("QueryJobs", [[job.id], ["ops"]])
        assert luxi[0][0][0]["osparams_private"] == {"root_pw": REDACTED}
        query = await master.methods.dispatch("Query", ["job", ["ops"], None])
        assert PRIVATE not in json.dumps(query)
        details = await call(f"/2/jobs/{job.id}")
        assert details["ops"][0]["osparams_private"] == {"root_pw": REDACTED}
        assert details["ops"][0]["osparams_secret"] == {"api_key": REDACTED}
        info_job = await call(f"/2/instances/{NAME}/info?static=1")
        await master.queue.wait_finished(int(info_job))
        info = (await call(f"/2/jobs/{info_job}"))["opresult"][0][NAME]
        assert info["os_instance"]["root_pw"] == REDACTED
        assert info["os_actual"]["root_pw"] == REDACTED
        instances = await call("/2/instances?bulk=1")
        for text in (json.dumps(details), json.dumps(info), json.dumps(instances)):
            assert not {PRIVATE, SECRET} & _words(text)

    _run(_serving(master, users, scenario))


async def _serving(master: Master, users: Path,
                   test: Callable[[Callable[[str], Awaitable[Any]]], Awaitable[None]]) -> None:
    server = RapiServer(master.methods.dispatch, Authenticator(UsersFile(users)), None)
    await server.start(["127.0.0.1"], 0)
    port = server.addresses()[0][1]
    try:
        async with aiohttp.ClientSession() as session:

            async def get(path: str) -> Any:
                url = f"http://127.0.0.1:{port}{path}"
                async with session.get(url, headers={"Authorization": READER}) as resp:
                    assert resp.status == 200, await resp.text()
                    return json.loads(await resp.read())

            await test(get)
    finally:
        await server.close()


class NeverRuns:
    """A runner that must not be called: the job it gets has lost its secrets."""

    async def run_op(self, job: Job, opcode: OpCode, feedback: Callable[[str], None],
                     on_locked: Callable[[], Awaitable[None]]) -> Any:
        raise AssertionError(f"job {job.id} ran")


def test_restart_before_the_job_ran_fails_it_clearly(tmp_path: Path) -> None:
    reinstall = {"OP_ID": "OP_INSTANCE_REINSTALL", "instance_name": NAME,
                 "osparams_secret": {"api_key": SECRET}}
    public = {"OP_ID": "OP_TEST_DELAY", "duration": 0.0}

    async def before_restart() -> list[int]:
        store = JobStore(tmp_path / "queue.db")
        queue = JobQueue(JobSaver(store), NeverRuns(), SystemClock(), max_running=lambda: 0)
        ids = [await queue.submit([reinstall]), await queue.submit([public, reinstall])]
        await queue.shutdown()
        store.close()
        return ids

    async def after_restart(ids: list[int]) -> list[Job]:
        store = JobStore(tmp_path / "queue.db")
        queue = JobQueue(JobSaver(store), NeverRuns(), SystemClock())
        await queue.recover()
        jobs = [await queue.get_or_raise(job_id) for job_id in ids]
        store.close()
        return jobs

    ids = _run(before_restart())
    jobs = _run(after_restart(ids))
    for job in jobs:
        assert job.status is JobStatus.ERROR
        assert all(op.result[1][0] == SECRETS_LOST for op in job.ops), job.ops
        assert SECRETS_LOST in job.ops[-1].log[-1][3]
    for path in tmp_path.rglob("queue.db*"):
        assert not _contains(path, SECRET)
