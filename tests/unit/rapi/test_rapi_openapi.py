"""The OpenAPI document: generated from the route table, committed, and fresh."""

from __future__ import annotations

import json
from pathlib import Path

from corral.rapi.openapi import build_document, render
from corral.rapi.routes import ROUTES
from corral.rapi.routing import Access

COMMITTED = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"


def test_committed_document_is_fresh() -> None:
    """Regenerate with: python -m corral.rapi.openapi > docs/openapi.json"""
    assert COMMITTED.read_text() == render(build_document(ROUTES))


def test_every_route_is_documented_once() -> None:
    doc = json.loads(render(build_document(ROUTES)))
    documented = [(m.upper(), p) for p, item in doc["paths"].items()
                  for m in item if m != "parameters"]
    assert sorted(documented) == sorted((r.method, r.path) for r in ROUTES)
    ids = [op["operationId"] for item in doc["paths"].values()
           for key, op in item.items() if key != "parameters"]
    assert len(ids) == len(set(ids))


def test_rights_parameters_and_bodies_come_from_the_routes() -> None:
    doc = build_document(ROUTES)
    version = doc["paths"]["/version"]["get"]
    assert version["security"] == []
    reboot = doc["paths"]["/2/instances/{instance_name}/reboot"]
    assert reboot["parameters"][0]["name"] == "instance_name"
    post = reboot["post"]
    assert post["x-corral-access"] == Access.WRITE.value
    assert {p["name"] for p in post["parameters"]} >= {"type", "ignore_secondaries", "dry-run"}
    assert "instance_name" not in post["requestBody"]["content"]["application/json"]["schema"][
        "properties"]
    create = doc["paths"]["/2/instances"]["post"]["requestBody"]["content"]["application/json"]
    props = create["schema"]["properties"]
    assert {"name", "os", "__version__", "disks", "nics"} <= set(props)
    assert not {"instance_name", "os_type", "dry_run", "reason"} & set(props)
    assert set(create["schema"]["required"]) >= {"name", "__version__", "disks", "nics"}
