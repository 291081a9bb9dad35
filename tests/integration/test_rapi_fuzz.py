"""Fuzzing the remote API from its route table: no request gets a 5xx or stops the server.

Hypothesis draws a route (sometimes with another method), path parameters (real
names or random text), query arguments and a JSON body (random values, often
under the opcode's own field names) and sends it, authenticated as the write
user, to a throwaway one-node virtual cluster. Writes carry ``dry-run`` where the
route has it. The only 5xx answers allowed are the documented ones: 501 for a
route Corral does not implement yet and 503 for the console of a stopped
instance. Afterwards the server must still answer ``/version``.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral.luxi.client import Client, wait_for_job
from corral.opcodes.codec import opcode_class
from corral.rapi.opinput import DRY_RUN
from corral.rapi.routes import ROUTES
from corral.rapi.routing import Route
from corral.vcluster import cluster
from tests.integration.test_rapi_ganeti_client import loopback_missing

PORT = 18140
INSTANCE = "fuzz1.example.com"
EXAMPLES = 500
METHODS = ["GET", "PUT", "POST", "DELETE"]
PARAM_VALUES = {
    "instance_name": [INSTANCE, "missing.example.com"],
    "node_name": ["node1", "node9"],
    "group_name": ["default", "nogroup"],
    "network_name": ["nonet"],
    "job_id": ["1", "424242", "99999999999999999999"],
    "disk_index": ["0", "1", "15", "16"],
    "resource": ["instance", "node", "group", "job", "lock", "network", "export", "filter",
                 "cluster", "nothing"],
    "filter_uuid": ["0b2f9ad4-4cd1-4a44-9a0c-31d3bd6d5b3c"],
}
QUERY_NAMES = ["bulk", "dry-run", "force", "tag", "fields", "static", "type", "reason",
               "no_remember", "ignore_size", "os", "nostartup", "mode", "live", "name",
               "storage_type", "output_fields", "allocatable", "auto-promote", "junk"]
QUERY_VALUES = ["0", "1", "-1", "2", "x", "", "99999999999999999999", "name,status",
                "soft", "full", "noop"]


class Api:
    """A keep-alive HTTPS connection to the RAPI server, reopened after a failure."""

    def __init__(self, host: str, port: int, ca: str, user: str, password: str) -> None:
        self.host, self.port = host, port
        self.ssl = ssl.create_default_context(cafile=ca)
        self.ssl.check_hostname = False
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
        self.conn: http.client.HTTPSConnection | None = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(self.host, self.port,
                                                        context=self.ssl, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=self.headers)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    reason = loopback_missing()
    if reason:
        pytest.skip(reason)
    directory = Path(tempfile.mkdtemp(prefix="corral-rapi-fuzz-")) / "vc"
    try:
        vc = cluster.up(directory, 1, feedback=lambda _msg: None, port=PORT)
        _create_instance(vc.luxi_socket)
        creds = cluster.rapi_credentials(directory)
        assert creds is not None
        api = Api(vc.master.address, cluster.rapi_port_for(PORT), creds["ca"], creds["user"],
                  creds["password"])
        yield api
        api.close()
    finally:
        cluster.down(directory, feedback=lambda _msg: None)
        directory.parent.rmdir()


def _create_instance(luxi: Path) -> None:
    op = {"OP_ID": "OP_INSTANCE_CREATE", "instance_name": INSTANCE, "mode": "create",
          "disk_template": "diskless", "disks": [], "nics": [], "os_type": "noop",
          "hypervisor": "fake", "pnode": "node1", "ip_check": False, "name_check": False}
    with Client(str(luxi)) as client:
        status, _, result = wait_for_job(client, client.SubmitJob([op]))
    assert status == "success", result


json_leaf = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
             | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)


def opcode_fields(route: Route) -> list[str]:
    cls = opcode_class(route.op.op_id) if route.op else None
    if cls is None:
        return ["name", "os", "mode", "disks", "nics"]
    return [f.name for f in msgspec.structs.fields(cls)] + list(route.op.renames if route.op
                                                                 else {})


def bodies(route: Route) -> st.SearchStrategy[Any]:
    names = [*opcode_fields(route), "__version__", "fields", "qfilter", "depends"]
    shaped = st.dictionaries(st.sampled_from(names), json_value, max_size=6)
    return st.one_of(st.none(), json_value, shaped)


@st.composite
def requests(draw: st.DrawFn) -> tuple[Route, str, str, Any]:
    route = draw(st.sampled_from(ROUTES))
    method = draw(st.sampled_from(METHODS)) if draw(st.integers(0, 9)) == 0 else route.method
    path = route.path
    for name, values in PARAM_VALUES.items():
        if "{" + name + "}" in path:
            value = draw(st.sampled_from(values) | st.text(min_size=1, max_size=16))
            path = path.replace("{" + name + "}", quote(value, safe=""))
    query = draw(st.lists(st.tuples(st.sampled_from(QUERY_NAMES),
                                    st.sampled_from(QUERY_VALUES) | st.text(max_size=8)),
                          max_size=4))
    body = draw(bodies(route))
    if route.op and DRY_RUN in route.op.static:
        query.append(("dry-run", "1"))
    elif route.op and route.op.body and isinstance(body, dict):
        body["dry_run"] = True
    target = path + ("?" + urlencode(query) if query else "")
    return route, method, target, body


def allowed(route: Route, status: int, answer: bytes) -> bool:
    """Client mistakes are 4xx; the only 5xx are the documented ones."""
    if status < 500:
        return True
    message = str(json.loads(answer).get("message", ""))
    if status == 501:
        return message.endswith("is not implemented by Corral yet")
    return status == 503 and route.path.endswith("/console")


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(case=requests())
def test_no_request_gets_a_server_error(api: Api, case: tuple[Route, str, str, Any]) -> None:
    route, method, target, body = case
    raw = None if body is None else json.dumps(body).encode()
    status, answer = api.request(method, target, raw)
    assert allowed(route, status, answer), (status, method, target, body, answer)
    if status != 200:
        error = json.loads(answer)
        assert set(error) == {"code", "message", "explain"}
        assert error["code"] == status


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [(b"[" * 100_000 + b"]" * 100_000, 400, "nested deeper than the limit of 64 levels"),
     (b'{"a": "' + b"x" * (16 * 1024 * 1024) + b'"}', 413, "larger than the limit of")],
    ids=["deep", "huge"],
)
def test_hostile_bodies_are_client_errors_and_the_connection_stays(
    api: Api, body: bytes, status: int, message: str,
) -> None:
    assert api.request("GET", "/version", None)[0] == 200
    conn = api.conn
    code, answer = api.request("PUT", f"/2/instances/{INSTANCE}/modify?dry-run=1", body)
    assert code == status
    assert message in json.loads(answer)["message"]
    assert api.request("GET", "/version", None) == (200, b"2")
    assert api.conn is conn


def test_server_still_answers_after_the_fuzzing(api: Api) -> None:
    start = time.monotonic()
    status, answer = api.request("GET", "/version", None)
    assert (status, json.loads(answer)) == (200, 2)
    assert time.monotonic() - start < 5
