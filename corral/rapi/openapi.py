"""The OpenAPI 3.1 document of the remote API, generated from the route table.

Nothing here is written by hand per resource: paths, methods, path and query
parameters, the right each route needs, its request body (for opcode routes:
the opcode's own fields, renamed and without the server-set ones) and its answer
all come from :data:`corral.rapi.routes.ROUTES` and the opcode registry. The
committed ``docs/openapi.json`` is this document (a test checks it is fresh);
regenerate it with ``python -m corral.rapi.openapi > docs/openapi.json``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from corral.opcodes.codec import opcode_class
from corral.rapi.opinput import FromFlag, FromText, OpSpec, QuerySource
from corral.rapi.routes import ROUTES
from corral.rapi.routing import PARAM_PATTERN, Access, QueryDoc, Route

TITLE = "Corral remote API (Ganeti RAPI v2)"
REF = "#/components/schemas/{name}"
ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "message", "explain"],
    "properties": {
        "code": {"type": "integer", "description": "the HTTP status"},
        "message": {"type": "string", "description": "what went wrong"},
        "explain": {"type": "string", "description": "the status's standard explanation"},
    },
}
ERROR_TEXT = {400: "Invalid request", 401: "No valid credentials", 403: "Right missing",
              404: "No such object", 501: "Not implemented by Corral yet"}
SERVER_SET = frozenset({"OP_ID", "reason"})
"""Opcode fields never taken from a body."""
REASON_DOC = QueryDoc("reason", doc="a reason recorded with the job's opcodes")
_FLAG = {"type": "integer", "enum": [0, 1]}


def _param_doc(doc: QueryDoc) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if doc.kind == "flag":
        schema = dict(_FLAG)
    elif doc.kind == "list":
        schema = {"type": "array", "items": {"type": "string"}}
    param: dict[str, Any] = {"name": doc.name, "in": "query", "required": False,
                             "schema": schema}
    if doc.kind == "list":
        param.update(style="form", explode=True)
    if doc.doc:
        param["description"] = doc.doc
    return param


def _source_doc(source: QuerySource) -> QueryDoc:
    if isinstance(source, FromFlag):
        return QueryDoc(source.arg, "flag", source.doc)
    if isinstance(source, FromText):
        return QueryDoc(source.arg, "string", source.doc)
    return QueryDoc(source.arg, "list", source.doc)


def query_docs(route: Route) -> list[QueryDoc]:
    """The query arguments a route reads."""
    docs = [_source_doc(s) for s in route.op.query_sources] if route.op else []
    docs.extend(route.query)
    if route.submitted:
        docs.append(REASON_DOC)
    return docs


def opcode_schemas(routes: Iterable[Route]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(OP_ID → the opcode's JSON schema, shared component schemas it refers to)."""
    classes = {op_id: opcode_class(op_id) for r in routes if r.op for op_id in [r.op.op_id]}
    present = {op_id: cls for op_id, cls in sorted(classes.items()) if cls is not None}
    if not present:
        return {}, {}
    _, components = msgspec.json.schema_components(list(present.values()), ref_template=REF)
    names = {cls.__name__ for cls in present.values()}
    by_op = {op_id: components[cls.__name__] for op_id, cls in present.items()}
    return by_op, {k: v for k, v in components.items() if k not in names}


def body_schema(spec: OpSpec, opcode: Mapping[str, Any] | None,
                extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """The body an opcode route accepts: the opcode's fields minus the server-set ones."""
    if opcode is None:
        return {"type": "object", "description": f"parameters of {spec.op_id}"}
    hidden = SERVER_SET | set(spec.static_fields)
    to_body = {new: old for old, new in spec.renames.items()}
    props = {to_body.get(k, k): v for k, v in opcode["properties"].items() if k not in hidden}
    required = [to_body.get(k, k) for k in opcode.get("required", ()) if k not in hidden]
    schema: dict[str, Any] = {"type": "object", "description": opcode.get("description", ""),
                              "properties": props, "additionalProperties": False}
    props.update((extra or {}).get("properties", {}))
    required.extend((extra or {}).get("required", ()))
    if required:
        schema["required"] = sorted(set(required))
    return schema


def _responses(route: Route) -> dict[str, Any]:
    ok = {"description": "OK", "content": {"application/json": {"schema": dict(route.response)}}}
    codes = []
    if route.access is not Access.PUBLIC:
        codes += [400, 401]
    if route.access in (Access.READ, Access.WRITE):
        codes.append(403)
    if "{" in route.path:
        codes.append(404)
    if route.submitted or route.pending:
        codes.append(501)
    errors = {str(c): {"description": ERROR_TEXT[c],
                       "content": {"application/json": {"schema": ERROR_REF}}} for c in codes}
    return {"200": ok, **errors}


def operation(route: Route, opcodes: Mapping[str, Any]) -> dict[str, Any]:
    """One method of one path."""
    op: dict[str, Any] = {
        "operationId": f"{route.method.lower()}_{route.resource}",
        "summary": route.summary,
        "x-corral-access": route.access.value,
        "responses": _responses(route),
    }
    if route.submitted:
        op["x-ganeti-opcodes"] = list(route.submitted)
    params = [_param_doc(d) for d in query_docs(route)]
    if params:
        op["parameters"] = params
    body = route.body
    if route.op is not None and route.op.body:
        body = body_schema(route.op, opcodes.get(route.op.op_id), route.body)
    if body is not None:
        op["requestBody"] = {"content": {"application/json": {"schema": dict(body)}}}
    if route.access is Access.PUBLIC:
        op["security"] = []
    return op


def _path_params(path: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True,
             "schema": {"type": "integer" if name in ("job_id", "disk_index") else "string"}}
            for name in PARAM_PATTERN.findall(path)]


def build_document(routes: Iterable[Route]) -> dict[str, Any]:
    """The whole OpenAPI document for ``routes``."""
    routes = list(routes)
    opcodes, shared = opcode_schemas(routes)
    paths: dict[str, Any] = {}
    for route in routes:
        item = paths.setdefault(route.path, {})
        if "{" in route.path and "parameters" not in item:
            item["parameters"] = _path_params(route.path)
        item[route.method.lower()] = operation(route, opcodes)
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": "2",
                 "description": "Ganeti's remote API v2 as served by Corral's master."},
        "security": [{"basic": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
            "schemas": {"Error": ERROR_SCHEMA, **shared},
        },
    }


def render(document: Mapping[str, Any]) -> str:
    """The document as committed: sorted keys, one-space indents, final newline."""
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    sys.stdout.write(render(build_document(ROUTES)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
