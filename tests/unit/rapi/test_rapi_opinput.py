"""Request → opcode: Ganeti's body renames, static parameters, query flags and checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from corral.opcodes.codec import decode_opcode
from corral.rapi.httperror import HttpError
from corral.rapi.opinput import build_op
from corral.rapi.request import RapiRequest
from corral.rapi.routes import ROUTES, table
from corral.rapi.routing import Route

V1_CREATE = {
    "__version__": 1,
    "mode": "create",
    "name": "inst1.example.com",
    "disk_template": "plain",
    "disks": [{"size": 1024, "mode": "rw"}, {"size": 512}],
    "nics": [{"ip": "198.51.100.4", "mode": "bridged", "link": "br0"}, {}],
    "os": "debootstrap+default",
    "osparams": {},
    "pnode": "node1.example.com",
    "start": True,
    "ip_check": False,
    "name_check": False,
    "hypervisor": "kvm",
    "hvparams": {"usb_devices": "1234:5678 9abc:def0"},
    "beparams": {"maxmem": 512, "vcpus": 2},
}
"""A version-1 creation request, as Ganeti's client sends it."""


def _request(method: str, path: str, body: Any = None,
             query: dict[str, Sequence[str]] | None = None) -> tuple[Route, RapiRequest]:
    route, params = table().match(method, path)
    return route, RapiRequest(method, path, params, query or {}, body, "tester")


def _op(method: str, path: str, body: Any = None, **query: Sequence[str]) -> dict[str, Any]:
    route, req = _request(method, path, body, dict(query))
    assert route.op is not None
    return build_op(route.op, req, route.resource)


def test_instance_create_v1_body_becomes_op_instance_create() -> None:
    op = _op("POST", "/2/instances", dict(V1_CREATE), **{"dry-run": ["1"]})
    assert op["OP_ID"] == "OP_INSTANCE_CREATE"
    assert op["instance_name"] == "inst1.example.com"
    assert op["os_type"] == "debootstrap+default"
    assert "name" not in op
    assert "os" not in op
    assert "__version__" not in op
    assert op["dry_run"] is True
    assert op["hvparams"] == {"usb_devices": "1234:5678,9abc:def0"}
    assert op["disks"] == V1_CREATE["disks"]
    assert op["reason"][-1][0] == "gnt:library:rlib2:instances"
    decoded = decode_opcode(op)
    assert decoded.op_id == "OP_INSTANCE_CREATE"


@pytest.mark.parametrize(
    ("version", "message"),
    [(None, "version 0 is no longer supported"), (0, "version 0 is no longer supported"),
     (2, "Unsupported request data version 2"), ("1", "Unsupported request data version")],
    ids=["missing", "zero", "two", "string"],
)
def test_instance_create_needs_request_version_1(version: Any, message: str) -> None:
    body = {k: v for k, v in V1_CREATE.items() if k != "__version__"}
    if version is not None:
        body["__version__"] = version
    with pytest.raises(HttpError) as err:
        _op("POST", "/2/instances", body)
    assert err.value.code == 400
    assert message in str(err.value.message)


def test_renamed_parameter_given_twice_is_refused() -> None:
    with pytest.raises(HttpError) as err:
        _op("POST", "/2/instances", {**V1_CREATE, "os_type": "other"})
    assert err.value.code == 400
    assert "'os' was renamed to 'os_type'" in str(err.value.message)


def test_static_parameters_cannot_come_from_the_body() -> None:
    with pytest.raises(HttpError) as err:
        _op("PUT", "/2/instances/web1/shutdown", {"instance_name": "other"})
    assert err.value.code == 400
    assert "instance_name" in str(err.value.message)


def test_body_must_be_an_object() -> None:
    with pytest.raises(HttpError) as err:
        _op("PUT", "/2/instances/web1/modify", ["not", "a", "dict"])
    assert err.value.message == "Body contents: Type is 'list', but 'dict' is expected"


def test_forbidden_cluster_parameter_is_403() -> None:
    with pytest.raises(HttpError) as err:
        _op("PUT", "/2/modify", {"compression_tools": ["gzip"]})
    assert err.value.code == 403


def test_reboot_takes_type_and_flags_from_the_query() -> None:
    op = _op("POST", "/2/instances/web1/reboot", None, type=["soft"],
             ignore_secondaries=["1"], reason=["maintenance"])
    assert op["reboot_type"] == "soft"
    assert op["ignore_secondaries"] is True
    assert op["dry_run"] is False
    assert op["reason"][0][:2] == ["gnt:user", "maintenance"]
    assert decode_opcode(op).op_id == "OP_INSTANCE_REBOOT"
    assert _op("POST", "/2/instances/web1/reboot")["reboot_type"] == "hard"


def test_bad_flag_value_is_400() -> None:
    with pytest.raises(HttpError) as err:
        _op("PUT", "/2/instances/web1/startup", None, force=["yes"])
    assert err.value.message == "Invalid value for the 'force' parameter"


def test_modify_accepts_custom_aliases_and_depends() -> None:
    op = _op("PUT", "/2/instances/web1/modify",
             {"custom_beparams": {"maxmem": 256}, "depends": [[3, ["success"]]]})
    assert op["beparams"] == {"maxmem": 256}
    assert op["depends"] == [[3, ["success"]]]
    assert decode_opcode(op).op_id == "OP_INSTANCE_SET_PARAMS"


def test_tags_come_from_repeated_query_arguments_and_ignore_the_body() -> None:
    op = _op("PUT", "/2/nodes/node1/tags", ["ignored"], tag=["a", "b"])
    assert (op["kind"], op["name"], op["tags"]) == ("node", "node1", ["a", "b"])
    cluster = _op("DELETE", "/2/tags", None, tag=["x"])
    assert (cluster["OP_ID"], cluster["kind"], cluster["name"]) == ("OP_TAGS_DEL", "cluster",
                                                                    None)
    decode_opcode(op)


def test_group_and_disk_paths() -> None:
    add = _op("POST", "/2/groups", {"name": "g1", "alloc_policy": None})
    assert add["group_name"] == "g1"
    assert "name" not in add
    grow = _op("POST", "/2/instances/web1/disk/1/grow", {"amount": 1024})
    assert (grow["disk"], grow["amount"]) == (1, 1024)
    info = _op("GET", "/2/instances/web1/info", None, static=["1"])
    assert (info["instances"], info["static"]) == (["web1"], True)
    for op in (add, grow, info):
        decode_opcode(op)


def test_every_opcode_route_builds_a_decodable_opcode_from_an_empty_request() -> None:
    """Routes whose opcode needs nothing from the body decode as they are."""
    for route in ROUTES:
        if route.op is None or "{" in route.path or route.op.transform is not None:
            continue
        op = build_op(route.op, RapiRequest(route.method, route.path), route.resource)
        assert op["OP_ID"] == route.op.op_id


def test_instance_policy_reaches_cluster_and_group_modify() -> None:
    policy = {"vcpu-ratio": 2.0, "disk-templates": ["plain"]}
    cluster = _op("PUT", "/2/modify", {"ipolicy": policy})
    assert cluster["ipolicy"] == policy
    group = _op("PUT", "/2/groups/default/modify", {"ipolicy": policy})
    assert (group["group_name"], group["ipolicy"]) == ("default", policy)
    for op in (cluster, group):
        decode_opcode(op)
