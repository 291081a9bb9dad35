"""The route table: Ganeti's 84 method+path pairs, rights, handlers, opcode field names."""

from __future__ import annotations

import inspect

import msgspec
import pytest

from corral.opcodes.codec import opcode_class
from corral.rapi.httperror import HttpError
from corral.rapi.routes import ROUTES, missing_opcodes, table
from corral.rapi.routing import Access, Route, RouteTable, compile_path

GANETI_ROUTES = [
    ("GET", "/", "any"),
    ("GET", "/2", "any"),
    ("GET", "/version", "any"),
    ("GET", "/2/info", "any"),
    ("PUT", "/2/redistribute-config", "write"),
    ("GET", "/2/features", "any"),
    ("GET", "/2/filters", "any"),
    ("POST", "/2/filters", "write"),
    ("GET", "/2/filters/{filter_uuid}", "any"),
    ("PUT", "/2/filters/{filter_uuid}", "write"),
    ("DELETE", "/2/filters/{filter_uuid}", "write"),
    ("PUT", "/2/modify", "write"),
    ("GET", "/2/groups", "any"),
    ("POST", "/2/groups", "write"),
    ("GET", "/2/groups/{group_name}", "any"),
    ("DELETE", "/2/groups/{group_name}", "write"),
    ("PUT", "/2/groups/{group_name}/modify", "write"),
    ("PUT", "/2/groups/{group_name}/rename", "write"),
    ("PUT", "/2/groups/{group_name}/assign-nodes", "write"),
    ("GET", "/2/groups/{group_name}/tags", "any"),
    ("PUT", "/2/groups/{group_name}/tags", "write"),
    ("DELETE", "/2/groups/{group_name}/tags", "write"),
    ("GET", "/2/networks", "any"),
    ("POST", "/2/networks", "write"),
    ("GET", "/2/networks/{network_name}", "any"),
    ("DELETE", "/2/networks/{network_name}", "write"),
    ("PUT", "/2/networks/{network_name}/modify", "write"),
    ("PUT", "/2/networks/{network_name}/connect", "write"),
    ("PUT", "/2/networks/{network_name}/disconnect", "write"),
    ("GET", "/2/networks/{network_name}/tags", "any"),
    ("PUT", "/2/networks/{network_name}/tags", "write"),
    ("DELETE", "/2/networks/{network_name}/tags", "write"),
    ("PUT", "/2/networks/{network_name}/rename", "write"),
    ("POST", "/2/instances-multi-alloc", "write"),
    ("GET", "/2/instances", "any"),
    ("POST", "/2/instances", "write"),
    ("GET", "/2/instances/{instance_name}", "any"),
    ("DELETE", "/2/instances/{instance_name}", "write"),
    ("GET", "/2/instances/{instance_name}/info", "any"),
    ("POST", "/2/instances/{instance_name}/reboot", "write"),
    ("PUT", "/2/instances/{instance_name}/shutdown", "write"),
    ("PUT", "/2/instances/{instance_name}/startup", "write"),
    ("POST", "/2/instances/{instance_name}/reinstall", "write"),
    ("POST", "/2/instances/{instance_name}/replace-disks", "write"),
    ("PUT", "/2/instances/{instance_name}/activate-disks", "write"),
    ("PUT", "/2/instances/{instance_name}/deactivate-disks", "write"),
    ("POST", "/2/instances/{instance_name}/recreate-disks", "write"),
    ("POST", "/2/instances/{instance_name}/disk/{disk_index}/grow", "write"),
    ("PUT", "/2/instances/{instance_name}/prepare-export", "write"),
    ("PUT", "/2/instances/{instance_name}/export", "write"),
    ("DELETE", "/2/instances/{instance_name}/export", "write"),
    ("PUT", "/2/instances/{instance_name}/migrate", "write"),
    ("PUT", "/2/instances/{instance_name}/failover", "write"),
    ("PUT", "/2/instances/{instance_name}/rename", "write"),
    ("PUT", "/2/instances/{instance_name}/modify", "write"),
    ("GET", "/2/instances/{instance_name}/console", "read-or-write"),
    ("GET", "/2/instances/{instance_name}/tags", "any"),
    ("PUT", "/2/instances/{instance_name}/tags", "write"),
    ("DELETE", "/2/instances/{instance_name}/tags", "write"),
    ("GET", "/2/jobs", "any"),
    ("GET", "/2/jobs/{job_id}", "any"),
    ("DELETE", "/2/jobs/{job_id}", "write"),
    ("GET", "/2/jobs/{job_id}/wait", "write"),
    ("GET", "/2/nodes", "any"),
    ("GET", "/2/nodes/{node_name}", "any"),
    ("POST", "/2/nodes/{node_name}/powercycle", "write"),
    ("POST", "/2/nodes/{node_name}/evacuate", "write"),
    ("POST", "/2/nodes/{node_name}/migrate", "write"),
    ("GET", "/2/nodes/{node_name}/role", "any"),
    ("PUT", "/2/nodes/{node_name}/role", "write"),
    ("POST", "/2/nodes/{node_name}/modify", "write"),
    ("GET", "/2/nodes/{node_name}/storage", "write"),
    ("PUT", "/2/nodes/{node_name}/storage/modify", "write"),
    ("PUT", "/2/nodes/{node_name}/storage/repair", "write"),
    ("GET", "/2/nodes/{node_name}/tags", "any"),
    ("PUT", "/2/nodes/{node_name}/tags", "write"),
    ("DELETE", "/2/nodes/{node_name}/tags", "write"),
    ("GET", "/2/query/{resource}", "read-or-write"),
    ("PUT", "/2/query/{resource}", "read-or-write"),
    ("GET", "/2/query/{resource}/fields", "any"),
    ("GET", "/2/os", "any"),
    ("GET", "/2/tags", "any"),
    ("PUT", "/2/tags", "write"),
    ("DELETE", "/2/tags", "write"),
]
"""Ganeti 3.0's RAPI: method, path and the right it needs (``man ganeti-rapi``)."""
TSV_ACCESS = {"any": {Access.ANY, Access.PUBLIC}, "read-or-write": {Access.READ},
              "write": {Access.WRITE}}
PUBLIC = {("GET", "/"), ("GET", "/2"), ("GET", "/version")}


def _reference() -> dict[tuple[str, str], str]:
    return {(method, path): access for method, path, access in GANETI_ROUTES}


def test_routes_are_exactly_ganetis_84_pairs() -> None:
    reference = _reference()
    mine = {(r.method, r.path) for r in ROUTES}
    assert len(reference) == 84
    assert sorted(set(reference) - mine) == []
    assert sorted(mine - set(reference)) == []
    assert len(ROUTES) == 84


def test_rights_match_ganeti() -> None:
    reference = _reference()
    for route in ROUTES:
        key = (route.method, route.path)
        assert route.access in TSV_ACCESS[reference[key]], key
        assert (route.access is Access.PUBLIC) == (key in PUBLIC), key


def test_every_route_that_submits_a_change_needs_the_write_right() -> None:
    for route in ROUTES:
        if route.method != "GET" and route.path != "/2/query/{resource}":
            assert route.access is Access.WRITE, (route.method, route.path)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_route_has_something_to_run(route: Route) -> None:
    assert route.summary
    if route.pending:
        return
    assert (route.op is None) != (route.handler is None)
    if route.handler is not None:
        assert inspect.iscoroutinefunction(route.handler)


def _fields(op_id: str) -> set[str]:
    cls = opcode_class(op_id)
    assert cls is not None
    return {f.name for f in msgspec.structs.fields(cls)}


@pytest.mark.parametrize("route", [r for r in ROUTES if r.op and not missing_opcodes(r)],
                         ids=lambda r: f"{r.method} {r.path}")
def test_static_and_renamed_fields_exist_in_the_opcode(route: Route) -> None:
    assert route.op is not None
    fields = _fields(route.op.op_id)
    assert set(route.op.static_fields) <= fields
    assert set(route.op.renames.values()) <= fields


def test_operation_ids_are_unique() -> None:
    names = [f"{r.method}_{r.resource}" for r in ROUTES]
    assert len(names) == len(set(names))


CORE = [("POST", "/2/instances"), ("DELETE", "/2/instances/{instance_name}"),
        ("PUT", "/2/instances/{instance_name}/startup"),
        ("PUT", "/2/instances/{instance_name}/shutdown"),
        ("POST", "/2/instances/{instance_name}/reboot"),
        ("POST", "/2/instances/{instance_name}/reinstall"),
        ("PUT", "/2/instances/{instance_name}/rename"),
        ("PUT", "/2/instances/{instance_name}/modify"),
        ("PUT", "/2/nodes/{node_name}/role"), ("POST", "/2/groups"), ("PUT", "/2/tags"),
        ("GET", "/2/os"), ("PUT", "/2/modify"), ("PUT", "/2/redistribute-config")]


def test_the_core_routes_have_their_opcodes() -> None:
    by_key = {(r.method, r.path): r for r in ROUTES}
    for key in CORE:
        route = by_key[key]
        assert route.pending is None, key
        assert missing_opcodes(route) == [], key


def test_filters_are_pending() -> None:
    pending = {(r.method, r.path) for r in ROUTES if r.pending}
    assert pending == {("POST", "/2/filters"), ("PUT", "/2/filters/{filter_uuid}"),
                       ("DELETE", "/2/filters/{filter_uuid}")}


def test_match_extracts_path_parameters() -> None:
    routes = table()
    route, params = routes.match("POST", "/2/instances/web1/disk/2/grow")
    assert (route.method, route.path) == ("POST",
                                          "/2/instances/{instance_name}/disk/{disk_index}/grow")
    assert params == {"instance_name": "web1", "disk_index": "2"}
    route, params = routes.match("GET", "/2/jobs/17/wait")
    assert params == {"job_id": "17"}


def test_unknown_path_is_404_and_unknown_method_405() -> None:
    routes = table()
    with pytest.raises(HttpError) as missing:
        routes.match("GET", "/2/nothing-here")
    assert missing.value.code == 404
    with pytest.raises(HttpError) as method:
        routes.match("PATCH", "/2/instances")
    assert method.value.code == 405
    assert method.value.headers["Allow"] == "GET, POST"


def test_job_and_disk_ids_must_be_numbers() -> None:
    with pytest.raises(HttpError):
        table().match("GET", "/2/jobs/abc")
    assert compile_path("/2/jobs/{job_id}").fullmatch("/2/jobs/12") is not None


def test_duplicate_routes_are_refused() -> None:
    route = ROUTES[0]
    with pytest.raises(ValueError, match="duplicate"):
        RouteTable([route, route])
