"""The RAPI server over a fake LUXI method table: status codes, bodies, error mapping."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from corral.errors import ErrorCode, JobQueueDrainError, OpPrereqError, ParameterError
from corral.rapi.auth import Authenticator, UsersFile
from corral.rapi.resources.instances import I_FIELDS
from corral.rapi.server import OPENAPI_PATH, RapiServer

WRITER = "Basic " + base64.b64encode(b"admin:secret").decode()
READER = "Basic " + base64.b64encode(b"viewer:look").decode()


class FakeMaster:
    """Answers LUXI methods like the master would, and records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Any]]] = []
        self.submitted: list[list[dict[str, Any]]] = []
        self.fail_submit: Exception | None = None

    async def dispatch(self, method: str, args: list[Any]) -> Any:
        self.calls.append((method, args))
        return getattr(self, method)(*args)

    def SubmitJob(self, ops: list[dict[str, Any]]) -> int:
        if self.fail_submit is not None:
            raise self.fail_submit
        self.submitted.append(ops)
        return 40 + len(self.submitted)

    def Query(self, what: str, fields: list[str], qfilter: Any) -> dict[str, Any]:
        names = [term[2] for term in qfilter[1:]] if qfilter else ["web1", "web2"]
        if "missing" in names:
            raise OpPrereqError("Instance name missing not found", ErrorCode.NOENT)
        rows = [[[0, self._value(name, field)] for field in fields] for name in names]
        return {"fields": [{"name": f} for f in fields], "data": rows}

    def QueryInstances(self, names: list[str], fields: list[str], lock: bool) -> list[Any]:
        """The legacy form RAPI's bulk listing uses: plain values."""
        return [[cell[1] for cell in row] for row in self.Query("instance", fields, None)["data"]]

    @staticmethod
    def _value(name: str, field: str) -> Any:
        if field == "beparams":
            return {"maxmem": 128, "vcpus": 1}
        if field == "oper_state":
            return name != "web2"
        return name if field == "name" else f"{field}-of-{name}"

    def QueryClusterInfo(self) -> dict[str, Any]:
        return {"name": "cluster1", "volume_group_name": "xenvg", "drbd_usermode_helper": ""}

    def QueryJobs(self, ids: list[int] | None, fields: list[str]) -> list[Any]:
        """Job 5 exists (and succeeded with result ``[["noop", []]]``); no other does."""
        if fields == ["status", "opresult"]:
            return [["success", [[["noop", []]]]]]
        row = [5, "success", *([None] * (len(fields) - 2))][: len(fields)]
        if ids is None:
            return [row]
        return [row if job_id == 5 else None for job_id in ids]

    def WaitForJobChange(self, job_id: int, *rest: Any) -> Any:
        return [["success"], []]

    def CancelJob(self, job_id: int) -> list[Any]:
        return [False, f"Job {job_id} not found"]

    def QueryTags(self, kind: str, name: str) -> list[str]:
        return [f"{kind}:{name}"]


Call = Callable[..., Awaitable[tuple[int, Any, dict[str, str]]]]


async def _serving(tmp_path: Path, test: Callable[[Call, FakeMaster], Awaitable[None]]) -> None:
    users = tmp_path / "users"
    users.write_text("admin secret write\nviewer look\n")
    master = FakeMaster()
    server = RapiServer(master.dispatch, Authenticator(UsersFile(users)), None)
    await server.start(["127.0.0.1"], 0)
    port = server.addresses()[0][1]
    try:
        async with aiohttp.ClientSession() as session:

            async def call(method: str, path: str, auth: str | None = WRITER,
                           body: Any = None, raw: bytes | None = None,
                           ctype: str = "application/json") -> tuple[int, Any, dict[str, str]]:
                headers = {"Content-Type": ctype}
                if auth:
                    headers["Authorization"] = auth
                data = raw if raw is not None else (
                    None if body is None else json.dumps(body).encode())
                url = f"http://127.0.0.1:{port}{path}"
                async with session.request(method, url, data=data, headers=headers) as resp:
                    return resp.status, json.loads(await resp.read()), dict(resp.headers)

            await test(call, master)
    finally:
        await server.close()


def run(tmp_path: Path, test: Callable[[Call, FakeMaster], Awaitable[None]]) -> None:
    asyncio.run(_serving(tmp_path, test))


def test_version_is_public_and_info_needs_a_user(tmp_path: Path) -> None:
    async def test(call: Call, master: FakeMaster) -> None:
        assert (await call("GET", "/version", auth=None))[:2] == (200, 2)
        status, body, headers = await call("GET", "/2/info", auth=None)
        assert status == 401
        assert headers["WWW-Authenticate"] == 'Basic realm="Ganeti Remote API"'
        assert body == {"code": 401, "message": "Unauthorized",
                        "explain": "No permission -- see authorization schemes"}
        status, info, _ = await call("GET", "/2/info", auth=READER)
        assert status == 200
        assert info["vg_name"] == "xenvg"
        assert info["drbd_helper"] == ""

    run(tmp_path, test)


def test_instances_list_and_bulk(tmp_path: Path) -> None:
    async def test(call: Call, master: FakeMaster) -> None:
        status, names, _ = await call("GET", "/2/instances")
        assert status == 200
        assert names == [{"id": "web1", "uri": "/2/instances/web1"},
                         {"id": "web2", "uri": "/2/instances/web2"}]
        status, bulk, _ = await call("GET", "/2/instances?bulk=1")
        assert sorted(bulk[0]) == sorted({*I_FIELDS})
        assert bulk[0]["beparams"] == {"maxmem": 128, "vcpus": 1, "memory": 128}
        assert master.calls[-1] == ("QueryInstances", [[], I_FIELDS, False])

    run(tmp_path, test)


def test_unknown_instance_is_404_with_ganetis_body(tmp_path: Path) -> None:
    async def test(call: Call, master: FakeMaster) -> None:
        status, body, _ = await call("GET", "/2/instances/missing")
        assert status == 404
        assert body == {"code": 404, "message": "Instance name missing not found",
                        "explain": "Nothing matches the given URI"}
        assert (await call("GET", "/2/no/such/path"))[0] == 404

    run(tmp_path, test)


def test_job_submission_answers_the_job_id_as_a_number(tmp_path: Path) -> None:
    async def test(call: Call, master: FakeMaster) -> None:
        status, job_id, _ = await call("PUT", "/2/instances/web1/shutdown?dry-run=1",
                                       body={"timeout": 30})
        assert (status, job_id) == (200, 41)
        op = master.submitted[-1][0]
        assert (op["OP_ID"], op["instance_name"], op["timeout"], op["dry_run"]) == (
            "OP_INSTANCE_SHUTDOWN", "web1", 30, True)

    run(tmp_path, test)


@pytest.mark.parametrize(
    ("error", "status"),
    [(ParameterError("disks[0].size: expected an integer"), 400),
     (OpPrereqError("Instance web1 already exists", ErrorCode.EXISTS), 409),
     (OpPrereqError("No such node", ErrorCode.NOENT), 404),
     (JobQueueDrainError("Job queue is drained, refusing job"), 503),
     (ValueError("invalid literal for int() with base 10: 'a'"), 400),
     (RuntimeError("bug"), 500)],
    ids=["parameter", "exists", "noent", "drained", "bad-argument", "bug"],
)
def test_submission_errors_map_to_http(tmp_path: Path, error: Exception, status: int) -> None:
    async def test(call: Call, master: FakeMaster) -> None:
        master.fail_submit = error
        code, body, _ = await call("PUT", "/2/instances/web1/modify", body={"x": 1})
        assert code == status
        assert body["code"] == status
        if status < 500:
            assert str(error) in body["message"]

    run(tmp_path, test)


def test_rights_and_bodies(tmp_path: Path) -> None:
    async def test(call: Call, master: FakeMaster) -> None:
        assert (await call("PUT", "/2/tags?tag=a", auth=READER))[0] == 403
        assert (await call("PATCH", "/2/tags"))[0] == 405
        assert (await call("PUT", "/2/modify", raw=b"{nope"))[:2] == (
            400, {"code": 400, "message": "Unable to parse JSON data",
                  "explain": "Bad request syntax or unsupported method"})
        assert (await call("PUT", "/2/modify", raw=b"{}", ctype="text/plain"))[0] == 415
        status, body, _ = await call("POST", "/2/filters", body={})
        assert status == 501
        assert body["message"] == "Job filters is not implemented by Corral yet"
        status, body, _ = await call("PUT", "/2/instances/web1/export", body={})
        assert status == 501
        assert "OP_BACKUP_EXPORT" in body["message"]
        assert master.submitted == []

    run(tmp_path, test)


def test_node_role_and_reinstall_submit_ganetis_opcodes(tmp_path: Path) -> None:
    async def test(call: Call, master: FakeMaster) -> None:
        assert (await call("PUT", "/2/nodes/node2/role?auto-promote=1", body="drained"))[0] == 200
        role_op = master.submitted[-1][0]
        assert (role_op["drained"], role_op["master_candidate"], role_op["auto_promote"]) == (
            True, None, True)
        status, body, _ = await call("PUT", "/2/nodes/node2/role", body="master")
        assert (status, body["message"]) == (400, "Can't set 'master' role")
        await call("POST", "/2/instances/web1/reinstall", body={"os": "noop", "start": False})
        assert [op["OP_ID"] for op in master.submitted[-1]] == [
            "OP_INSTANCE_SHUTDOWN", "OP_INSTANCE_REINSTALL"]
        await call("POST", "/2/instances/web1/reinstall?os=busybox")
        ops = master.submitted[-1]
        assert [op["OP_ID"] for op in ops][-1] == "OP_INSTANCE_STARTUP"
        assert ops[1]["os_type"] == "busybox"
        status, body, _ = await call("POST", "/2/instances/web1/reinstall?os=x", body={"os": "y"})
        assert (status, body["message"]) == (400, "Can't combine query and body parameters")

    run(tmp_path, test)


def test_jobs_os_console_and_tags(tmp_path: Path) -> None:
    async def test(call: Call, master: FakeMaster) -> None:
        assert (await call("GET", "/2/jobs"))[1] == [{"id": 5, "uri": "/2/jobs/5"}]
        assert (await call("GET", "/2/jobs/6"))[0] == 404
        assert (await call("GET", "/2/jobs/99999999999999999999"))[0] == 404
        assert (await call("DELETE", "/2/jobs/6"))[1] == [False, "Job 6 not found"]
        wait = await call("GET", "/2/jobs/5/wait", body={"fields": ["status"]})
        assert wait[1] == {"job_info": ["success"], "log_entries": []}
        assert (await call("GET", "/2/jobs/5/wait", body={"fields": "status"}))[0] == 400
        assert (await call("GET", "/2/os"))[1] == ["noop"]
        assert (await call("GET", "/2/instances/web2/console"))[0] == 503
        assert (await call("GET", "/2/groups/default/tags"))[1] == ["nodegroup:default"]

    run(tmp_path, test)


def test_openapi_document_is_served_without_authentication(tmp_path: Path) -> None:
    async def test(call: Call, master: FakeMaster) -> None:
        status, doc, _ = await call("GET", OPENAPI_PATH, auth=None)
        assert status == 200
        assert doc["openapi"].startswith("3.")
        assert "/2/instances/{instance_name}/reboot" in doc["paths"]

    run(tmp_path, test)
